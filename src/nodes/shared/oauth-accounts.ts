import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { NodeAPI } from 'node-red';
import type { OAuthSettings, TokenSet } from '../../lib/oauth/oauth-settings';
import { TokenProvider } from '../../lib/oauth/token-provider';
import { RefreshTokenStore } from '../../lib/oauth/token-store';
import { userDirOf } from './user-dir';

/** What the dialog may learn about a connection's sign-in: who, and until when; never a token. */
export interface SignInStatus {
  state: 'signed-in' | 'signin-required' | 'unavailable' | 'not-signed-in';
  account?: string;
  accessTokenExpiresAt?: number;
}

/** A connection's credential names for OAuth2, as in the flow-file contract. */
export interface OAuthCredentials {
  oauthClientSecret?: string;
  oauthRefreshToken?: string;
}

/** Who signed in last, and until when that access token lives: for the dialog only, never a token. */
interface LastSignIn {
  tokenUrl: string;
  clientId: string;
  account?: string;
  accessTokenExpiresAt?: number;
}

const hashOf = (token: string): string => createHash('sha256').update(token).digest('base64url');

/**
 * The runtime's record of OAuth2 sign-ins, keyed by connection node id: the one TokenProvider of
 * each deployed connection (every node using the connection shares it), and the encrypted store
 * that keeps refresh tokens where a restart without a deploy finds them, including those of
 * connections signed in from the editor before their first deploy.
 */
export class OAuthAccounts {
  private readonly providers = new Map<string, { provider: TokenProvider; settings: OAuthSettings }>();
  private readonly lastSignIn = new Map<string, LastSignIn>();
  /**
   * Hashes of the refresh tokens this runtime has seen per connection, as its credential or
   * saved by it: a credential outside this set was typed in since.
   */
  private readonly tokensSeen = new Map<string, Set<string>>();
  private store: RefreshTokenStore | undefined;

  constructor(private readonly RED: NodeAPI) {}

  /**
   * One registry per runtime, shared by both connection modules (each gets its own RED object,
   * so the user directory tells runtimes apart).
   */
  static of(RED: NodeAPI): OAuthAccounts {
    const dir = userDirOf(RED);
    let accounts = REGISTRIES.get(dir);
    if (!accounts) {
      accounts = new OAuthAccounts(RED);
      REGISTRIES.set(dir, accounts);
    }
    return accounts;
  }

  private tokenStore(): RefreshTokenStore {
    this.store ??= new RefreshTokenStore(path.join(userDirOf(this.RED), 'mailwire-state', 'oauth'), storeSecret(this.RED));
    return this.store;
  }

  private stored(nodeId: string, settings: OAuthSettings): string | undefined {
    try {
      return this.tokenStore().load(nodeId, settings.tokenUrl, settings.clientId);
    } catch {
      // An unreadable store is as good as an empty one: the credential, or a new sign-in.
      return undefined;
    }
  }

  /**
   * The deployed connection `nodeId` uses OAuth2: its TokenProvider, starting from the newest
   * refresh token. The store is written at every sign-in and rotation, so it wins over the
   * credential (which changes only on a deploy), unless the credential is one this runtime has
   * not seen for the connection before: then someone typed a refresh token in by hand. After a
   * restart nothing was seen, and the store wins.
   */
  attach(nodeId: string, settings: OAuthSettings, credentials: OAuthCredentials): TokenProvider {
    const typed = credentials.oauthRefreshToken ?? '';
    const seen = this.tokensSeen.get(nodeId);
    const typedSince = typed !== '' && seen !== undefined && !seen.has(hashOf(typed));
    this.remember(nodeId, typed);
    const stored = this.stored(nodeId, settings);
    const refreshToken = typedSince ? typed : stored || typed || undefined;
    const provider = new TokenProvider(settings, {
      refreshToken,
      saveRefreshToken: (token: string) => this.save(nodeId, settings, token),
    });
    if (typedSince) void this.save(nodeId, settings, typed).catch(() => undefined);
    this.providers.set(nodeId, { provider, settings });
    return provider;
  }

  private remember(nodeId: string, refreshToken: string): void {
    if (!refreshToken) return;
    const seen = this.tokensSeen.get(nodeId) ?? new Set<string>();
    seen.add(hashOf(refreshToken));
    this.tokensSeen.set(nodeId, seen);
  }

  release(nodeId: string, provider: TokenProvider): void {
    if (this.providers.get(nodeId)?.provider === provider) this.providers.delete(nodeId);
  }

  /** The connection was deleted: its kept refresh token goes with it, so no sign-in outlives it. */
  forget(nodeId: string): void {
    this.lastSignIn.delete(nodeId);
    this.tokensSeen.delete(nodeId);
    try {
      this.tokenStore().remove(nodeId);
    } catch {
      // Nothing kept, or the directory is gone: nothing left to forget.
    }
  }

  /** The live provider of a deployed connection, when its settings still match `settings`. */
  providerFor(nodeId: string, settings: OAuthSettings): TokenProvider | undefined {
    const live = this.providers.get(nodeId);
    if (!live || live.settings.tokenUrl !== settings.tokenUrl || live.settings.clientId !== settings.clientId) return undefined;
    return live.provider;
  }

  /**
   * A token source for Validate: the live provider when it runs with these settings (so a
   * rotation is not raced), else one of its own starting from the store's refresh token (or the
   * dialog's, when there is none), saving a rotated one as the connection would.
   */
  tokensForValidate(nodeId: string, settings: OAuthSettings, dialogRefreshToken: string): TokenProvider {
    const live = this.providerFor(nodeId, settings);
    if (live) return live;
    return new TokenProvider(settings, {
      refreshToken: this.stored(nodeId, settings) || dialogRefreshToken || undefined,
      saveRefreshToken: (token: string) => this.save(nodeId, settings, token),
    });
  }

  /** Keeps a refresh token at once: in the store, and in the credentials so a deploy writes it to flows_cred. */
  private async save(nodeId: string, settings: OAuthSettings, refreshToken: string): Promise<void> {
    await this.tokenStore().save(nodeId, settings.tokenUrl, settings.clientId, refreshToken);
    this.remember(nodeId, refreshToken);
    const existing = this.RED.nodes.getCredentials(nodeId) as Record<string, unknown> | undefined;
    if (existing) {
      await Promise.resolve(this.RED.nodes.addCredentials(nodeId, { ...existing, oauthRefreshToken: refreshToken })).catch(() => undefined);
    }
  }

  /**
   * A sign-in from the editor finished for connection `nodeId` (deployed or not yet): the tokens
   * go to its provider when it runs with these settings, else the refresh token to the store,
   * where the connection finds it once deployed.
   */
  async signedIn(nodeId: string, settings: OAuthSettings, tokens: TokenSet): Promise<void> {
    this.lastSignIn.set(nodeId, { tokenUrl: settings.tokenUrl, clientId: settings.clientId, account: tokens.account, accessTokenExpiresAt: tokens.expiresAt });
    const live = this.providerFor(nodeId, settings);
    if (live) await live.signedIn(tokens);
    else if (tokens.refreshToken) await this.save(nodeId, settings, tokens.refreshToken);
  }

  /** What the dialog shows for connection `nodeId`. */
  status(nodeId: string): SignInStatus {
    const live = this.providers.get(nodeId);
    const last = this.lastSignIn.get(nodeId);
    if (live) {
      const s = live.provider.status();
      // A provider that has not needed a token yet knows no account; the last sign-in does.
      const account = s.account ?? (last && last.tokenUrl === live.settings.tokenUrl && last.clientId === live.settings.clientId ? last.account : undefined);
      return { state: s.state, ...(account ? { account } : {}), ...(s.accessTokenExpiresAt ? { accessTokenExpiresAt: s.accessTokenExpiresAt } : {}) };
    }
    if (!last) return { state: 'not-signed-in' };
    return { state: 'signed-in', ...(last.account ? { account: last.account } : {}), ...(last.accessTokenExpiresAt ? { accessTokenExpiresAt: last.accessTokenExpiresAt } : {}) };
  }
}

const REGISTRIES = new Map<string, OAuthAccounts>();

/**
 * The key of the token store: Node-RED's own credential secret, so refresh tokens are as safe as
 * flows_cred.json. With credential encryption switched off (`credentialSecret: false`) the store
 * still encrypts, with a key generated once and kept beside it.
 */
function storeSecret(RED: NodeAPI): string {
  const get = (name: string): unknown => {
    try {
      return (RED.settings as unknown as { get(n: string): unknown }).get(name);
    } catch {
      return undefined;
    }
  };
  const configured = get('credentialSecret');
  if (typeof configured === 'string' && configured) return configured;
  if (configured !== false) {
    const generated = get('_credentialSecret');
    if (typeof generated === 'string' && generated) return generated;
  }
  const keyFile = path.join(userDirOf(RED), 'mailwire-state', 'oauth', 'store.key');
  try {
    return fs.readFileSync(keyFile, 'utf8').trim();
  } catch {
    const key = randomBytes(32).toString('hex');
    fs.mkdirSync(path.dirname(keyFile), { recursive: true, mode: 0o700 });
    fs.writeFileSync(keyFile, key, { mode: 0o600, flag: 'wx' });
    return key;
  }
}
