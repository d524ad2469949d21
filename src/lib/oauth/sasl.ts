import type { BearerMechanism } from './oauth-settings';

/*
 * The client side of the two SASL mechanisms that carry an OAuth2 bearer token: XOAUTH2 (Google's,
 * also Microsoft's) and OAUTHBEARER (RFC 7628). Everything here is base64 text ready to send.
 */

const SEPARATOR = '\x01';

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** `user=<user>^Aauth=Bearer <token>^A^A`, base64. */
export function xoauth2InitialResponse(user: string, token: string): string {
  return base64(`user=${user}${SEPARATOR}auth=Bearer ${token}${SEPARATOR}${SEPARATOR}`);
}

/** RFC 5801 saslname: `,` and `=` would end the GS2 header's authzid early, so they are escaped. */
function saslName(user: string): string {
  return user.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

/** RFC 7628 3.1: GS2 header `n,a=<user>,` then host, port and the bearer token as key/value pairs. */
export function oauthBearerInitialResponse(user: string, token: string, host: string, port: number): string {
  const header = `n,a=${saslName(user)},`;
  return base64(`${header}${SEPARATOR}host=${host}${SEPARATOR}port=${port}${SEPARATOR}auth=Bearer ${token}${SEPARATOR}${SEPARATOR}`);
}

/**
 * What the client sends after the server's error challenge so the server can end the exchange
 * with its failure reply: XOAUTH2 takes an empty response, OAUTHBEARER a single %x01 (RFC 7628 3.2.3).
 */
export function errorChallengeReply(mechanism: BearerMechanism): string {
  return mechanism === 'OAUTHBEARER' ? base64(SEPARATOR) : '';
}

/** The server's JSON error challenge (RFC 7628 3.2.2), as far as it could be read. */
export interface ErrorChallenge {
  /** e.g. `invalid_token`, `insufficient_scope`; for XOAUTH2 an HTTP-like code such as `401`. */
  status?: string;
  scope?: string;
  schemes?: string;
}

/** Reads a base64 JSON error challenge; never throws, and answers undefined when there is nothing to read. */
export function parseErrorChallenge(challenge: string): ErrorChallenge | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(challenge.trim(), 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const fields = parsed as Record<string, unknown>;
  const result: ErrorChallenge = {};
  for (const name of ['status', 'scope', 'schemes'] as const) {
    const value = fields[name];
    if (typeof value === 'string' || typeof value === 'number') result[name] = String(value);
  }
  return result;
}
