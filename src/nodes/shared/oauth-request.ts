import type { NodeAPI } from 'node-red';
import type { OAuthSettings } from '../../lib/oauth/oauth-settings';
import { findOAuthProblem, resolveOAuthSettings } from '../../lib/oauth/presets';
import type { OAuthCredentials } from './oauth-accounts';
import { RECEIVE_CONNECTION_TYPE } from './receive-connection-node';
import { SEND_CONNECTION_TYPE } from './send-connection-node';
import { SAVED_PASSWORD } from './validate-route';
import type { DeployedConfig } from './validate-route';

export const CONNECTION_TYPES: readonly string[] = [RECEIVE_CONNECTION_TYPE, SEND_CONNECTION_TYPE];

/** The properties the OAuth2 settings are resolved from (the protocol picks a preset's scope). */
export const OAUTH_PROPERTIES = ['protocol', 'auth', 'oauthProvider', 'oauthTenant', 'oauthGrant', 'oauthClientId', 'oauthAuthorizeUrl', 'oauthTokenUrl', 'oauthDeviceUrl', 'oauthScope'] as const;

export type OAuthRequest = {
  settings: OAuthSettings;
  nodeId: string;
  type: string;
  /** A refresh token from the dialog (typed, or the saved one it stands for); empty when none. */
  refreshToken: string;
} | { problem: string };

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/**
 * The OAuth2 settings a dialog posted (start, device), with its saved secrets resolved. A client
 * secret or refresh token posted as `__PWRD__` means the saved one, and that is used only when the
 * deployed connection of the same type resolves to the same token URL and client ID: a user who
 * can edit the dialog cannot send someone's saved secret to a token endpoint of their own.
 */
export function oauthRequest(RED: NodeAPI, body: Record<string, unknown>): OAuthRequest {
  const nodeId = text(body.id);
  const type = text(body.type);
  if (!nodeId || !/^[\w.-]{1,64}$/.test(nodeId)) return { problem: 'node-id' };
  if (!CONNECTION_TYPES.includes(type)) return { problem: 'node-type' };
  const raw: Record<string, unknown> = {};
  for (const name of OAUTH_PROPERTIES) raw[name] = body[name];
  raw.auth = 'oauth2';
  const posted: OAuthCredentials = { oauthClientSecret: text(body.oauthClientSecret), oauthRefreshToken: text(body.oauthRefreshToken) };
  const wantsSaved = posted.oauthClientSecret === SAVED_PASSWORD || posted.oauthRefreshToken === SAVED_PASSWORD;
  let credentials = posted;
  if (wantsSaved) {
    const deployed = RED.nodes.getNode(nodeId) as DeployedConfig | null;
    const saved = (RED.nodes.getCredentials(nodeId) ?? {}) as OAuthCredentials;
    if (deployed?.type !== type || !deployed.config) return { problem: 'saved-secret' };
    const before = resolveOAuthSettings(deployed.config, saved);
    const now = resolveOAuthSettings(raw, {});
    if (before.tokenUrl !== now.tokenUrl || before.clientId !== now.clientId) return { problem: 'saved-secret' };
    credentials = {
      oauthClientSecret: posted.oauthClientSecret === SAVED_PASSWORD ? (saved.oauthClientSecret ?? '') : posted.oauthClientSecret,
      oauthRefreshToken: posted.oauthRefreshToken === SAVED_PASSWORD ? (saved.oauthRefreshToken ?? '') : posted.oauthRefreshToken,
    };
  }
  const settings = resolveOAuthSettings(raw, credentials);
  const problem = findOAuthProblem(settings);
  return problem ? { problem } : { settings, nodeId, type, refreshToken: credentials.oauthRefreshToken ?? '' };
}
