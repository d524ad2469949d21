import net from 'node:net';
import tls from 'node:tls';
import type { Security } from './connection-options';
import { hostIsAddress } from './connection-options';
import { summarizeCertificate, toPem } from './tls-trust';
import type { CertificateSummary } from './tls-trust';

export type ProbeProtocol = 'imap' | 'pop3' | 'smtp';

export interface PresentedCertificate extends CertificateSummary {
  pem: string;
}

/** The command that asks for the TLS upgrade, and how the server says yes. */
const UPGRADE: Record<ProbeProtocol, { command: string; accepted: RegExp }> = {
  imap: { command: 'A1 STARTTLS\r\n', accepted: /^A1 OK/m },
  pop3: { command: 'STLS\r\n', accepted: /^\+OK/m },
  smtp: { command: 'EHLO mailwire.invalid\r\nSTARTTLS\r\n', accepted: /^220 /m },
};

/**
 * Reads the certificate a server presents so Validate can show its subject and fingerprint and
 * offer to pin it. This is the one handshake that does not verify: it exists to look at a
 * certificate that failed verification. It sends no credential and no application data, and
 * closes as soon as the certificate is in hand; nothing ever logs in over it.
 */
export function probeCertificate(host: string, port: number, security: Security, protocol: ProbeProtocol, timeoutMs: number): Promise<PresentedCertificate | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const sockets: net.Socket[] = [];
    const finish = (value: PresentedCertificate | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Only the outermost socket: destroying a plain socket under a live TLS socket crashes
      // Node 20 (SIGSEGV, seen here); the TLS socket takes its transport down with it.
      sockets[sockets.length - 1]?.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const handshake = (socket?: net.Socket): void => {
      const secure = tls.connect({
        host,
        port,
        socket,
        servername: hostIsAddress(host) ? undefined : host,
        rejectUnauthorized: false, // look only: see the function comment
      });
      sockets.push(secure);
      secure.once('secureConnect', () => {
        const cert = secure.getPeerCertificate(false);
        finish(cert && cert.raw ? { ...summarizeCertificate(cert), pem: toPem(cert.raw) } : undefined);
      });
      secure.once('error', () => finish(undefined));
    };
    if (security === 'tls') {
      handshake();
      return;
    }
    const plain = net.connect(port, host);
    sockets.push(plain);
    plain.once('error', () => finish(undefined));
    let text = '';
    let asked = false;
    plain.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!asked && /\r?\n$/.test(text)) {
        asked = true;
        text = '';
        plain.write(UPGRADE[protocol].command);
        return;
      }
      if (asked && UPGRADE[protocol].accepted.test(text)) {
        plain.removeAllListeners('data');
        handshake(plain);
      }
    });
  });
}

/** True when the port answers a TLS handshake: used to explain a plain connection's silence. */
export async function speaksTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const cert = await probeCertificate(host, port, 'tls', 'imap', timeoutMs);
  return cert !== undefined;
}
