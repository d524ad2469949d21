/**
 * The SASL messages that carry an OAuth2 bearer token: OAUTHBEARER (RFC 7628) and Google's older
 * XOAUTH2, which Microsoft 365 still requires. Both clients that build the exchange themselves
 * (our POP3 client) use these; imapflow and nodemailer build their own.
 */
import { MailError } from '../mail-error';
import type { BearerMechanism } from './oauth-settings';

/** What a server says in its error challenge (RFC 7628 3.2.2); Google's XOAUTH2 uses the same JSON. */
export interface ErrorChallenge {
  /** `invalid_token`, `insufficient_scope`, or an HTTP status such as `401` (XOAUTH2). */
  status: string;
  scope?: string;
  openidConfiguration?: string;
}

/** %x01 separates the key/value pairs of both formats, so a control character would forge a field. */
const CONTROL = /[\x00-\x1f\x7f]/;

function checkValue(value: string, field: 'user' | 'token' | 'host'): void {
  // The message names the field only: the value may be a token.
  if (CONTROL.test(value)) throw new MailError('invalid-config', `the OAuth2 ${field} contains a control character`, { field });
}

/** Base64 of `user=<user>^Aauth=Bearer <token>^A^A`, ready for the AUTH line or a continuation. */
export function xoauth2InitialResponse(user: string, token: string): string {
  checkValue(user, 'user');
  checkValue(token, 'token');
  return Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`, 'utf8').toString('base64');
}

/**
 * Base64 of the RFC 7628 client response: a GS2 header naming the user as authzid, then host,
 * port and the bearer token. Host and port are the ones really connected to, since a server may
 * check them against where it listens.
 */
export function oauthBearerInitialResponse(user: string, token: string, host: string, port: number): string {
  checkValue(user, 'user');
  checkValue(token, 'token');
  checkValue(host, 'host');
  // RFC 5801 saslname: ',' and '=' would end the GS2 header early.
  const saslName = user.replace(/=/g, '=3D').replace(/,/g, '=2C');
  const text = `n,a=${saslName},\x01host=${host}\x01port=${port}\x01auth=Bearer ${token}\x01\x01`;
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * What the client sends after an error challenge so the server can finish with its failure
 * reply: XOAUTH2 wants an empty line, OAUTHBEARER a single %x01 (RFC 7628 3.2.3), in base64.
 */
export function errorChallengeReply(mechanism: BearerMechanism): string {
  return mechanism === 'OAUTHBEARER' ? 'AQ==' : '';
}

/** The JSON of an error challenge; null when the challenge is not one (empty, not base64 JSON, no status). */
export function parseErrorChallenge(base64: string): ErrorChallenge | null {
  const text = base64.trim();
  if (text === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const fields = parsed as Record<string, unknown>;
  if (typeof fields.status !== 'string' && typeof fields.status !== 'number') return null;
  const challenge: ErrorChallenge = { status: String(fields.status) };
  if (typeof fields.scope === 'string') challenge.scope = fields.scope;
  if (typeof fields['openid-configuration'] === 'string') challenge.openidConfiguration = fields['openid-configuration'];
  return challenge;
}
