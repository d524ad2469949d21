import { MailError, classifyError, type FailureCode } from '../mail-error';
import type { AccessTokenSource, OAuthSettings, TokenSet } from './oauth-settings';
import { tokenGrants, type TokenGrants } from './token-client';

export type TokenState = 'signed-in' | 'signin-required' | 'unavailable' | 'not-signed-in';

export interface TokenStatus {
  state: TokenState;
  account?: string;
  accessTokenExpiresAt?: number;
  /** With `unavailable`: the failure of the last attempt (oauth-unavailable, oauth-client, tls-untrusted…). */
  failure?: FailureCode;
}

export type TokenStatusListener = (status: TokenStatus) => void;

export interface TokenProviderOptions {
  /** The refresh token from the connection's credentials or the token store; absent before a first sign-in. */
  refreshToken?: string;
  /** Keeps a rotated refresh token where a restart finds it; awaited before the new access token is used. */
  saveRefreshToken: (refreshToken: string) => Promise<void>;
  now?: () => number;
  client?: TokenGrants;
}

/** Never refresh earlier than this before expiry: covers a slow connect plus clock skew. */
const MIN_MARGIN_MS = 60_000;

/**
 * How long before expiry a token stops being handed out: a tenth of its lifetime, at least 60 s,
 * but never more than half its lifetime. The tenth lets an hour-long token be renewed six minutes
 * ahead, so a short provider outage passes while the old token still works; the 60 s floor covers
 * one login on a slow link and some clock skew; the half cap keeps a token that lives only a few
 * seconds (test providers, odd policies) usable at all, for the first half of its life.
 */
export function refreshMargin(lifetimeMs: number): number {
  return Math.min(Math.max(MIN_MARGIN_MS, lifetimeMs / 10), lifetimeMs / 2);
}

interface CurrentToken {
  token: string;
  expiresAt: number;
  receivedAt: number;
}

/**
 * The tokens of one connection: hands out access tokens to every session of that connection,
 * refreshing ahead of expiry, once at a time however many sessions ask. A rotated refresh token
 * is saved before the access token that came with it is handed out, and from then on only the
 * new one is sent. A refresh token the provider refused is not tried again until a new sign-in.
 */
export class TokenProvider implements AccessTokenSource {
  private readonly client: TokenGrants;
  private readonly now: () => number;
  private readonly saveRefreshToken: (refreshToken: string) => Promise<void>;
  private refreshToken: string | undefined;
  private current: CurrentToken | undefined;
  private account: string | undefined;
  private signinRequired: MailError | undefined;
  private lastFailure: FailureCode | undefined;
  private inflight: Promise<string> | undefined;
  /** Bumped by every sign-in, so an answer to a refresh begun before it is not taken for the new grant's. */
  private generation = 0;
  private readonly listeners = new Set<TokenStatusListener>();

  constructor(private readonly settings: OAuthSettings, options: TokenProviderOptions) {
    this.client = options.client ?? tokenGrants;
    this.now = options.now ?? Date.now;
    this.saveRefreshToken = options.saveRefreshToken;
    this.refreshToken = options.refreshToken || undefined;
  }

  private get usesClientCredentials(): boolean {
    return this.settings.grant === 'client-credentials';
  }

  async accessToken(): Promise<string> {
    if (this.signinRequired) throw this.signinRequired;
    const current = this.current;
    if (current && this.isFresh(current)) return current.token;
    try {
      return await this.renew();
    } catch (err) {
      // A refresh ahead of expiry that failed for a passing reason does not take away a token
      // that still works: the next call tries the refresh again.
      const still = this.current;
      if (err instanceof MailError && err.code !== 'oauth-signin-required' && still && this.now() < still.expiresAt) return still.token;
      throw err;
    }
  }

  refused(token: string): boolean {
    if (!this.current || this.current.token !== token) return false;
    this.current = undefined;
    this.emit();
    return true;
  }

  /** A new sign-in (or a refresh token typed into the credentials): forget the old grant and its failures. */
  setRefreshToken(refreshToken: string): void {
    this.generation += 1;
    this.refreshToken = refreshToken || undefined;
    this.current = undefined;
    this.signinRequired = undefined;
    this.lastFailure = undefined;
    this.emit();
  }

  /** Takes the tokens of a sign-in from the editor; a refresh token in them is saved before anything else. */
  async signedIn(tokens: TokenSet): Promise<void> {
    this.generation += 1;
    if (tokens.refreshToken) {
      this.refreshToken = tokens.refreshToken;
      await this.saveRefreshToken(tokens.refreshToken);
    }
    this.signinRequired = undefined;
    this.lastFailure = undefined;
    this.take(tokens);
  }

  status(): TokenStatus {
    const status: TokenStatus = { state: this.state() };
    if (this.account) status.account = this.account;
    if (this.current) status.accessTokenExpiresAt = this.current.expiresAt;
    if (status.state === 'unavailable' && this.lastFailure) status.failure = this.lastFailure;
    return status;
  }

  /** Calls `listener` with every change of status; returns the function that stops it. */
  onStatus(listener: TokenStatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private state(): TokenState {
    if (this.signinRequired) return 'signin-required';
    if (this.lastFailure) return 'unavailable';
    if (!this.usesClientCredentials && !this.refreshToken && !this.current) return 'not-signed-in';
    return 'signed-in';
  }

  private emit(): void {
    const status = this.status();
    for (const listener of this.listeners) {
      try {
        listener(status);
      } catch {
        // A listener's fault must not fail the login that is waiting for this token.
      }
    }
  }

  private isFresh(current: CurrentToken): boolean {
    const lifetime = current.expiresAt - current.receivedAt;
    return this.now() < current.expiresAt - refreshMargin(lifetime);
  }

  /** One refresh at a time: callers that arrive while it runs share its outcome. */
  private renew(): Promise<string> {
    if (!this.inflight) {
      this.inflight = this.fetchToken().finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  private async fetchToken(): Promise<string> {
    const generation = this.generation;
    const refreshToken = this.refreshToken;
    if (!this.usesClientCredentials && !refreshToken) {
      throw new MailError('oauth-signin-required', 'no refresh token: the connection has not been signed in');
    }
    let tokens: TokenSet;
    try {
      tokens = refreshToken && !this.usesClientCredentials
        ? await this.client.refresh(this.settings, refreshToken)
        : await this.client.clientCredentials(this.settings);
    } catch (err) {
      if (generation !== this.generation) return this.afterNewGrant();
      throw this.failed(err);
    }
    if (generation !== this.generation) return this.afterNewGrant();
    if (tokens.refreshToken && tokens.refreshToken !== refreshToken) {
      // The provider may already have retired the old refresh token: keep only the new one in
      // memory even if saving it fails, and hand out nothing until it is saved.
      this.refreshToken = tokens.refreshToken;
      try {
        await this.saveRefreshToken(tokens.refreshToken);
      } catch (err) {
        throw this.failed(new MailError('oauth-unavailable', 'the rotated refresh token could not be saved', {}, { cause: err }));
      }
      if (generation !== this.generation) return this.afterNewGrant();
    }
    this.lastFailure = undefined;
    this.take(tokens);
    return tokens.accessToken;
  }

  /** A sign-in happened while a refresh was out: its answer belongs to the old grant and is dropped. */
  private afterNewGrant(): Promise<string> {
    const current = this.current;
    return current && this.isFresh(current) ? Promise.resolve(current.token) : this.fetchToken();
  }

  private take(tokens: TokenSet): void {
    this.current = { token: tokens.accessToken, expiresAt: tokens.expiresAt, receivedAt: this.now() };
    if (tokens.account) this.account = tokens.account;
    this.emit();
  }

  private failed(err: unknown): MailError {
    const error = classifyError(err);
    if (error.code === 'oauth-signin-required') {
      this.signinRequired = error;
      this.current = undefined;
    } else {
      this.lastFailure = error.code;
    }
    this.emit();
    return error;
  }
}
