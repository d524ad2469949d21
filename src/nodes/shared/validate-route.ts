import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import type { ServerSettings } from '../../lib/connection-options';
import type { ValidateOutcome } from '../../lib/validate';
import { OAuthAccounts } from './oauth-accounts';
import { oauthRequest } from './oauth-request';

/** The value Node-RED's editor puts in a password field whose saved value it does not show. */
export const SAVED_PASSWORD = '__PWRD__';

const RATE_WINDOW_MS = 60_000;
const RATE_MAX = 10;

export interface ValidateRouteOptions<TSettings> {
  /** `receive` or `send`: the route is `mailwire/validate/<kind>`. */
  kind: string;
  /** The config node type whose `.write` permission guards the route. */
  nodeType: string;
  /** Builds settings from the posted body and the credentials to use. */
  toSettings(body: Record<string, unknown>, credentials: { user: string; password: string }): TSettings;
  /** The properties that must equal the deployed node's for its saved password to be used. */
  sameServer(deployed: Record<string, unknown>, posted: Record<string, unknown>): boolean;
  validate(settings: TSettings): Promise<ValidateOutcome>;
  /** The user-facing text for an outcome, in the runtime's language. */
  describe(outcome: ValidateOutcome): string;
}

/**
 * Where a saved password would go, and how it would travel: the deployed values must all match,
 * so a saved password is never sent to another server, nor over a weaker security method.
 */
export function sameServer(deployed: Record<string, unknown>, posted: Record<string, unknown>): boolean {
  const text = (v: unknown): string => String(v ?? '').trim();
  return (
    text(deployed.host) === text(posted.host) &&
    Number(deployed.port) === Number(posted.port) &&
    text(deployed.security) === text(posted.security) &&
    text(deployed.certificate) === text(posted.certificate)
  );
}

/** Who is calling an admin route, for rate limits: the address and the editor user. */
export function clientOf(req: Request): string {
  return `${req.ip ?? ''}|${(req.user as { username?: string } | undefined)?.username ?? ''}`;
}

/** A limit of RATE_MAX calls per client in any RATE_WINDOW_MS: true while the client is within it. */
export function rateLimiter(): (client: string) => boolean {
  const calls = new Map<string, number[]>();
  return (client: string): boolean => {
    const now = Date.now();
    // Forget clients that have been quiet for a window, so the map stays as small as the traffic.
    for (const [key, times] of calls) if (now - times[times.length - 1] >= RATE_WINDOW_MS) calls.delete(key);
    const recent = (calls.get(client) ?? []).filter((t) => now - t < RATE_WINDOW_MS);
    recent.push(now);
    calls.set(client, recent);
    return recent.length <= RATE_MAX;
  };
}

export interface DeployedConfig {
  type?: string;
  config?: Record<string, unknown>;
}

/**
 * POST mailwire/validate/<kind>: tries the connection described by the editor's dialog.
 * A saved password is used only for the deployed node of the same type when the server it would
 * go to is unchanged, so a user cannot point someone's saved password at a host of their own.
 */
export function registerValidateRoute<TSettings extends ServerSettings>(RED: NodeAPI, options: ValidateRouteOptions<TSettings>): void {
  const withinRate = rateLimiter();

  const reply = (res: Response, outcome: ValidateOutcome, status = 200): void => {
    const { ok, code, details, certificate, folders, count } = outcome;
    res.status(status).json({ ok, code, message: options.describe(outcome), details, certificate, folders, count });
  };

  RED.httpAdmin.post(`/mailwire/validate/${options.kind}`, RED.auth.needsPermission(`${options.nodeType}.write`), (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (!withinRate(clientOf(req))) {
      reply(res, { ok: false, code: 'invalid-config', details: { problem: 'rate' } }, 429);
      return;
    }
    const user = typeof body.user === 'string' ? body.user : '';
    let password = typeof body.password === 'string' ? body.password : '';
    const oauth = body.auth === 'oauth2';
    if (oauth) password = '';
    if (password === SAVED_PASSWORD) {
      const id = typeof body.id === 'string' ? body.id : '';
      const deployed = (id ? RED.nodes.getNode(id) : null) as DeployedConfig | null;
      const saved = (id ? RED.nodes.getCredentials(id) : undefined) as { user?: string; password?: string } | undefined;
      const usable = deployed?.type === options.nodeType && deployed.config && saved && (saved.user ?? '') === user && options.sameServer(deployed.config, body);
      if (!usable) {
        reply(res, { ok: false, code: 'invalid-config', details: { problem: 'saved-password' } });
        return;
      }
      password = saved.password ?? '';
    }
    let settings: TSettings;
    try {
      settings = options.toSettings(body, { user, password });
    } catch {
      reply(res, { ok: false, code: 'invalid-config', details: { problem: 'host' } });
      return;
    }
    if (oauth) {
      // The token comes from the connection's live provider when the dialog still names its token
      // URL and client ID; otherwise from the newest refresh token kept for those.
      const parsed = oauthRequest(RED, { ...body, type: options.nodeType });
      if ('problem' in parsed) {
        reply(res, { ok: false, code: 'invalid-config', details: { problem: parsed.problem } });
        return;
      }
      settings = { ...settings, password: '', tokens: OAuthAccounts.of(RED).tokensForValidate(parsed.nodeId, parsed.settings, parsed.refreshToken) };
    }
    options.validate(settings).then(
      (outcome) => reply(res, outcome),
      () => reply(res, { ok: false, code: 'protocol', details: {} }),
    );
  });
}
