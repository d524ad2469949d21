import type { CustomFetch } from 'openid-client';
import { MailError } from '../mail-error';
import { loadOpenIdClient, type OpenIdClient } from './openid-client-loader';
import type { AuthorizationRequest, DeviceAuthorization, OAuthSettings, TokenSet } from './oauth-settings';
import { isAllowedEndpoint } from './presets';
import { classifyTokenError, oauthErrorCode } from './token-error';

/*
 * The token side of OAuth2 (RFC 6749, 7636, 8628) through openid-client, used as a plain OAuth2
 * client: the providers are configured by their endpoints, not discovered, and no OpenID ID token
 * is required or relied upon.
 */

/** Seconds one request to the provider may take before it counts as unreachable. */
export const REQUEST_TIMEOUT_SECONDS = 15;
/** Assumed when a token answer has no `expires_in`; a server ending the token sooner is handled by AccessTokenSource.refused(). */
const DEFAULT_LIFETIME_SECONDS = 3600;
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 3.5: `slow_down` adds five seconds to the polling interval for good. */
const SLOW_DOWN_SECONDS = 5;

/** The two grants a running connection needs; TokenProvider takes them injected so unit tests can script them. */
export interface TokenGrants {
  refresh(settings: OAuthSettings, refreshToken: string): Promise<TokenSet>;
  clientCredentials(settings: OAuthSettings): Promise<TokenSet>;
}

/** Waits `ms`, rejecting when `signal` aborts; replaceable so tests need not sleep through polling intervals. */
export type Wait = (ms: number, signal?: AbortSignal) => Promise<void>;

interface TokenAnswer {
  access_token: string;
  expires_in?: number;
  refresh_token?: string;
}

/** What the id_token of the last answer named, read before the library sees the answer. */
interface AnswerNotes {
  account?: string;
}

/** The first of `email`, `preferred_username`, `upn` in a JWT's payload; undefined for anything else. */
function accountInJwt(jwt: unknown): string | undefined {
  if (typeof jwt !== 'string') return undefined;
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>;
    for (const name of ['email', 'preferred_username', 'upn']) {
      const value = claims[name];
      if (typeof value === 'string' && value && value.length <= 320) return value;
    }
  } catch {
    // Not a JWT after all: the account stays unknown.
  }
  return undefined;
}

/*
 * Takes the id_token out of a token answer before openid-client validates it. We only want the
 * account name from it, as a label for the dialog; validating it needs an issuer we do not know
 * for Microsoft's multi-tenant endpoints (`common`) nor for a custom provider configured by its
 * URLs, and a mismatch would make the library throw the whole answer, access token included, away.
 */
function fetchKeepingAccount(notes: AnswerNotes, tokenUrl: string): CustomFetch {
  const tokenHref = new URL(tokenUrl).href;
  return async (url, options) => {
    // The library's body types are the ones fetch takes; its declaration only spells them differently.
    const response = await fetch(url, options as RequestInit);
    if (new URL(url).href !== tokenHref || response.status !== 200) return response;
    const body = await response.text();
    let answer: unknown;
    try {
      answer = JSON.parse(body);
    } catch {
      answer = undefined;
    }
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    headers.delete('content-encoding');
    if (typeof answer !== 'object' || answer === null || !('id_token' in answer)) {
      return new Response(body, { status: response.status, statusText: response.statusText, headers });
    }
    const { id_token: idToken, ...rest } = answer as Record<string, unknown>;
    notes.account = accountInJwt(idToken);
    return new Response(JSON.stringify(rest), { status: response.status, statusText: response.statusText, headers });
  };
}

/*
 * The issuer only matters to the library for the `iss` parameter of an authorization callback
 * (RFC 9207): with no id_token kept, nothing else is compared with it. When a callback names an
 * issuer we take it as given: a connection talks to one provider only, so the mix-up between
 * providers that check defends against cannot happen, while Microsoft's tenant-specific issuers
 * (under `common`) and a custom provider's issuer (not typed in) could not be matched anyway.
 */
function issuerOf(settings: OAuthSettings, callbackIssuer?: string): string {
  if (callbackIssuer) return callbackIssuer;
  if (settings.provider === 'google') return 'https://accounts.google.com';
  if (settings.provider === 'microsoft') return `https://login.microsoftonline.com/${settings.tenant}/v2.0`;
  return new URL(settings.tokenUrl).origin;
}

function checkEndpoint(url: string, name: string): void {
  if (!isAllowedEndpoint(url)) throw new MailError('invalid-config', `${name} must be https (http only on a loopback address)`);
}

interface Configured {
  lib: OpenIdClient;
  config: InstanceType<OpenIdClient['Configuration']>;
  notes: AnswerNotes;
}

async function configure(settings: OAuthSettings, callbackIssuer?: string): Promise<Configured> {
  checkEndpoint(settings.tokenUrl, 'token URL');
  if (!settings.clientId) throw new MailError('invalid-config', 'client ID missing');
  const lib = await loadOpenIdClient();
  const notes: AnswerNotes = {};
  const server = {
    issuer: issuerOf(settings, callbackIssuer),
    token_endpoint: settings.tokenUrl,
    ...(settings.authorizeUrl ? { authorization_endpoint: settings.authorizeUrl } : {}),
    ...(settings.deviceUrl ? { device_authorization_endpoint: settings.deviceUrl } : {}),
  };
  // client_secret_post is what Google's and Microsoft's documentation show; a public client sends none.
  const auth = settings.clientSecret ? lib.ClientSecretPost(settings.clientSecret) : lib.None();
  let config: Configured['config'];
  try {
    config = new lib.Configuration(server, settings.clientId, undefined, auth);
  } catch (err) {
    throw classifyTokenError(err);
  }
  config.timeout = REQUEST_TIMEOUT_SECONDS;
  config[lib.customFetch] = fetchKeepingAccount(notes, settings.tokenUrl);
  // Only reached for loopback addresses: isAllowedEndpoint refused plain http anywhere else.
  if ([settings.tokenUrl, settings.deviceUrl].some((url) => url.startsWith('http:'))) lib.allowInsecureRequests(config);
  return { lib, config, notes };
}

function toTokenSet(answer: TokenAnswer, notes: AnswerNotes): TokenSet {
  const lifetime = typeof answer.expires_in === 'number' && answer.expires_in >= 0 ? answer.expires_in : DEFAULT_LIFETIME_SECONDS;
  const account = notes.account ?? accountInJwt(answer.access_token);
  return {
    accessToken: answer.access_token,
    ...(answer.refresh_token ? { refreshToken: answer.refresh_token } : {}),
    expiresAt: Date.now() + lifetime * 1000,
    ...(account ? { account } : {}),
  };
}

async function grant<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw classifyTokenError(err);
  }
}

/** A new access token (and, when the provider rotates them, a new refresh token). */
export async function refresh(settings: OAuthSettings, refreshToken: string): Promise<TokenSet> {
  const { lib, config, notes } = await configure(settings);
  // RFC 6749 section 6: without `scope` the provider grants what was granted at sign-in, while a
  // scope the grant does not hold word for word fails the refresh with invalid_scope (seen with
  // oidc-provider when `offline_access` was asked for but not granted). Microsoft's documentation
  // lists `scope` as required on a refresh, so it alone gets one.
  const scope = settings.provider === 'microsoft' && settings.scope ? { scope: settings.scope } : undefined;
  return grant(async () => toTokenSet(await lib.refreshTokenGrant(config, refreshToken, scope), notes));
}

/** An app-only access token (RFC 6749 4.4); no refresh token is involved. */
export async function clientCredentials(settings: OAuthSettings): Promise<TokenSet> {
  if (!settings.clientSecret) throw new MailError('invalid-config', 'client credentials need a client secret');
  const { lib, config, notes } = await configure(settings);
  return grant(async () => toTokenSet(await lib.clientCredentialsGrant(config, settings.scope ? { scope: settings.scope } : {}), notes));
}

export const tokenGrants: TokenGrants = { refresh, clientCredentials };

/**
 * The provider's sign-in page address with PKCE (S256) and a random state. Google only returns a
 * refresh token with `access_type=offline`, and on a repeated sign-in only with `prompt=consent`.
 */
export async function startAuthorization(settings: OAuthSettings, redirectUri: string): Promise<AuthorizationRequest> {
  checkEndpoint(settings.authorizeUrl, 'authorization URL');
  const { lib, config } = await configure(settings);
  const codeVerifier = lib.randomPKCECodeVerifier();
  const state = lib.randomState();
  const parameters: Record<string, string> = {
    redirect_uri: redirectUri,
    code_challenge: await lib.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
  };
  if (settings.scope) parameters.scope = settings.scope;
  if (settings.provider === 'google') {
    parameters.access_type = 'offline';
    parameters.prompt = 'consent';
  }
  return { url: lib.buildAuthorizationUrl(config, parameters).href, state, codeVerifier, redirectUri };
}

/**
 * Trades the code of the provider's callback for tokens. `callbackUrl` is the request the
 * provider's redirect produced; only its query counts, so a proxy or a different admin root in
 * front of Node-RED cannot change the redirect URI sent back to the provider.
 */
export async function exchangeCode(settings: OAuthSettings, request: AuthorizationRequest, callbackUrl: URL): Promise<TokenSet> {
  const parameters = callbackUrl.searchParams;
  // Checked before anything else, and before any request: a callback that does not belong to the
  // sign-in we started is someone else's (RFC 6749 10.12).
  if (parameters.get('state') !== request.state) {
    throw new MailError('oauth-signin-required', 'the sign-in answer does not belong to this sign-in (state mismatch)');
  }
  const { lib, config, notes } = await configure(settings, parameters.get('iss') ?? undefined);
  const answered = new URL(request.redirectUri);
  answered.search = parameters.toString();
  answered.hash = '';
  return grant(async () =>
    toTokenSet(
      await lib.authorizationCodeGrant(config, answered, {
        pkceCodeVerifier: request.codeVerifier,
        expectedState: request.state,
        idTokenExpected: false,
      }),
      notes,
    ),
  );
}

/** Starts a device authorization (RFC 8628): the code and address the dialog shows. */
export async function startDeviceAuthorization(settings: OAuthSettings): Promise<DeviceAuthorization> {
  checkEndpoint(settings.deviceUrl, 'device authorization URL');
  const { lib, config } = await configure(settings);
  return grant(async () => {
    const answer = await lib.initiateDeviceAuthorization(config, settings.scope ? { scope: settings.scope } : {});
    return {
      userCode: answer.user_code,
      verificationUri: answer.verification_uri,
      ...(answer.verification_uri_complete ? { verificationUriComplete: answer.verification_uri_complete } : {}),
      expiresAt: Date.now() + answer.expires_in * 1000,
      interval: typeof answer.interval === 'number' && answer.interval > 0 ? answer.interval : 5,
      deviceCode: answer.device_code,
    };
  });
}

const sleep: Wait = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Polls the token endpoint until the user has approved the device code, waiting `device.interval`
 * seconds before each poll and raising it on `slow_down` (the raise is kept in `device`). A code
 * that expired or was declined means a new sign-in. Aborting `signal` ends the polling with `closed`.
 */
export async function pollDeviceAuthorization(
  settings: OAuthSettings,
  device: DeviceAuthorization,
  signal?: AbortSignal,
  wait: Wait = sleep,
): Promise<TokenSet> {
  const { lib, config, notes } = await configure(settings);
  for (;;) {
    try {
      await wait(device.interval * 1000, signal);
    } catch {
      throw new MailError('closed', 'device sign-in cancelled');
    }
    if (Date.now() >= device.expiresAt) throw new MailError('oauth-signin-required', 'the device code expired before it was approved');
    try {
      return toTokenSet(await lib.genericGrantRequest(config, DEVICE_CODE_GRANT, { device_code: device.deviceCode }), notes);
    } catch (err) {
      const error = oauthErrorCode(err);
      if (error === 'authorization_pending') continue;
      if (error === 'slow_down') {
        device.interval += SLOW_DOWN_SECONDS;
        continue;
      }
      throw classifyTokenError(err);
    }
  }
}
