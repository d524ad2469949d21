import { X509Certificate, createHash } from 'node:crypto';
import tls from 'node:tls';
import { hostIsAddress } from './connection-options';
import { MailError } from './mail-error';

/** The subset of node:tls options we ever set; certificate checking is never turned off. */
export interface TrustOptions {
  /** Always true, spelled out so NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment cannot turn checking off. */
  rejectUnauthorized: true;
  servername?: string;
  ca?: string[];
  minVersion: tls.SecureVersion;
  checkServerIdentity: (host: string, cert: tls.PeerCertificate) => Error | undefined;
}

export interface CertificateSummary {
  subject: string;
  issuer: string;
  fingerprint256: string;
  validTo: string;
}

/** Splits pasted text into PEM certificate blocks; anything around them (comments, blank lines) is ignored. */
export function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function derFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * TLS options for one server. A pasted certificate becomes the only trusted root for this
 * connection (the system store is not consulted). A host given as an IP address usually does not
 * appear in a private server's certificate; it is accepted then only when the server presents
 * exactly one of the pasted certificates, never merely one they signed.
 */
export function buildTrustOptions(host: string, certificate: string): TrustOptions {
  const pinned = splitPem(certificate);
  if (certificate.trim() && pinned.length === 0) {
    throw new MailError('invalid-config', 'certificate is not PEM', { field: 'certificate' });
  }
  let pinnedFingerprints: Set<string>;
  try {
    pinnedFingerprints = new Set(pinned.map(derFingerprint));
  } catch (err) {
    throw new MailError('invalid-config', 'certificate does not parse', { field: 'certificate' }, { cause: err });
  }
  const bareHost = host.replace(/^\[|\]$/g, '');
  const isAddress = hostIsAddress(bareHost);
  return {
    rejectUnauthorized: true,
    // SNI must not carry an IP address (RFC 6066).
    servername: isAddress ? undefined : bareHost,
    ca: pinned.length > 0 ? pinned : undefined,
    minVersion: 'TLSv1.2',
    checkServerIdentity(checkedHost: string, cert: tls.PeerCertificate): Error | undefined {
      const mismatch = tls.checkServerIdentity(checkedHost, cert);
      if (!mismatch) return undefined;
      if (isAddress && cert.fingerprint256 && pinnedFingerprints.has(cert.fingerprint256)) return undefined;
      return mismatch;
    },
  };
}

export function summarizeCertificate(cert: { subject?: unknown; issuer?: unknown; fingerprint256?: string; valid_to?: string; raw?: Buffer }): CertificateSummary {
  const name = (value: unknown): string => {
    if (!value || typeof value !== 'object') return '';
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
      .join(', ');
  };
  const fingerprint = cert.fingerprint256 ?? (cert.raw ? createHash('sha256').update(cert.raw).digest('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:') : '');
  return { subject: name(cert.subject), issuer: name(cert.issuer), fingerprint256: fingerprint, validTo: cert.valid_to ?? '' };
}

/** The pasted certificate as the server presented it, in PEM, so the editor can offer to paste it. */
export function toPem(raw: Buffer): string {
  const body = raw.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}
