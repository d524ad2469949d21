import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { ServerSettings } from '../../lib/connection-options';
import { MailError } from '../../lib/mail-error';
import type { AccessTokenSource } from '../../lib/oauth/oauth-settings';
import { findOAuthProblem, resolveOAuthSettings } from '../../lib/oauth/presets';
import { describeFailure } from './describe-failure';
import { OAuthAccounts } from './oauth-accounts';

export interface ConnectionCredentials {
  user?: string;
  password?: string;
  oauthClientSecret?: string;
  oauthRefreshToken?: string;
}

/** The credentials both connection types declare: secrets as `password`, so the editor never gets them back. */
export const CONNECTION_CREDENTIALS = {
  user: { type: 'text' },
  password: { type: 'password' },
  oauthClientSecret: { type: 'password' },
  oauthRefreshToken: { type: 'password' },
} as const;

/** The flow-file properties the receive and send connections share. */
export interface ConnectionDef extends NodeDef {
  description: string;
  host: string;
  port: string | number;
  security: string;
  certificate: string;
}

/** What the nodes that use a connection get from it, on either side. */
export interface ConnectionNode<TSettings extends ServerSettings> extends Node<ConnectionCredentials> {
  config: Record<string, unknown>;
  settings(): TSettings;
  /** A user-facing explanation of a failure, with how to fix it. */
  describe(error: MailError): string;
}

export interface ConnectionKind<TSettings extends ServerSettings> {
  type: string;
  /** Node-RED hands properties over as loose JSON; this gives them their types. */
  toSettings(raw: Record<string, unknown>, credentials: ConnectionCredentials): TSettings;
  /** How failure texts name the protocol. */
  protocolName(settings: TSettings): string;
}

/** Makes `node` a connection: created, with its config, its settings and its failure texts. */
export function initConnection<TSettings extends ServerSettings>(RED: NodeAPI, node: ConnectionNode<TSettings>, def: ConnectionDef, kind: ConnectionKind<TSettings>): void {
  RED.nodes.createNode(node, def);
  const config: Record<string, unknown> = { ...def };
  node.config = config;
  const tokens = config.auth === 'oauth2' ? oauthTokens(RED, node, config) : undefined;
  node.settings = () => {
    const credentials = node.credentials ?? {};
    // With OAuth2 the token replaces the password: a stale password from before never goes out.
    if (config.auth !== 'oauth2' || !tokens) return kind.toSettings(config, credentials);
    return { ...kind.toSettings(config, { ...credentials, password: '' }), tokens };
  };
  node.describe = (error: MailError) => {
    const s = node.settings();
    return describeFailure(RED, kind.type, error.code, { host: s.host, port: String(s.port), protocol: kind.protocolName(s), ...error.details });
  };
}

/** The connection's one token source, shared by every node that uses it. */
function oauthTokens(RED: NodeAPI, node: Node<ConnectionCredentials>, config: Record<string, unknown>): AccessTokenSource {
  const credentials = node.credentials ?? {};
  const settings = resolveOAuthSettings(config, { oauthClientSecret: credentials.oauthClientSecret ?? '' });
  const problem = findOAuthProblem(settings);
  if (problem) {
    // Still no password login: each attempt fails with the reason, as other invalid settings do.
    return { accessToken: () => Promise.reject(new MailError('invalid-config', `OAuth2 settings: ${problem}`, { problem })), refused: () => false };
  }
  const accounts = OAuthAccounts.of(RED);
  const provider = accounts.attach(node.id, settings, credentials);
  // Said once per loss of the sign-in, in the log, where an administrator looks.
  let told = false;
  const stop = provider.onStatus((status) => {
    if (status.state === 'signin-required' && !told) node.warn(RED._(`${String(config.type)}.errors.oauth-signin-required`));
    told = status.state === 'signin-required';
  });
  node.on('close', (removed: boolean, done: () => void) => {
    stop();
    accounts.release(node.id, provider);
    if (removed) accounts.forget(node.id);
    done();
  });
  return provider;
}
