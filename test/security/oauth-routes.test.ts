// The OAuth2 sign-in routes of a REAL Node-RED with admin authentication: they need the
// connection type's permission, are rate limited, and the callback (which no admin token can
// reach) is held by a single-use state bound to the editor session's cookie. The provider is a
// scripted token endpoint on loopback; nothing any route answers carries a token, the client
// secret or the device code.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, VIEWER } from '../support/node-red-process';
import type { NodeRedProcess } from '../support/node-red-process';
import { TokenEndpointStub, oauthError, tokens, unsignedJwt } from '../support/token-endpoint-stub';
import { strictProcess } from '../support/strict-process';
import { until } from '../support/wait';
import { sentinel } from './credentials';
import { extraAdmins, filesUnder, startNodeRed } from './node-red';

strictProcess();

const TYPE = 'mailwire-receive-connection';
const DEPLOYED = 'rc-oauth';

describe('OAuth2 sign-in routes (real Node-RED, admin auth on)', { timeout: 120000 }, () => {
  const SECRET = `client-secret-${sentinel()}`;
  const REFRESH = `refresh-${sentinel()}`;
  const ACCESS = `access-${sentinel()}`;
  const DEVICE_CODE = `device-${sentinel()}`;
  const ACCOUNT = 'oauth-user@example.test';
  const admins = extraAdmins(4);
  let red: NodeRedProcess | undefined;
  let stub: TokenEndpointStub | undefined;
  /** Every reply body, for the leak check at the end. */
  const replies: string[] = [];
  let callbackPath = '';

  const dialog = (overrides: Record<string, unknown> = {}): Record<string, unknown> => {
    assert.ok(stub && red);
    return {
      id: 'new-conn-1', type: TYPE, redirectUri: `${red.url}/mailwire/oauth/callback`, protocol: 'imap', auth: 'oauth2', oauthProvider: 'custom', oauthTenant: '',
      oauthGrant: 'authorization-code', oauthClientId: 'mailwire-app', oauthAuthorizeUrl: stub.authorizeUrl, oauthTokenUrl: stub.tokenUrl, oauthDeviceUrl: stub.deviceUrl,
      oauthScope: 'mail offline_access', oauthClientSecret: SECRET, oauthRefreshToken: '', ...overrides,
    };
  };

  const call = async (method: string, pathname: string, body?: unknown, user = admins[0]): Promise<{ status: number; text: string; json: Record<string, unknown>; cookies: string[] }> => {
    assert.ok(red);
    const res = await red.api(method, pathname, body, user);
    const text = await res.text();
    replies.push(text);
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON
    }
    return { status: res.status, text, json, cookies: res.headers.getSetCookie() };
  };

  /** A started sign-in: its state and the cookie the editor's browser got. */
  const start = async (overrides: Record<string, unknown> = {}, user = admins[0]): Promise<{ state: string; cookie: string; url: URL }> => {
    const reply = await call('POST', '/mailwire/oauth/start', dialog(overrides), user);
    assert.equal(reply.status, 200, reply.text);
    const url = new URL(String(reply.json.url));
    const state = url.searchParams.get('state') ?? '';
    assert.ok(state, 'the authorization URL carries a state');
    assert.equal(reply.cookies.length, 1, 'one cookie');
    return { state, cookie: reply.cookies[0].split(';')[0], url };
  };

  /** The provider's redirect back, as the browser makes it (no admin token, maybe a cookie). */
  const callback = async (query: Record<string, string>, cookie?: string): Promise<{ status: number; outcome: string; text: string }> => {
    assert.ok(red);
    const res = await fetch(`${red.url}${callbackPath}?${new URLSearchParams(query).toString()}`, { headers: cookie ? { cookie } : {} });
    const text = await res.text();
    replies.push(text);
    return { status: res.status, outcome: /data-outcome="([^"]+)"/.exec(text)?.[1] ?? '', text };
  };

  before(async () => {
    stub = await TokenEndpointStub.start();
    red = await startNodeRed(admins, { logLevel: 'trace' });
    callbackPath = '/mailwire/oauth/callback';
    const conn = {
      id: DEPLOYED, type: TYPE, name: 'oauth', description: '', protocol: 'imap', host: '127.0.0.1', port: 993, security: 'tls', certificate: '',
      ...Object.fromEntries(Object.entries(dialog()).filter(([k]) => k.startsWith('oauth') && k !== 'oauthClientSecret' && k !== 'oauthRefreshToken')),
      auth: 'oauth2',
      credentials: { user: ACCOUNT, password: '', oauthClientSecret: SECRET, oauthRefreshToken: '' },
    };
    const deployed = await call('POST', '/flows', { flows: [{ id: 'tab', type: 'tab', label: 'oauth' }, conn] }, ADMIN);
    assert.equal(deployed.status, 200, deployed.text);
  });

  after(async () => {
    await red?.stop();
    await stub?.close();
    if (red) fs.rmSync(red.userDir, { recursive: true, force: true });
  });

  it('every route needs the permission of the connection type: 401 without a token, refused for a read-only user', async () => {
    assert.ok(red);
    const routes: Array<[string, string, unknown]> = [
      ['POST', '/mailwire/oauth/start', dialog()],
      ['POST', '/mailwire/oauth/device', dialog({ oauthGrant: 'device-code' })],
      ['GET', '/mailwire/oauth/device/some-id', undefined],
    ];
    for (const [method, pathname, body] of routes) {
      const anonymous = await call(method, pathname, body, null as never);
      assert.equal(anonymous.status, 401, `${method} ${pathname} without a token`);
      const viewer = await call(method, pathname, body, VIEWER);
      assert.ok([401, 403].includes(viewer.status), `${method} ${pathname} as a viewer: ${viewer.status}`);
    }
    assert.equal((await call('GET', `/mailwire/oauth/status/${DEPLOYED}?type=${TYPE}`, undefined, null as never)).status, 401, 'status without a token');
    const status = await call('GET', `/mailwire/oauth/status/${DEPLOYED}?type=${TYPE}`, undefined, VIEWER);
    assert.equal(status.status, 200, 'status is readable with read permission');
    assert.equal(status.json.state, 'not-signed-in');
  });

  it('start gives the provider page and an HttpOnly, SameSite=Lax cookie scoped to the callback', async () => {
    const reply = await call('POST', '/mailwire/oauth/start', dialog());
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(Object.keys(reply.json), ['url']);
    const url = new URL(String(reply.json.url));
    assert.equal(url.origin + url.pathname, stub?.authorizeUrl);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('redirect_uri'), dialog().redirectUri);
    const cookie = reply.cookies[0] ?? '';
    assert.match(cookie, /; HttpOnly/i);
    assert.match(cookie, /; SameSite=Lax/i);
    assert.match(cookie, /; Path=\/mailwire\/oauth\/callback(;|$)/);
    assert.match(cookie, /; Max-Age=600/);
  });

  it('start refuses a redirect URI that is not this callback, and a grant the button does not serve', async () => {
    const elsewhere = await call('POST', '/mailwire/oauth/start', dialog({ redirectUri: 'https://attacker.example/collect' }));
    assert.equal(elsewhere.status, 400);
    assert.deepEqual(elsewhere.json, { code: 'invalid-config', details: { problem: 'redirect-uri' } });
    const device = await call('POST', '/mailwire/oauth/start', dialog({ oauthGrant: 'device-code' }));
    assert.equal(device.status, 400);
    assert.equal((device.json.details as { problem: string }).problem, 'grant');
  });

  it('a saved client secret (__PWRD__) is used only with the token URL and client ID it was saved with', async () => {
    const same = await call('POST', '/mailwire/oauth/start', dialog({ id: DEPLOYED, oauthClientSecret: '__PWRD__' }));
    assert.equal(same.status, 200, same.text);
    const otherUrl = await call('POST', '/mailwire/oauth/start', dialog({ id: DEPLOYED, oauthClientSecret: '__PWRD__', oauthTokenUrl: 'https://elsewhere.example/token' }));
    assert.equal(otherUrl.status, 400);
    assert.equal((otherUrl.json.details as { problem: string }).problem, 'saved-secret');
    const otherClient = await call('POST', '/mailwire/oauth/start', dialog({ id: DEPLOYED, oauthClientSecret: '__PWRD__', oauthClientId: 'someone-else' }));
    assert.equal(otherClient.status, 400);
    const notDeployed = await call('POST', '/mailwire/oauth/start', dialog({ id: 'never-deployed', oauthClientSecret: '__PWRD__' }));
    assert.equal(notDeployed.status, 400);
  });

  it('the callback refuses an unknown state, a missing or foreign cookie, and a state used before', async () => {
    assert.ok(stub);
    const unknown = await callback({ state: 'made-up-state', code: 'x' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.outcome, 'unknown-state');

    const a = await start({}, admins[1]);
    const b = await start({}, admins[1]);
    const noCookie = await callback({ state: a.state, code: 'x' });
    assert.equal(noCookie.status, 403);
    assert.equal(noCookie.outcome, 'foreign-session');
    // The refused attempt spent the state: not even the right browser can use it now.
    assert.equal((await callback({ state: a.state, code: 'x' }, a.cookie)).outcome, 'unknown-state');

    const foreign = await callback({ state: b.state, code: 'x' }, a.cookie.replace(/=.*/, `=${b.cookie.split('=')[1]}`));
    assert.equal(foreign.outcome, 'foreign-session', 'the cookie of the right value under another name is not it');
    const c = await start({}, admins[1]);
    const d = await start({}, admins[1]);
    const wrongValue = await callback({ state: c.state, code: 'x' }, `${c.cookie.split('=')[0]}=${d.cookie.split('=')[1]}`);
    assert.equal(wrongValue.outcome, 'foreign-session', 'another sign-in\'s cookie value');

    // The provider's own refusal, then the same state again.
    const e = await start({}, admins[1]);
    const denied = await callback({ state: e.state, error: 'access_denied' }, e.cookie);
    assert.equal(denied.outcome, 'provider-error');
    assert.equal((await callback({ state: e.state, code: 'x' }, e.cookie)).outcome, 'unknown-state', 'replayed');
    assert.equal(stub.to('/token').length, 0, 'no refused callback reached the token endpoint');
  });

  it('the callback page escapes what the provider (or anyone) puts in the address', async () => {
    const s = await start({}, admins[1]);
    const page = await callback({ state: s.state, error: '<script>alert(1)</script>' }, s.cookie);
    assert.equal(page.outcome, 'provider-error');
    assert.doesNotMatch(page.text, /<script/i);
    assert.match(page.text, /&lt;script&gt;/);
  });

  it('a sign-in goes through: the runtime exchanges the code, the dialog learns who and until when, never a token', async () => {
    assert.ok(stub && red);
    stub.handler = (request) =>
      request.path === '/token' && request.params.get('grant_type') === 'authorization_code'
        ? tokens({ access_token: ACCESS, refresh_token: REFRESH, expires_in: 3600, id_token: unsignedJwt({ sub: 'u1', email: ACCOUNT }) })
        : oauthError('invalid_grant');
    const s = await start({ id: DEPLOYED, oauthClientSecret: '__PWRD__' }, admins[2]);
    const done = await callback({ state: s.state, code: 'the-code' }, s.cookie);
    assert.equal(done.status, 200, done.text);
    assert.equal(done.outcome, 'signed-in');
    assert.ok(done.text.includes(ACCOUNT), 'the page names the account');
    const exchange = stub.to('/token').at(-1);
    assert.equal(exchange?.params.get('code'), 'the-code');
    assert.equal(exchange?.params.get('client_secret'), SECRET, 'the saved secret was used, on the runtime');
    assert.equal(exchange?.params.get('redirect_uri'), dialog().redirectUri);
    assert.ok(exchange?.params.get('code_verifier'), 'PKCE');

    const status = await call('GET', `/mailwire/oauth/status/${DEPLOYED}?type=${TYPE}`);
    assert.equal(status.json.state, 'signed-in');
    assert.equal(status.json.account, ACCOUNT);
    assert.equal(typeof status.json.accessTokenExpiresAt, 'number');
    assert.deepEqual(Object.keys(status.json).sort(), ['accessTokenExpiresAt', 'account', 'state']);

    // The refresh token is kept, encrypted, where a restart finds it, and offered to the next deploy.
    const storeDir = path.join(red.userDir, 'mailwire-state', 'oauth');
    await until(() => fs.existsSync(path.join(storeDir, `${DEPLOYED}.json`)), 5000, 'the token store file');
    assert.ok(!fs.readFileSync(path.join(storeDir, `${DEPLOYED}.json`), 'utf8').includes(REFRESH), 'the store file is encrypted');
    const credentials = await call('GET', `/credentials/${TYPE}/${DEPLOYED}`);
    assert.equal(credentials.json.has_oauthRefreshToken, true);
    assert.equal(credentials.json.has_oauthClientSecret, true);
  });

  it('a connection not deployed yet keeps its sign-in for its first deploy', async () => {
    assert.ok(stub && red);
    const s = await start({ id: 'new-conn-2' }, admins[2]);
    const done = await callback({ state: s.state, code: 'code-2' }, s.cookie);
    assert.equal(done.outcome, 'signed-in');
    const status = await call('GET', `/mailwire/oauth/status/new-conn-2?type=${TYPE}`);
    assert.equal(status.json.state, 'signed-in');
    assert.ok(fs.existsSync(path.join(red.userDir, 'mailwire-state', 'oauth', 'new-conn-2.json')));

    // Deployed without a refresh token in its credentials, it starts from the stored one.
    const flows = await call('GET', '/flows', undefined, ADMIN);
    const current = (flows.json.flows as Array<Record<string, unknown>>);
    const deployed = current.find((n) => n.id === DEPLOYED) ?? {};
    const added = { ...deployed, id: 'new-conn-2', credentials: { user: ACCOUNT, password: '', oauthClientSecret: SECRET, oauthRefreshToken: '' } };
    const deploy = await call('POST', '/flows', { flows: [...current, added], rev: flows.json.rev }, ADMIN);
    assert.equal(deploy.status, 200, deploy.text);
    const after = await call('GET', `/mailwire/oauth/status/new-conn-2?type=${TYPE}`);
    assert.equal(after.json.state, 'signed-in', JSON.stringify(after.json));
    assert.equal(after.json.account, ACCOUNT);
    const credentials = await call('GET', `/credentials/${TYPE}/new-conn-2`);
    assert.equal(credentials.json.has_oauthRefreshToken, false, 'the credential itself was left empty by the deploy');
  });

  it('device code: the dialog gets the user code and address, never the device code; the runtime polls to signed-in', async () => {
    assert.ok(stub);
    let polls = 0;
    stub.handler = (request) => {
      if (request.path === '/device') return { json: { device_code: DEVICE_CODE, user_code: 'WDJB-MJHT', verification_uri: `${stub?.origin}/activate`, expires_in: 600, interval: 1 } };
      if (request.path === '/token' && request.params.get('device_code') === DEVICE_CODE) {
        polls += 1;
        return polls < 2 ? oauthError('authorization_pending') : tokens({ access_token: ACCESS, refresh_token: REFRESH, expires_in: 3600, id_token: unsignedJwt({ email: ACCOUNT }) });
      }
      return oauthError('invalid_grant');
    };
    const started = await call('POST', '/mailwire/oauth/device', dialog({ id: 'new-conn-3', oauthGrant: 'device-code' }), admins[3]);
    assert.equal(started.status, 200, started.text);
    assert.equal(started.json.userCode, 'WDJB-MJHT');
    assert.equal(started.json.verificationUri, `${stub.origin}/activate`);
    assert.deepEqual(Object.keys(started.json).sort(), ['expiresAt', 'id', 'interval', 'userCode', 'verificationUri']);
    let state = '';
    await until(async () => {
      const poll = await call('GET', `/mailwire/oauth/device/${String(started.json.id)}`, undefined, admins[3]);
      state = String(poll.json.state);
      assert.notEqual(state, 'failed', poll.text);
      return state === 'signed-in';
    }, 30000, () => `device sign-in (last state ${state})`, 500);
    const status = await call('GET', `/mailwire/oauth/status/new-conn-3?type=${TYPE}`);
    assert.equal(status.json.account, ACCOUNT);
  });

  it('start and device allow 10 calls a minute per client', async () => {
    const user = admins[3];
    const statuses: number[] = [];
    // admins[3] started one device sign-in above.
    for (let i = 0; i < 10; i += 1) statuses.push((await call('POST', '/mailwire/oauth/start', dialog(), user)).status);
    assert.equal(statuses.filter((s) => s === 429).length, 1, statuses.join(' '));
    assert.equal(statuses.at(-1), 429);
    assert.equal((await call('POST', '/mailwire/oauth/device', dialog({ oauthGrant: 'device-code' }), user)).status, 429);
  });

  it('nothing any route answered, logged or wrote carries the secret, a token or the device code', async () => {
    assert.ok(red);
    await red.stop();
    const places: Array<[string, string]> = [
      ['log', red.log],
      ...replies.map((r, i): [string, string] => [`reply ${i}`, r]),
      ...filesUnder(red.userDir).map((f): [string, string] => [`file ${path.relative(red?.userDir ?? '', f)}`, fs.readFileSync(f, 'latin1')]),
    ];
    const leaks: string[] = [];
    for (const [where, text] of places) for (const [name, secret] of [['secret', SECRET], ['refresh', REFRESH], ['access', ACCESS], ['device code', DEVICE_CODE]]) if (text.includes(secret)) leaks.push(`${where}: ${name}`);
    assert.deepEqual(leaks, []);
  });
});
