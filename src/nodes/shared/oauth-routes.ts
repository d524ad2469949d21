import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { NodeAPI } from 'node-red';
import type { AuthorizationRequest, OAuthSettings } from '../../lib/oauth/oauth-settings';
import { exchangeCode, pollDeviceAuthorization, startAuthorization, startDeviceAuthorization } from '../../lib/oauth/token-client';
import { OAuthAccounts } from './oauth-accounts';
import { callbackPage } from './oauth-callback-page';
import type { CallbackOutcome } from './oauth-callback-page';
import { CONNECTION_TYPES, oauthRequest } from './oauth-request';
import { clientOf, rateLimiter } from './validate-route';

/** How long a sign-in round trip (and its cookie) stays usable: the user logs in at the provider meanwhile. */
const ROUND_TRIP_MS = 10 * 60_000;
/** How long a finished device sign-in can still be asked about. */
const DEVICE_KEPT_MS = 10 * 60_000;
const CALLBACK_PATH = 'mailwire/oauth/callback';
const COOKIE_PREFIX = 'mailwire-oauth-';

interface RoundTrip {
  nodeId: string;
  settings: OAuthSettings;
  request: AuthorizationRequest;
  cookieName: string;
  /** Only a hash is kept: the cookie's value itself lives in the editor's browser alone. */
  cookieHash: Buffer;
  expiresAt: number;
}

interface DeviceSignIn {
  type: string;
  state: 'pending' | 'signed-in' | 'failed';
  code?: string;
  account?: string;
  expiresAt: number;
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();
const randomId = (): string => randomBytes(18).toString('base64url');

function cookiesOf(req: Request): Map<string, string> {
  const jar = new Map<string, string>();
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) jar.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  return jar;
}

/** An error's failure code when it carries one of ours, else the provider was not reachable. */
function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(oauth-[a-z-]+|timeout|dns|refused|tls-[a-z]+|invalid-config|protocol)$/.test(code) ? code : 'oauth-unavailable';
}

/**
 * The redirect URI the editor computed (its own admin URL + mailwire/oauth/callback, so a
 * reverse proxy or httpAdminRoot is taken into account); anything else is refused, so the route
 * cannot be used to send a provider's code elsewhere.
 */
function redirectUriOf(value: unknown): URL | null {
  try {
    const url = new URL(String(value));
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.pathname.endsWith(`/${CALLBACK_PATH}`) || url.search || url.hash || url.username || url.password) return null;
    return url;
  } catch {
    return null;
  }
}

/** The admin apps the routes are on: once per app, however many connection modules load. */
const registeredOn = new WeakSet<object>();

/**
 * The sign-in routes under mailwire/oauth/ (relative to the admin root), registered once however
 * many connection modules load. None of them ever answers with a token, a secret or a device code.
 */
export function registerOAuthRoutes(RED: NodeAPI, catalogType: string): void {
  if (registeredOn.has(RED.httpAdmin)) return;
  registeredOn.add(RED.httpAdmin);
  const accounts = OAuthAccounts.of(RED);
  const roundTrips = new Map<string, RoundTrip>();
  const devices = new Map<string, DeviceSignIn>();
  const withinRate = rateLimiter();

  const forget = (): void => {
    const now = Date.now();
    for (const [state, trip] of roundTrips) if (trip.expiresAt <= now) roundTrips.delete(state);
    for (const [id, device] of devices) if (device.expiresAt + DEVICE_KEPT_MS <= now) devices.delete(id);
  };

  /** needsPermission for a connection type named in the body, the query or a pending sign-in. */
  const permission = (which: 'read' | 'write', typeOf: (req: Request) => string | undefined) => (req: Request, res: Response, next: NextFunction) => {
    const type = typeOf(req);
    const guard = RED.auth.needsPermission(`${type && CONNECTION_TYPES.includes(type) ? type : CONNECTION_TYPES[0]}.${which}`);
    (guard as unknown as (rq: Request, rs: Response, nx: NextFunction) => void)(req, res, next);
  };
  const bodyType = (req: Request): string | undefined => (req.body as { type?: string } | undefined)?.type;

  /** The common start of both sign-ins: permission, rate, settings; null when a reply was sent. */
  const begin = (req: Request, res: Response, grant: string): { nodeId: string; settings: OAuthSettings } | null => {
    if (!withinRate(clientOf(req))) {
      res.status(429).json({ code: 'invalid-config', details: { problem: 'rate' } });
      return null;
    }
    const parsed = oauthRequest(RED, (req.body ?? {}) as Record<string, unknown>);
    if ('problem' in parsed) {
      res.status(400).json({ code: 'invalid-config', details: { problem: parsed.problem } });
      return null;
    }
    if (parsed.settings.grant !== grant) {
      res.status(400).json({ code: 'invalid-config', details: { problem: 'grant' } });
      return null;
    }
    forget();
    return parsed;
  };

  RED.httpAdmin.post('/mailwire/oauth/start', permission('write', bodyType), (req: Request, res: Response) => {
    const started = begin(req, res, 'authorization-code');
    if (!started) return;
    const redirectUri = redirectUriOf((req.body as { redirectUri?: unknown }).redirectUri);
    if (!redirectUri) {
      res.status(400).json({ code: 'invalid-config', details: { problem: 'redirect-uri' } });
      return;
    }
    Promise.resolve(startAuthorization(started.settings, redirectUri.href)).then(
      (request) => {
        const cookieName = COOKIE_PREFIX + randomId().slice(0, 12);
        const cookieValue = randomId();
        roundTrips.set(request.state, { nodeId: started.nodeId, settings: started.settings, request, cookieName, cookieHash: sha256(cookieValue), expiresAt: Date.now() + ROUND_TRIP_MS });
        // Lax: the provider's redirect back is a top-level GET, which carries it; scoped to the
        // callback so no other request carries it at all.
        const secure = redirectUri.protocol === 'https:' ? '; Secure' : '';
        res.setHeader('Set-Cookie', `${cookieName}=${cookieValue}; Path=${redirectUri.pathname}; Max-Age=${ROUND_TRIP_MS / 1000}; HttpOnly; SameSite=Lax${secure}`);
        res.setHeader('Cache-Control', 'no-store');
        res.json({ url: request.url });
      },
      (error: unknown) => res.status(502).json({ code: codeOf(error), details: {} }),
    );
  });

  // No admin token can come with the provider's redirect: the single-use state and the cookie set
  // on the start reply (in the browser that pressed Sign in) stand in for it.
  RED.httpAdmin.get(`/${CALLBACK_PATH}`, (req: Request, res: Response) => {
    const page = (status: number, outcome: CallbackOutcome): void => {
      res.status(status);
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
      res.send(callbackPage(RED, catalogType, outcome));
    };
    forget();
    const query = req.query as Record<string, unknown>;
    const state = typeof query.state === 'string' ? query.state : '';
    const trip = state ? roundTrips.get(state) : undefined;
    // Single use: whatever follows, this state is spent.
    if (trip) roundTrips.delete(state);
    if (!trip || trip.expiresAt <= Date.now()) {
      page(400, { kind: 'unknown-state' });
      return;
    }
    const cookie = cookiesOf(req).get(trip.cookieName);
    if (!cookie || !timingSafeEqual(sha256(cookie), trip.cookieHash)) {
      page(403, { kind: 'foreign-session' });
      return;
    }
    res.setHeader('Set-Cookie', `${trip.cookieName}=; Path=${new URL(trip.request.redirectUri).pathname}; Max-Age=0; HttpOnly; SameSite=Lax`);
    if (typeof query.error === 'string') {
      page(400, { kind: 'provider-error', error: query.error });
      return;
    }
    const callbackUrl = new URL(trip.request.redirectUri);
    callbackUrl.search = new URL(req.originalUrl, 'http://callback.invalid').search;
    exchangeCode(trip.settings, trip.request, callbackUrl)
      .then((tokens) => accounts.signedIn(trip.nodeId, trip.settings, tokens).then(() => tokens))
      .then(
        (tokens) => page(200, { kind: 'signed-in', account: tokens.account }),
        (error: unknown) => page(502, { kind: 'exchange-failed', code: codeOf(error) }),
      );
  });

  RED.httpAdmin.post('/mailwire/oauth/device', permission('write', bodyType), (req: Request, res: Response) => {
    const started = begin(req, res, 'device-code');
    if (!started) return;
    Promise.resolve(startDeviceAuthorization(started.settings)).then(
      (device) => {
        const id = randomId();
        const signIn: DeviceSignIn = { type: String((req.body as { type: string }).type), state: 'pending', expiresAt: device.expiresAt };
        devices.set(id, signIn);
        const stop = new AbortController();
        const timer = setTimeout(() => stop.abort(), Math.max(0, device.expiresAt - Date.now()) + 5000);
        timer.unref();
        pollDeviceAuthorization(started.settings, device, stop.signal)
          .then((tokens) => accounts.signedIn(started.nodeId, started.settings, tokens).then(() => tokens))
          .then(
            (tokens) => Object.assign(signIn, { state: 'signed-in', account: tokens.account, expiresAt: tokens.expiresAt }),
            (error: unknown) => Object.assign(signIn, { state: 'failed', code: codeOf(error) }),
          )
          .finally(() => clearTimeout(timer));
        res.setHeader('Cache-Control', 'no-store');
        res.json({ userCode: device.userCode, verificationUri: device.verificationUri, verificationUriComplete: device.verificationUriComplete, expiresAt: device.expiresAt, interval: device.interval, id });
      },
      (error: unknown) => res.status(502).json({ code: codeOf(error), details: {} }),
    );
  });

  RED.httpAdmin.get(
    '/mailwire/oauth/device/:id',
    permission('write', (req) => devices.get(String(req.params.id))?.type),
    (req: Request, res: Response) => {
      const signIn = devices.get(String(req.params.id));
      if (!signIn) {
        res.status(404).json({ state: 'failed', code: 'expired' });
        return;
      }
      res.setHeader('Cache-Control', 'no-store');
      res.json({ state: signIn.state, code: signIn.code, account: signIn.account, expiresAt: signIn.expiresAt });
    },
  );

  RED.httpAdmin.get(
    '/mailwire/oauth/status/:nodeId',
    permission('read', (req) => (typeof req.query.type === 'string' ? req.query.type : undefined)),
    (req: Request, res: Response) => {
      res.setHeader('Cache-Control', 'no-store');
      res.json(accounts.status(String(req.params.nodeId)));
    },
  );
}
