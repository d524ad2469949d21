// Driving the private OAuth2 provider (scripts/oauth-server.mjs) from tests: tokens by every grant
// it offers, a user signing in headlessly over HTTP (its built-in login and consent pages, any
// login name = the mailbox user), refresh, revocation, and taking the provider away. Test
// processes trust its CA through NODE_EXTRA_CA_CERTS (scripts/test.mjs), so plain fetch works.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FaultProxy } from './fault-proxy';
import { serverInfo } from './servers';
import type { OAuthInfo } from './servers';
import { until } from './wait';

export type ClientName = 'app' | 'public' | 'short';

export function oauthInfo(): OAuthInfo {
  const info = serverInfo().oauth;
  if (!info) throw new Error('servers.json has no OAuth2 provider: restart the servers with scripts/mail-servers.mjs');
  return info;
}

/** Never includes a token in its message: only the provider's error code and description. */
export class OAuthError extends Error {
  constructor(readonly status: number, readonly error: string, readonly description: string | undefined) {
    super(`OAuth2 ${status} ${error}${description ? `: ${description}` : ''}`);
  }
}

export interface UserTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds, from `expires_in` counted when the answer arrived. */
  expiresAt: number;
}

export interface AppToken {
  accessToken: string;
  expiresAt: number;
}

/** Client authentication as each client is registered: client_secret_post, or none for the public client. */
function clientParams(client: ClientName): Record<string, string> {
  const { id, secret } = oauthInfo().clients[client];
  return secret ? { client_id: id, client_secret: secret } : { client_id: id };
}

/** A form POST to one of the provider's endpoints; an error answer becomes an OAuthError. */
export async function postForm(url: string, params: Record<string, string>): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  if (!res.ok) throw new OAuthError(res.status, String(body.error ?? 'unknown'), body.error_description as string | undefined);
  return body;
}

export async function tokenRequest(client: ClientName, params: Record<string, string>): Promise<Record<string, unknown>> {
  return postForm(oauthInfo().tokenUrl, { ...params, ...clientParams(client) });
}

function userTokens(body: Record<string, unknown>, received: number): UserTokens {
  if (typeof body.refresh_token !== 'string') throw new Error('the provider issued no refresh token');
  return { accessToken: String(body.access_token), refreshToken: body.refresh_token, expiresAt: received + Number(body.expires_in) * 1000 };
}

/** An app token (client credentials): no user in it; Dovecot lets it into any mailbox. */
export async function clientCredentialsToken(client: 'app' | 'short' = 'app', scope = oauthInfo().appScope): Promise<AppToken> {
  const received = Date.now();
  const body = await tokenRequest(client, { grant_type: 'client_credentials', scope });
  return { accessToken: String(body.access_token), expiresAt: received + Number(body.expires_in) * 1000 };
}

export async function refresh(refreshToken: string, client: ClientName = 'app'): Promise<UserTokens> {
  const received = Date.now();
  return userTokens(await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: refreshToken }), received);
}

export async function revoke(token: string, client: ClientName = 'app', hint?: 'access_token' | 'refresh_token'): Promise<void> {
  await postForm(oauthInfo().revokeUrl, { token, ...(hint ? { token_type_hint: hint } : {}), ...clientParams(client) });
}

/** The provider's introspection answer as Dovecot gets it. */
export async function introspect(token: string): Promise<Record<string, unknown>> {
  const { id, secret } = oauthInfo().clients.dovecot;
  return postForm(oauthInfo().introspectUrl, { token, client_id: id, client_secret: secret });
}

/** A redirect URI the provider accepts for the app and public clients, on a port nothing listens on. */
export function callbackUri(port = 9, adminRoot = ''): string {
  return `http://127.0.0.1:${port}${adminRoot}/mailwire/oauth/callback`;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * Signs `user` in by authorization code + PKCE without a browser: the login and consent pages are
 * driven over HTTP, the code is taken from the redirect to the callback and exchanged.
 */
export async function signIn(user: string, options: { client?: ClientName; scope?: string; redirectUri?: string } = {}): Promise<UserTokens> {
  const client = options.client ?? 'app';
  const redirectUri = options.redirectUri ?? callbackUri();
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(12).toString('base64url');
  const url = new URL(oauthInfo().authorizeUrl);
  url.search = new URLSearchParams({
    client_id: oauthInfo().clients[client].id,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: options.scope ?? 'openid offline_access',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  const callback = new URL(await completeAuthorization(url.href, user, redirectUri));
  if (callback.searchParams.get('state') !== state) throw new Error('the callback came back with another state');
  const error = callback.searchParams.get('error');
  if (error) throw new OAuthError(0, error, callback.searchParams.get('error_description') ?? undefined);
  const received = Date.now();
  return userTokens(await tokenRequest(client, {
    grant_type: 'authorization_code',
    code: callback.searchParams.get('code') ?? '',
    redirect_uri: redirectUri,
    code_verifier: verifier,
  }), received);
}

/**
 * Walks an authorization URL (built by a test or by the node under test) through the provider's
 * pages as `user` and returns the URL the browser would be sent to next, starting with
 * `callbackPrefix` (default: any loopback `/mailwire/oauth/callback`). It is not requested.
 */
export async function completeAuthorization(authorizeUrl: string, user: string, callbackPrefix?: string): Promise<string> {
  const isCallback = (u: string) => (callbackPrefix ? u.startsWith(callbackPrefix) : /^http:\/\/(127\.0\.0\.1|localhost):\d+\/(.*\/)?mailwire\/oauth\/callback\b/.test(u));
  const done = await new Browser(user).walk(authorizeUrl, isCallback);
  if (!done.callback) throw new Error(`the provider did not redirect to the callback; it showed: ${done.text.slice(0, 300)}`);
  return done.callback;
}

export interface DeviceStart {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string;
  expiresIn: number;
  interval: number;
}

/** Starts a device authorization (RFC 8628) as the node under test would. */
export async function startDevice(client: ClientName = 'app', scope = 'openid offline_access'): Promise<DeviceStart> {
  const body = await postForm(oauthInfo().deviceUrl, { scope, ...clientParams(client) });
  return {
    deviceCode: String(body.device_code),
    userCode: String(body.user_code),
    verificationUri: String(body.verification_uri),
    verificationUriComplete: String(body.verification_uri_complete),
    expiresIn: Number(body.expires_in),
    interval: Number(body.interval),
  };
}

/** The user enters `userCode` on the verification page, confirms, signs in as `user` and consents. */
export async function approveDevice(userCode: string, user: string): Promise<void> {
  const page = new URL(oauthInfo().deviceUrl);
  page.pathname = page.pathname.replace(/\/auth$/, '');
  const done = await new Browser(user, { user_code: userCode }).walk(page.href, () => false);
  if (!/Sign-in Success/i.test(done.text)) throw new Error(`the device sign-in did not succeed; the provider showed: ${done.text.slice(0, 300)}`);
}

/** The token request a device makes while it waits; `authorization_pending` comes back as an OAuthError. */
export async function deviceToken(deviceCode: string, client: ClientName = 'app'): Promise<UserTokens> {
  const received = Date.now();
  return userTokens(await tokenRequest(client, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode }), received);
}

/**
 * Enough of a browser for the provider's own pages: a cookie jar, redirects followed by hand and
 * stopped at the callback, and each page's first form submitted with the login name (and the
 * device user code) filled in.
 */
class Browser {
  private readonly cookies = new Map<string, string>();

  constructor(private readonly user: string, private readonly fields: Record<string, string> = {}) {}

  async walk(start: string, isCallback: (url: string) => boolean): Promise<{ callback?: string; text: string }> {
    let request: { url: string; form?: URLSearchParams } = { url: start };
    for (let step = 0; step < 20; step += 1) {
      const res = await fetch(request.url, {
        method: request.form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: {
          cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          ...(request.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body: request.form?.toString(),
      });
      this.keepCookies(res.headers.getSetCookie());
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        const next = new URL(location, request.url).href;
        await res.body?.cancel();
        if (isCallback(next)) return { callback: next, text: '' };
        request = { url: next };
        continue;
      }
      const text = await res.text();
      const form = firstForm(text);
      if (!form) return { text };
      for (const name of form.fields.keys()) {
        if (name === 'login') form.fields.set(name, this.user);
        else if (name === 'password') form.fields.set(name, 'any password');
        else if (name in this.fields) form.fields.set(name, this.fields[name]);
      }
      request = { url: new URL(form.action, request.url).href, form: new URLSearchParams([...form.fields]) };
    }
    throw new Error('the provider kept the browser going for 20 pages');
  }

  private keepCookies(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*expires=.*1970/i.test(a) || /^\s*max-age=0\b/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

/** The first <form> of a page: its action and its inputs' names and values, in order. */
function firstForm(html: string): { action: string; fields: Map<string, string> } | undefined {
  const open = /<form\b[^>]*>/i.exec(html);
  if (!open) return undefined;
  const action = /\baction="([^"]*)"/i.exec(open[0])?.[1] ?? '';
  const end = html.indexOf('</form>', open.index);
  const body = html.slice(open.index, end === -1 ? undefined : end);
  const fields = new Map<string, string>();
  for (const input of body.match(/<input\b[^>]*>/gi) ?? []) {
    const name = /\bname="([^"]*)"/i.exec(input)?.[1];
    if (name) fields.set(name, decodeEntities(/\bvalue="([^"]*)"/i.exec(input)?.[1] ?? ''));
  }
  return { action: decodeEntities(action), fields };
}

function decodeEntities(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] ?? '');
}

/**
 * A fault proxy in front of the provider's HTTPS port, so a test can take the provider away from
 * the node under test (proxy.stopListening(), refuse, reset...) and bring it back, while the shared
 * provider keeps running for everyone else. TLS passes through untouched; the URLs point at the
 * proxy by the name the certificate carries. What the provider returns still names its own port
 * (discovery document, verification_uri), so give the node the proxy's URLs directly.
 */
export async function providerProxy(): Promise<{ proxy: FaultProxy; issuer: string; authorizeUrl: string; tokenUrl: string; deviceUrl: string; revokeUrl: string }> {
  const info = oauthInfo();
  const proxy = await FaultProxy.start(info.port);
  const via = (url: string) => {
    const u = new URL(url);
    u.port = String(proxy.port);
    return u.href;
  };
  return {
    proxy,
    issuer: via(info.issuer).replace(/\/$/, ''),
    authorizeUrl: via(info.authorizeUrl),
    tokenUrl: via(info.tokenUrl),
    deviceUrl: via(info.deviceUrl),
    revokeUrl: via(info.revokeUrl),
  };
}

/**
 * The provider's log so far, one entry a line. It names events and error codes, never a token:
 * every token request it refuses is a `grant.error` line (`InvalidGrant invalid_grant` for a
 * revoked or spent refresh token), which lets a test count refused requests.
 */
export function providerLog(): string[] {
  return fs.readFileSync(path.join(serverInfo().stateDir, 'oauth', 'oauth.log'), 'utf8').split('\n').filter((l) => l !== '');
}

/** The running provider's pid, when the pid file still names it. */
function providerPid(): number {
  const pid = Number(fs.readFileSync(path.join(serverInfo().stateDir, 'oauth', 'oauth.pid'), 'utf8'));
  if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('oauth-server.mjs')) throw new Error('the OAuth2 provider is not running');
  return pid;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Makes the shared provider itself unreachable (connections refused, open ones closed) for
 * clients that cannot be pointed at a proxy, such as Dovecot's introspection. Its tokens survive.
 * Always pair with providerReachable() in a finally.
 */
export async function providerUnreachable(): Promise<void> {
  process.kill(providerPid(), 'SIGUSR1');
  await until(async () => !(await portOpen(oauthInfo().port)), 10000, 'the OAuth2 provider to stop listening', 50);
}

export async function providerReachable(): Promise<void> {
  process.kill(providerPid(), 'SIGUSR2');
  await until(() => portOpen(oauthInfo().port), 10000, 'the OAuth2 provider to listen again', 50);
}
