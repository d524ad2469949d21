import { isIP } from 'node:net';
import type { AccessTokenSource } from './oauth/oauth-settings';

export type Security = 'none' | 'starttls' | 'tls';
export type ReceiveProtocol = 'imap' | 'pop3';

/** What a connection config node holds, credentials included: the input of every core module. */
export interface ServerSettings {
  host: string;
  port: number;
  security: Security;
  /** PEM text pasted by the user; empty means "the system's trusted roots". */
  certificate: string;
  user: string;
  password: string;
  /** With OAuth2: where the clients get the bearer token they log in with (SASL XOAUTH2 / OAUTHBEARER). */
  tokens?: AccessTokenSource;
}

export interface ReceiveSettings extends ServerSettings {
  protocol: ReceiveProtocol;
}

/** The one table of default ports: the runtime uses it, and the editor gets it as a Node-RED setting. */
export const DEFAULT_PORTS: Readonly<Record<ReceiveProtocol | 'smtp', Readonly<Record<Security, number>>>> = {
  imap: { none: 143, starttls: 143, tls: 993 },
  pop3: { none: 110, starttls: 110, tls: 995 },
  smtp: { none: 25, starttls: 587, tls: 465 },
};

/**
 * The folder names that mean "the inbox", compared after trimming and in upper case: blank, or
 * INBOX in any case (RFC 3501 5.1). POP3 has nothing else. Served to the editor as a setting too.
 */
export const INBOX_NAMES: readonly string[] = ['', 'INBOX'];

export function isInbox(folder: string): boolean {
  return INBOX_NAMES.includes(folder.trim().toUpperCase());
}

export function defaultPort(protocol: ReceiveProtocol | 'smtp', security: Security): number {
  return DEFAULT_PORTS[protocol][security];
}

export function isSecurity(value: unknown): value is Security {
  return value === 'none' || value === 'starttls' || value === 'tls';
}

export function isReceiveProtocol(value: unknown): value is ReceiveProtocol {
  return value === 'imap' || value === 'pop3';
}

/** A reason the settings cannot be used, as an i18n key suffix under `errors.config.`; null when usable. */
export function findSettingsProblem(settings: ServerSettings): string | null {
  if (!settings.host || /[\s/]/.test(settings.host)) return 'host';
  if (!Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65535) return 'port';
  if (!isSecurity(settings.security)) return 'security';
  if (settings.certificate.trim() && !/-----BEGIN CERTIFICATE-----/.test(settings.certificate)) return 'certificate';
  if (settings.password && !settings.user) return 'user';
  return null;
}

export function hostIsAddress(host: string): boolean {
  return isIP(host.replace(/^\[|\]$/g, '')) !== 0;
}

/**
 * A port left out entirely (older or hand-written flows) takes the default; anything else is
 * taken as given, so a wrong value is reported rather than silently replaced.
 */
function portOf(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  return Number(value);
}

/** Node-RED hands config properties over as loosely typed JSON; this is where they get their types. */
export function toReceiveSettings(raw: Record<string, unknown>, credentials: { user?: string; password?: string }): ReceiveSettings {
  const protocol = isReceiveProtocol(raw.protocol) ? raw.protocol : 'imap';
  const security = isSecurity(raw.security) ? raw.security : 'tls';
  return {
    protocol,
    host: String(raw.host ?? '').trim(),
    port: portOf(raw.port, defaultPort(protocol, security)),
    security,
    certificate: String(raw.certificate ?? ''),
    user: String(credentials.user ?? ''),
    password: String(credentials.password ?? ''),
  };
}

/** The send connection is the receive connection without a protocol: SMTP is the only one. */
export type SendSettings = ServerSettings;

export function toSendSettings(raw: Record<string, unknown>, credentials: { user?: string; password?: string }): SendSettings {
  const security = isSecurity(raw.security) ? raw.security : 'starttls';
  return {
    host: String(raw.host ?? '').trim(),
    port: portOf(raw.port, defaultPort('smtp', security)),
    security,
    certificate: String(raw.certificate ?? ''),
    user: String(credentials.user ?? ''),
    password: String(credentials.password ?? ''),
  };
}
