/**
 * The OAuth2 half of a connection's settings (SPEC section 5, "Contract, second stage"), and the
 * one thing the protocol clients need from it: a source of access tokens. Clients never see a
 * refresh token or a client secret; they ask for a token before each login and say when a server
 * refused the one they were given.
 */
export type AuthMethod = 'password' | 'oauth2';
export type OAuthProviderName = 'google' | 'microsoft' | 'custom';
export type OAuthGrant = 'authorization-code' | 'device-code' | 'client-credentials';

export interface OAuthSettings {
  provider: OAuthProviderName;
  /** Microsoft only; `common` when blank. */
  tenant: string;
  grant: OAuthGrant;
  clientId: string;
  /** Empty for a public client. A credential: never logged, never sent to the editor. */
  clientSecret: string;
  /** Resolved endpoints: the preset's for google and microsoft, the typed ones for custom. */
  authorizeUrl: string;
  tokenUrl: string;
  deviceUrl: string;
  /** Space-separated, as sent to the provider. */
  scope: string;
}

/** SASL mechanisms that carry an OAuth2 bearer token (RFC 7628 and Google's XOAUTH2). */
export type BearerMechanism = 'XOAUTH2' | 'OAUTHBEARER';

export interface AccessTokenSource {
  /** A token valid for at least the next login; refreshes first when the current one is near expiry. */
  accessToken(): Promise<string>;
  /**
   * The server refused `token` (or ended a session because it expired): the next accessToken()
   * call must not return it again. Returns false when that token was already replaced.
   */
  refused(token: string): boolean;
}

/** What a token endpoint answered, reduced to what we keep. */
export interface TokenSet {
  accessToken: string;
  /** Absent when the provider did not issue (or did not rotate) one. */
  refreshToken?: string;
  /** Epoch milliseconds; the provider's `expires_in` counted from when the answer arrived. */
  expiresAt: number;
  /** Who signed in, for the dialog (an `email` or `preferred_username` claim); never a token. */
  account?: string;
}

/** A device authorization in progress (RFC 8628): what the dialog shows, and what polling needs. */
export interface DeviceAuthorization {
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  /** Epoch milliseconds after which the code is dead. */
  expiresAt: number;
  /** Seconds between polls, raised by `slow_down`. */
  interval: number;
  deviceCode: string;
}

/** An authorization-code round trip in progress: kept on the runtime, never sent to the browser except `url`. */
export interface AuthorizationRequest {
  url: string;
  state: string;
  codeVerifier: string;
  redirectUri: string;
}
