import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { MailError, type FailureCode } from '../../src/lib/mail-error';
import type { DeviceAuthorization } from '../../src/lib/oauth/oauth-settings';
import {
  clientCredentials,
  exchangeCode,
  pollDeviceAuthorization,
  refresh,
  startAuthorization,
  startDeviceAuthorization,
} from '../../src/lib/oauth/token-client';
import { classifyTokenError } from '../../src/lib/oauth/token-error';
import { authority, selfSigned } from '../support/certificates';
import { TokenEndpointStub, oauthError, refusedPort, tokens, unsignedJwt } from '../support/token-endpoint-stub';

const SECRET = 'client-secret-value';
const execFileAsync = promisify(execFile);

async function failureOf(work: Promise<unknown>): Promise<MailError> {
  try {
    await work;
  } catch (err) {
    assert.ok(err instanceof MailError, `a MailError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

function assertNoSecretIn(err: MailError, ...secrets: string[]): void {
  const text = `${err.message} ${JSON.stringify(err.details)}`;
  for (const secret of secrets) assert.ok(!text.includes(secret), 'no secret in the error');
}

describe('token client against a stub token endpoint', () => {
  let stub: TokenEndpointStub;
  before(async () => {
    stub = await TokenEndpointStub.start();
  });
  after(() => stub.close());

  it('refresh: sends the grant, returns the token set with expiry and the id_token account', async () => {
    stub.queue(tokens({ access_token: 'at-1', refresh_token: 'rt-2', expires_in: 120, id_token: unsignedJwt({ iss: 'https://elsewhere', email: 'someone@example.com' }) }));
    const before = Date.now();
    const set = await refresh(stub.settings({ clientSecret: SECRET }), 'rt-1');
    const request = stub.requests.at(-1)!;
    assert.equal(request.params.get('grant_type'), 'refresh_token');
    assert.equal(request.params.get('refresh_token'), 'rt-1');
    assert.equal(request.params.get('client_id'), 'mailwire-test');
    assert.equal(request.params.get('client_secret'), SECRET);
    assert.equal(set.accessToken, 'at-1');
    assert.equal(set.refreshToken, 'rt-2');
    assert.equal(set.account, 'someone@example.com', 'from the id_token, whatever its issuer');
    assert.ok(set.expiresAt >= before + 120_000 && set.expiresAt <= Date.now() + 120_000);
  });

  it('refresh without rotation keeps no refresh token; account from a JWT access token', async () => {
    stub.queue(tokens({ access_token: unsignedJwt({ preferred_username: 'user@tenant.example' }), expires_in: 60 }));
    const set = await refresh(stub.settings(), 'rt-1');
    assert.equal(set.refreshToken, undefined);
    assert.equal(set.account, 'user@tenant.example');
    assert.equal(stub.requests.at(-1)!.params.get('client_secret'), null, 'a public client sends no secret');
  });

  const classified: Array<[string, () => Parameters<TokenEndpointStub['queue']>[0], FailureCode]> = [
    ['invalid_grant', () => oauthError('invalid_grant'), 'oauth-signin-required'],
    ['invalid_client', () => oauthError('invalid_client', 401), 'oauth-client'],
    ['unauthorized_client', () => oauthError('unauthorized_client'), 'oauth-client'],
    ['HTTP 401 without a body', () => ({ status: 401, text: '' }), 'oauth-client'],
    ['HTTP 500 page', () => ({ status: 500, text: '<html>down</html>' }), 'oauth-unavailable'],
    ['HTTP 503 with a JSON error', () => oauthError('temporarily_unavailable', 503), 'oauth-unavailable'],
    ['HTTP 429', () => ({ status: 429, text: 'slow down' }), 'oauth-unavailable'],
    ['non-JSON 200 (a captive portal)', () => ({ status: 200, text: '<html>login to wifi</html>' }), 'oauth-unavailable'],
    ['JSON 200 without a token', () => ({ status: 200, json: { hello: 'world' } }), 'oauth-unavailable'],
  ];
  for (const [name, answer, code] of classified) {
    it(`classifies ${name} as ${code}`, async () => {
      stub.queue(answer());
      const err = await failureOf(refresh(stub.settings({ clientSecret: SECRET }), 'refresh-secret'));
      assert.equal(err.code, code);
      assertNoSecretIn(err, SECRET, 'refresh-secret');
    });
  }

  it('refresh sends no scope (the grant keeps what was granted), except to Microsoft, whose documentation requires it', async () => {
    stub.queue(tokens({ access_token: 'at-a', expires_in: 60 }));
    await refresh(stub.settings({ clientSecret: SECRET, scope: 'mail openid offline_access' }), 'rt-a');
    assert.equal(stub.requests.at(-1)!.params.get('scope'), null);
    stub.queue(tokens({ access_token: 'at-b', expires_in: 60 }));
    await refresh(stub.settings({ provider: 'microsoft', clientSecret: SECRET, scope: 'offline_access https://outlook.office.com/IMAP.AccessAsUser.All' }), 'rt-b');
    assert.equal(stub.requests.at(-1)!.params.get('scope'), 'offline_access https://outlook.office.com/IMAP.AccessAsUser.All');
  });

  it('a refused port is oauth-unavailable', async () => {
    const port = await refusedPort();
    const err = await failureOf(refresh(stub.settings({ tokenUrl: `http://127.0.0.1:${port}/token` }), 'refresh-secret'));
    assert.equal(err.code, 'oauth-unavailable');
    assertNoSecretIn(err, 'refresh-secret');
  });

  it('a connection dropped mid-request is oauth-unavailable', async () => {
    stub.queue({ reset: true });
    const err = await failureOf(refresh(stub.settings(), 'refresh-secret'));
    assert.equal(err.code, 'oauth-unavailable');
  });

  it('plain http off this machine is refused before any request', async () => {
    const err = await failureOf(refresh(stub.settings({ tokenUrl: 'http://idp.example/token' }), 'rt'));
    assert.equal(err.code, 'invalid-config');
  });

  it('client credentials: grant, scope, secret; no refresh token needed', async () => {
    stub.queue(tokens({ access_token: 'app-token', expires_in: 3599 }));
    const set = await clientCredentials(stub.settings({ grant: 'client-credentials', clientSecret: SECRET, scope: 'https://outlook.office365.com/.default' }));
    const request = stub.requests.at(-1)!;
    assert.equal(request.params.get('grant_type'), 'client_credentials');
    assert.equal(request.params.get('scope'), 'https://outlook.office365.com/.default');
    assert.equal(set.accessToken, 'app-token');
    assert.equal((await failureOf(clientCredentials(stub.settings({ grant: 'client-credentials' })))).code, 'invalid-config');
  });

  it('authorization code: PKCE S256 pair checked by the endpoint, state checked, redirect URI kept', async () => {
    const settings = stub.settings();
    const request = await startAuthorization(settings, 'http://127.0.0.1:1880/mailwire/oauth/callback');
    const url = new URL(request.url);
    assert.equal(url.origin + url.pathname, stub.authorizeUrl);
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('state'), request.state);
    assert.equal(url.searchParams.get('scope'), 'mail');
    assert.equal(url.searchParams.get('access_type'), null, 'Google-only parameters stay with Google');
    assert.ok(!request.url.includes(request.codeVerifier), 'the verifier never leaves the runtime');
    const challenge = url.searchParams.get('code_challenge');
    stub.handler = (r) => {
      const verifier = r.params.get('code_verifier') ?? '';
      const ok = r.params.get('grant_type') === 'authorization_code' && r.params.get('code') === 'code-1'
        && createHash('sha256').update(verifier).digest('base64url') === challenge
        && r.params.get('redirect_uri') === 'http://127.0.0.1:1880/mailwire/oauth/callback';
      return ok ? tokens({ access_token: 'at-code', refresh_token: 'rt-code', expires_in: 3600 }) : oauthError('invalid_grant');
    };
    // The callback as the runtime saw it: another origin (a proxy) and an `iss` (RFC 9207).
    const seen = new URL(`http://proxy.local/admin/cb?code=code-1&state=${request.state}&iss=${encodeURIComponent('https://idp.test')}`);
    const set = await exchangeCode(settings, request, seen);
    assert.equal(set.accessToken, 'at-code');
    assert.equal(set.refreshToken, 'rt-code');
  });

  it('authorization code: a state mismatch is rejected before any request', async () => {
    const settings = stub.settings();
    const request = await startAuthorization(settings, 'http://127.0.0.1:1880/cb');
    const count = stub.requests.length;
    const err = await failureOf(exchangeCode(settings, request, new URL('http://127.0.0.1:1880/cb?code=c&state=forged')));
    assert.equal(err.code, 'oauth-signin-required');
    assert.equal(stub.requests.length, count);
    const missing = await failureOf(exchangeCode(settings, request, new URL('http://127.0.0.1:1880/cb?code=c')));
    assert.equal(missing.code, 'oauth-signin-required');
  });

  it('authorization code: the user declining is sign-in-required', async () => {
    const settings = stub.settings();
    const request = await startAuthorization(settings, 'http://127.0.0.1:1880/cb');
    const err = await failureOf(exchangeCode(settings, request, new URL(`http://127.0.0.1:1880/cb?error=access_denied&state=${request.state}`)));
    assert.equal(err.code, 'oauth-signin-required');
  });

  it('Google: access_type=offline and prompt=consent so a refresh token comes back', async () => {
    const request = await startAuthorization(stub.settings({ provider: 'google' }), 'http://127.0.0.1:1880/cb');
    const url = new URL(request.url);
    assert.equal(url.searchParams.get('access_type'), 'offline');
    assert.equal(url.searchParams.get('prompt'), 'consent');
  });

  it('device code: pending, then slow_down (interval raised by 5 s), then tokens', async () => {
    stub.queue({ json: { device_code: 'dev-1', user_code: 'ABCD-EFGH', verification_uri: 'https://idp.test/device', expires_in: 600, interval: 2 } });
    const settings = stub.settings({ grant: 'device-code' });
    const device = await startDeviceAuthorization(settings);
    assert.equal(stub.requests.at(-1)!.path, '/device');
    assert.equal(stub.requests.at(-1)!.params.get('scope'), 'mail');
    assert.deepEqual([device.userCode, device.verificationUri, device.interval, device.deviceCode], ['ABCD-EFGH', 'https://idp.test/device', 2, 'dev-1']);
    stub.queue(oauthError('authorization_pending'), oauthError('slow_down'), tokens({ access_token: 'at-device', refresh_token: 'rt-device', expires_in: 3600 }));
    const waits: number[] = [];
    const first = stub.requests.length;
    const set = await pollDeviceAuthorization(settings, device, undefined, async (ms) => {
      waits.push(ms);
    });
    assert.equal(set.accessToken, 'at-device');
    assert.deepEqual(waits, [2000, 2000, 7000], 'the interval before every poll, raised after slow_down');
    assert.equal(device.interval, 7);
    const polls = stub.requests.slice(first);
    assert.equal(polls.length, 3);
    for (const poll of polls) {
      assert.equal(poll.params.get('grant_type'), 'urn:ietf:params:oauth:grant-type:device_code');
      assert.equal(poll.params.get('device_code'), 'dev-1');
    }
  });

  it('device code: expired_token and access_denied need a new sign-in; a passed expiry stops polling', async () => {
    const settings = stub.settings({ grant: 'device-code' });
    const device = (): DeviceAuthorization => ({ userCode: 'U', verificationUri: 'https://x', expiresAt: Date.now() + 60_000, interval: 1, deviceCode: 'd' });
    const noWait = async (): Promise<void> => {};
    stub.queue(oauthError('expired_token'));
    assert.equal((await failureOf(pollDeviceAuthorization(settings, device(), undefined, noWait))).code, 'oauth-signin-required');
    stub.queue(oauthError('access_denied'));
    assert.equal((await failureOf(pollDeviceAuthorization(settings, device(), undefined, noWait))).code, 'oauth-signin-required');
    const count = stub.requests.length;
    const dead = { ...device(), expiresAt: Date.now() - 1 };
    assert.equal((await failureOf(pollDeviceAuthorization(settings, dead, undefined, noWait))).code, 'oauth-signin-required');
    assert.equal(stub.requests.length, count, 'no poll after expiry');
  });

  it('device code: aborting the signal ends the polling as closed', async () => {
    const controller = new AbortController();
    controller.abort();
    const device: DeviceAuthorization = { userCode: 'U', verificationUri: 'https://x', expiresAt: Date.now() + 60_000, interval: 5, deviceCode: 'd' };
    const err = await failureOf(pollDeviceAuthorization(stub.settings({ grant: 'device-code' }), device, controller.signal));
    assert.equal(err.code, 'closed');
  });
});

describe('token error classification', () => {
  // Shapes fetch and openid-client produce for failures a loopback stub cannot cause quickly.
  const fetchFailed = (code: string): Error => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
  it('DNS failures, resets and timeouts are oauth-unavailable', () => {
    for (const code of ['ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']) {
      assert.equal(classifyTokenError(fetchFailed(code)).code, 'oauth-unavailable', code);
    }
    const timedOut = Object.assign(new Error('operation timed out'), { name: 'ClientError', code: 'OAUTH_TIMEOUT' });
    assert.equal(classifyTokenError(timedOut).code, 'oauth-unavailable');
  });
  it('certificate failures keep their TLS code', () => {
    assert.equal(classifyTokenError(fetchFailed('CERT_HAS_EXPIRED')).code, 'tls-untrusted');
    assert.equal(classifyTokenError(fetchFailed('ERR_TLS_CERT_ALTNAME_INVALID')).code, 'tls-hostname');
  });
});

describe('token client over TLS', () => {
  it('a provider whose CA is added with NODE_EXTRA_CA_CERTS is trusted, as by any Node.js HTTPS client', async () => {
    const ca = authority();
    const stub = await TokenEndpointStub.start({ tls: ca.issue('localhost') });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-ca-'));
    try {
      const caFile = path.join(dir, 'ca.pem');
      fs.writeFileSync(caFile, ca.cert);
      stub.handler = () => tokens({ access_token: 'at-tls', expires_in: 60 });
      const settings = stub.settings({ tokenUrl: stub.tokenUrl.replace('127.0.0.1', 'localhost') });
      // The extra CA is read once at process start, so the request is made by a child process.
      const script = `require(${JSON.stringify(path.join(__dirname, '../../src/lib/oauth/token-client.js'))})
        .refresh(${JSON.stringify(settings)}, 'rt')
        .then((t) => process.stdout.write(t.accessToken), (e) => process.stdout.write('failed ' + e.code));`;
      const { stdout } = await execFileAsync(process.execPath, ['-e', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile } });
      assert.equal(stdout, 'at-tls');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await stub.close();
    }
  });

  it('a provider certificate we cannot verify is tls-untrusted, never accepted', async () => {
    const stub = await TokenEndpointStub.start({ tls: selfSigned('localhost') });
    try {
      stub.handler = () => tokens({ access_token: 'must-not-arrive' });
      const err = await failureOf(refresh(stub.settings({ clientSecret: SECRET }), 'refresh-secret'));
      assert.equal(err.code, 'tls-untrusted');
      assertNoSecretIn(err, SECRET, 'refresh-secret');
      assert.equal(stub.requests.length, 0, 'nothing was sent to it');
    } finally {
      await stub.close();
    }
  });
});
