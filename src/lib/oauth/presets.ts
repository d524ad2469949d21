import { isIP } from 'node:net';
import type { Security } from '../connection-options';
import type { BearerMechanism, OAuthGrant, OAuthProviderName, OAuthSettings } from './oauth-settings';

/** What a connection uses its tokens for: the receive connection's protocol, or SMTP for the send connection. */
export type MailUse = 'imap' | 'pop3' | 'smtp';

export interface ServerPreset {
  host: string;
  port: number;
  security: Security;
}

export interface ProviderPreset {
  /** `{tenant}` stands for the Microsoft tenant. */
  authorizeUrl: string;
  tokenUrl: string;
  deviceUrl: string;
  /** Scopes for a user signing in (authorization code, device code), per use. */
  delegatedScope: Readonly<Record<MailUse, string>>;
  /** Scope for an application acting on its own (client credentials); empty when the provider offers none for mail. */
  appScope: string;
  servers: Readonly<Record<MailUse, ServerPreset>>;
  /** SASL mechanisms the provider's mail servers take, preferred first. */
  mechanisms: readonly BearerMechanism[];
}

const MICROSOFT_LOGIN = 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0';
// offline_access is what makes Microsoft return a refresh token with a delegated grant; `openid
// profile` an id_token with preferred_username, the account the dialog names. The OpenID Connect
// scopes may go with one resource's scopes in a request (only scopes of two resources may not).
const MICROSOFT_DELEGATED = (permission: string): string => `https://outlook.office.com/${permission} openid profile offline_access`;
// One scope covers IMAP, POP3 and SMTP for Gmail; `openid email` adds an id_token with the email
// claim, the account the dialog names.
const GOOGLE_DELEGATED = 'https://mail.google.com/ openid email';

/**
 * The providers we know, as published by them: Google's endpoints are those of its OpenID
 * discovery document (accounts.google.com/.well-known/openid-configuration); Microsoft's are the
 * identity platform v2.0 endpoints of a tenant. The editor offers these as starting values.
 */
export const PROVIDER_PRESETS: Readonly<Record<Exclude<OAuthProviderName, 'custom'>, ProviderPreset>> = {
  google: {
    authorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenUrl: 'https://oauth2.googleapis.com/token',
    deviceUrl: 'https://oauth2.googleapis.com/device/code',
    delegatedScope: { imap: GOOGLE_DELEGATED, pop3: GOOGLE_DELEGATED, smtp: GOOGLE_DELEGATED },
    appScope: '',
    servers: {
      imap: { host: 'imap.gmail.com', port: 993, security: 'tls' },
      pop3: { host: 'pop.gmail.com', port: 995, security: 'tls' },
      smtp: { host: 'smtp.gmail.com', port: 465, security: 'tls' },
    },
    mechanisms: ['XOAUTH2', 'OAUTHBEARER'],
  },
  microsoft: {
    authorizeUrl: `${MICROSOFT_LOGIN}/authorize`,
    tokenUrl: `${MICROSOFT_LOGIN}/token`,
    deviceUrl: `${MICROSOFT_LOGIN}/devicecode`,
    delegatedScope: {
      imap: MICROSOFT_DELEGATED('IMAP.AccessAsUser.All'),
      pop3: MICROSOFT_DELEGATED('POP.AccessAsUser.All'),
      smtp: MICROSOFT_DELEGATED('SMTP.Send'),
    },
    appScope: 'https://outlook.office365.com/.default',
    servers: {
      imap: { host: 'outlook.office365.com', port: 993, security: 'tls' },
      pop3: { host: 'outlook.office365.com', port: 995, security: 'tls' },
      smtp: { host: 'smtp.office365.com', port: 587, security: 'starttls' },
    },
    mechanisms: ['XOAUTH2'],
  },
};

/** Mechanisms tried with a custom provider: whichever the server offers, OAUTHBEARER being the standard one. */
export const CUSTOM_MECHANISMS: readonly BearerMechanism[] = ['OAUTHBEARER', 'XOAUTH2'];

export const DEFAULT_TENANT = 'common';

export function isOAuthProvider(value: unknown): value is OAuthProviderName {
  return value === 'google' || value === 'microsoft' || value === 'custom';
}

export function isOAuthGrant(value: unknown): value is OAuthGrant {
  return value === 'authorization-code' || value === 'device-code' || value === 'client-credentials';
}

export function mechanismsFor(provider: OAuthProviderName): readonly BearerMechanism[] {
  return provider === 'custom' ? CUSTOM_MECHANISMS : PROVIDER_PRESETS[provider].mechanisms;
}

/** The scope a preset asks for with this grant and use; empty for custom (the user types it). */
export function defaultScope(provider: OAuthProviderName, grant: OAuthGrant, use: MailUse): string {
  if (provider === 'custom') return '';
  const preset = PROVIDER_PRESETS[provider];
  return grant === 'client-credentials' ? preset.appScope : preset.delegatedScope[use];
}

function withTenant(url: string, tenant: string): string {
  return url.replace('{tenant}', encodeURIComponent(tenant));
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

/** The receive connection names its protocol; the send connection has none and is SMTP. */
function useOf(raw: Record<string, unknown>): MailUse {
  return raw.protocol === 'pop3' ? 'pop3' : raw.protocol === 'imap' ? 'imap' : 'smtp';
}

/**
 * Node-RED config properties (names fixed by the SPEC's second-stage contract) to typed settings.
 * A preset's endpoints are used unless the user typed one; a custom provider uses what was typed.
 */
export function resolveOAuthSettings(
  raw: Record<string, unknown>,
  credentials: { oauthClientSecret?: string },
  use: MailUse = useOf(raw),
): OAuthSettings {
  const provider = isOAuthProvider(raw.oauthProvider) ? raw.oauthProvider : 'custom';
  const grant = isOAuthGrant(raw.oauthGrant) ? raw.oauthGrant : 'authorization-code';
  const tenant = text(raw.oauthTenant) || DEFAULT_TENANT;
  const preset = provider === 'custom' ? undefined : PROVIDER_PRESETS[provider];
  const endpoint = (typed: unknown, fromPreset: string | undefined): string =>
    text(typed) || (fromPreset ? withTenant(fromPreset, tenant) : '');
  return {
    provider,
    tenant,
    grant,
    clientId: text(raw.oauthClientId),
    clientSecret: typeof credentials.oauthClientSecret === 'string' ? credentials.oauthClientSecret : '',
    authorizeUrl: endpoint(raw.oauthAuthorizeUrl, preset?.authorizeUrl),
    tokenUrl: endpoint(raw.oauthTokenUrl, preset?.tokenUrl),
    deviceUrl: endpoint(raw.oauthDeviceUrl, preset?.deviceUrl),
    scope: text(raw.oauthScope).split(/\s+/).filter(Boolean).join(' ') || defaultScope(provider, grant, use),
  };
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * An endpoint we are willing to send a client secret or a refresh token to: https anywhere, plain
 * http only on this machine (test servers). TLS is never switched off, so https means verified.
 */
export function isAllowedEndpoint(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && isLoopback(url.hostname);
}

/** A reason the OAuth2 settings cannot be used, as an i18n key suffix under `errors.config.`; null when usable. */
export function findOAuthProblem(settings: OAuthSettings): string | null {
  if (!isOAuthProvider(settings.provider)) return 'oauthProvider';
  if (!isOAuthGrant(settings.grant)) return 'oauthGrant';
  if (settings.provider === 'microsoft' && !/^[A-Za-z0-9.-]+$/.test(settings.tenant)) return 'oauthTenant';
  if (!settings.clientId) return 'oauthClientId';
  if (!isAllowedEndpoint(settings.tokenUrl)) return 'oauthTokenUrl';
  if (settings.grant === 'client-credentials' && !settings.clientSecret) return 'oauthClientSecret';
  if (settings.grant === 'device-code' && !isAllowedEndpoint(settings.deviceUrl)) return 'oauthDeviceUrl';
  if (settings.grant === 'authorization-code' && !isAllowedEndpoint(settings.authorizeUrl)) return 'oauthAuthorizeUrl';
  return null;
}
