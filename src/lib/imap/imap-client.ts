import { ImapFlow } from 'imapflow';
import type { ImapFlowOptions } from 'imapflow';
import type { ReceiveSettings } from '../connection-options';
import { classifyError, MailError } from '../mail-error';
import type { AccessTokenSource } from '../oauth/oauth-settings';
import { buildTrustOptions } from '../tls-trust';

export interface ImapTimeouts {
  connectMs: number;
  greetingMs: number;
  /** Silence on an open socket after which the connection counts as dead. */
  idleSocketMs: number;
}

// 20 s of silence on a busy connection is a dead connection (imapflow then probes with NOOP).
export const RUNTIME_TIMEOUTS: ImapTimeouts = { connectMs: 15000, greetingMs: 15000, idleSocketMs: 20000 };

function clientOptions(settings: ReceiveSettings, timeouts: ImapTimeouts, extra: Partial<ImapFlowOptions>): ImapFlowOptions {
  return {
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    // true = StartTLS is required: imapflow then refuses to log in over plain text when the
    // server does not offer it or the upgrade fails. false for 'none': the user chose plain text.
    doSTARTTLS: settings.security === 'starttls',
    tls: buildTrustOptions(settings.host, settings.certificate),
    // With tokens, connectWithToken() supplies the auth; a password is never sent then.
    auth: settings.user && !settings.tokens ? { user: settings.user, pass: settings.password } : undefined,
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: timeouts.connectMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.idleSocketMs,
    clientInfo: { name: 'mailwire-node-red-email' },
    ...extra,
  };
}

/** The token each OAuth2 session logged in with, so the end of the session can refuse it. */
const sessionTokens = new WeakMap<ImapFlow, string>();

/**
 * Connects a new client. imapflow clients cannot be reused once closed, and an `error` event
 * without a listener would take down the whole Node-RED process, so the listener goes on before
 * connect() and stays for the client's life.
 */
export async function connectImap(
  settings: ReceiveSettings,
  timeouts: ImapTimeouts,
  onError: (err: MailError) => void,
  extra: Partial<ImapFlowOptions> = {},
): Promise<ImapFlow> {
  if (settings.tokens) return connectWithToken(settings, settings.tokens, timeouts, onError, extra);
  return connectOnce(settings, timeouts, onError, extra);
}

/**
 * imapflow picks OAUTHBEARER when the server offers it, else XOAUTH2. A refused token is reported
 * to the source and one fresh token tried on a new connection (imapflow logs in only inside
 * connect()); a second refusal is the `auth` error, and that token is not reported, so one login
 * never costs more than one refresh.
 */
async function connectWithToken(
  settings: ReceiveSettings,
  tokens: AccessTokenSource,
  timeouts: ImapTimeouts,
  onError: (err: MailError) => void,
  extra: Partial<ImapFlowOptions>,
): Promise<ImapFlow> {
  for (let attempt = 1; ; attempt += 1) {
    const token = await tokens.accessToken();
    try {
      const client = await connectOnce(settings, timeouts, onError, { ...extra, auth: { user: settings.user, accessToken: token } });
      sessionTokens.set(client, token);
      return client;
    } catch (err) {
      // A fresh token refused too will not be helped by another refresh: one per login.
      if (!(err instanceof MailError) || err.code !== 'auth' || !refusedToken(err) || attempt === 2) throw err;
      tokens.refused(token);
    }
  }
}

/**
 * An `auth` failure that is the server refusing the token, not one a new token cannot fix.
 * `reason: no-oauth` is also what the dialog can name (as POP3 sets it too).
 */
function refusedToken(err: MailError): boolean {
  return err.details.reason !== 'no-oauth';
}

/**
 * Exchange Online ends a session whose token expired with `* BYE Session invalidated -
 * AccessTokenExpired`. Called when a session closed: marks its token refused when that was the
 * reason, so the session that replaces it logs in with a fresh one. True when it did.
 */
export function refuseExpiredSessionToken(client: ImapFlow, tokens: AccessTokenSource | undefined): boolean {
  const token = sessionTokens.get(client);
  if (!tokens || token === undefined || !/AccessTokenExpired/i.test(client.byeReason ?? '')) return false;
  tokens.refused(token);
  return true;
}

async function connectOnce(
  settings: ReceiveSettings,
  timeouts: ImapTimeouts,
  onError: (err: MailError) => void,
  extra: Partial<ImapFlowOptions>,
): Promise<ImapFlow> {
  const client = new ImapFlow(clientOptions(settings, timeouts, extra));
  client.on('error', (err: unknown) => onError(classifyError(err)));
  try {
    await client.connect();
  } catch (err) {
    client.close();
    throw settings.tokens ? classifyTokenLogin(err) : classifyError(err);
  }
  return client;
}

interface AuthErrorLike {
  serverResponseCode?: unknown;
  response?: unknown;
  message?: unknown;
}

/**
 * imapflow marks `NO [UNAVAILABLE]` as authenticationFailed like a refusal, but it means the
 * server could not check the token now (Dovecot: its link to the provider is down): a new token
 * would not help, and the user need not sign in again.
 */
function classifyTokenLogin(err: unknown): MailError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as AuthErrorLike;
  const code = typeof e.serverResponseCode === 'string' ? e.serverResponseCode.toUpperCase() : '';
  const text = typeof e.response === 'string' ? e.response : '';
  if (code === 'UNAVAILABLE' || /^\[UNAVAILABLE\]/i.test(text)) {
    return new MailError('oauth-unavailable', 'IMAP server could not check the OAuth2 token now (NO [UNAVAILABLE])', {}, { cause: err });
  }
  if (typeof e.message === 'string' && /Unsupported authentication mechanism/i.test(e.message)) {
    return new MailError('auth', 'the IMAP server does not offer OAuth2 sign-in (no AUTH=OAUTHBEARER or AUTH=XOAUTH2)', { reason: 'no-oauth' }, { cause: err });
  }
  return classifyError(err);
}
