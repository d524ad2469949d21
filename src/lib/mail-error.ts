/**
 * Every failure the core reports is one of these codes; they are the Validate reply codes of the
 * SPEC plus a few that only happen while polling. Messages for them live in the locales, so the
 * core never builds user-facing text itself.
 */
export type FailureCode =
  | 'dns'
  | 'refused'
  | 'timeout'
  | 'tls-untrusted'
  | 'tls-hostname'
  | 'tls-mode'
  | 'starttls-unavailable'
  | 'auth'
  | 'folder'
  | 'protocol'
  | 'invalid-config'
  | 'in-use'
  | 'closed'
  | 'oauth-signin-required'
  | 'oauth-client'
  | 'oauth-unavailable';

/**
 * Failures that say "not now" rather than "wrong": another client holds the mailbox, or the OAuth2
 * provider (or the mail server's link to it) is down. They are retried like the others but shown
 * as a passing state, not reported as errors straight away.
 */
export function isTemporary(code: FailureCode): boolean {
  return code === 'in-use' || code === 'oauth-unavailable';
}

/** Values safe to show a user (never a password, never raw server text). */
export type FailureDetails = Record<string, string>;

export class MailError extends Error {
  readonly code: FailureCode;
  readonly details: FailureDetails;

  constructor(code: FailureCode, message: string, details: FailureDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MailError';
    this.code = code;
    this.details = details;
  }
}

const TLS_UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
]);

interface ErrorLike {
  code?: unknown;
  /** nodemailer replaces `code` with its own (ESOCKET) and keeps the socket's here. */
  originalCode?: unknown;
  message?: unknown;
  reason?: unknown;
  authenticationFailed?: unknown;
  cause?: unknown;
}

function asErrorLike(err: unknown): ErrorLike {
  return typeof err === 'object' && err !== null ? (err as ErrorLike) : {};
}

/**
 * Maps whatever a socket, TLS, imapflow or our POP3 client threw onto a failure code. Errors are
 * walked through `cause` because libraries wrap the socket error they saw.
 */
export function classifyError(err: unknown): MailError {
  if (err instanceof MailError) return err;
  for (let current: unknown = err, depth = 0; current && depth < 5; depth += 1) {
    const code = classifyOne(asErrorLike(current));
    if (code) return new MailError(code, describe(err), {}, { cause: err });
    current = asErrorLike(current).cause;
  }
  return new MailError('protocol', describe(err), {}, { cause: err });
}

function classifyOne(e: ErrorLike): FailureCode | null {
  const code = typeof e.originalCode === 'string' ? e.originalCode : typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (e.authenticationFailed === true) return 'auth';
  if (code === 'ENOTFOUND' || code === 'EDNS' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' || code === 'EAI_NODATA') return 'dns';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT' || code === 'ETIMEOUT' || code === 'ConnectionTimeout' || code === 'GreetingTimeout' || code === 'SocketTimeout' || code === 'CONNECT_TIMEOUT' || code === 'UPGRADE_TIMEOUT') return 'timeout';
  if (TLS_UNTRUSTED.has(code)) return 'tls-untrusted';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'tls-hostname';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || /wrong version number|packet length too long|unknown protocol|http request/i.test(message)) return 'tls-mode';
  if (code === 'STARTTLS_UNAVAILABLE' || code === 'ETLS' || (/STARTTLS/i.test(message) && /not|fail|refus|required/i.test(message))) return 'starttls-unavailable';
  if (code === 'AUTHENTICATIONFAILED' || code === 'EAUTH') return 'auth';
  if (code === 'NONEXISTENT' || code === 'TRYCREATE') return 'folder';
  return null;
}

/** A short technical description for logs; never shown as the user-facing message. */
function describe(err: unknown): string {
  const e = asErrorLike(err);
  const code = typeof e.code === 'string' ? `${e.code}: ` : '';
  return `${code}${typeof e.message === 'string' ? e.message : String(err)}`;
}
