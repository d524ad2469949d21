import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MailError } from '../../src/lib/mail-error';
import type { OAuthSettings, TokenSet } from '../../src/lib/oauth/oauth-settings';
import type { TokenGrants } from '../../src/lib/oauth/token-client';
import { TokenProvider, refreshMargin, type TokenStatus } from '../../src/lib/oauth/token-provider';
import { TokenEndpointStub, oauthError, tokens } from '../support/token-endpoint-stub';

const SETTINGS: OAuthSettings = {
  provider: 'custom',
  tenant: 'common',
  grant: 'authorization-code',
  clientId: 'c',
  clientSecret: '',
  authorizeUrl: 'https://idp.test/a',
  tokenUrl: 'https://idp.test/t',
  deviceUrl: '',
  scope: 'mail',
};

/** A scripted grant on a fake clock: each refresh answers from `answers`, tokens living `lifetimeMs`. */
function fakeGrants(clock: { now: number }, lifetimeMs: number) {
  const calls: string[] = [];
  let issued = 0;
  const grants: TokenGrants = {
    async refresh(_settings, refreshToken) {
      calls.push(refreshToken);
      issued += 1;
      return { accessToken: `at-${issued}`, expiresAt: clock.now + lifetimeMs };
    },
    async clientCredentials() {
      calls.push('client-credentials');
      issued += 1;
      return { accessToken: `app-${issued}`, expiresAt: clock.now + lifetimeMs };
    },
  };
  return { grants, calls };
}

async function failureOf(work: Promise<unknown>): Promise<MailError> {
  try {
    await work;
  } catch (err) {
    assert.ok(err instanceof MailError);
    return err;
  }
  assert.fail('expected a failure');
}

describe('refresh margin', () => {
  it('a tenth of the lifetime, at least 60 s, at most half the lifetime', () => {
    assert.equal(refreshMargin(3600_000), 360_000);
    assert.equal(refreshMargin(300_000), 60_000);
    assert.equal(refreshMargin(90_000), 45_000);
    assert.equal(refreshMargin(3_000), 1_500, 'a 3 s token is usable for its first 1.5 s');
  });
});

describe('token provider with a scripted grant and clock', () => {
  it('reuses a token while it stays valid past the margin, refreshes ahead of expiry', async () => {
    const clock = { now: 1_000_000 };
    const { grants, calls } = fakeGrants(clock, 3600_000);
    const provider = new TokenProvider(SETTINGS, { refreshToken: 'rt', saveRefreshToken: async () => {}, now: () => clock.now, client: grants });
    assert.equal(await provider.accessToken(), 'at-1');
    clock.now += 3000_000;
    assert.equal(await provider.accessToken(), 'at-1', '10 minutes left: still handed out');
    clock.now += 300_000;
    assert.equal(await provider.accessToken(), 'at-2', '5 minutes left, under the 6-minute margin: refreshed');
    assert.equal(calls.length, 2);
  });

  it('a token living 3 s is used once, then refreshed', async () => {
    const clock = { now: 0 };
    const { grants, calls } = fakeGrants(clock, 3_000);
    const provider = new TokenProvider(SETTINGS, { refreshToken: 'rt', saveRefreshToken: async () => {}, now: () => clock.now, client: grants });
    assert.equal(await provider.accessToken(), 'at-1');
    clock.now += 1_000;
    assert.equal(await provider.accessToken(), 'at-1');
    clock.now += 1_000;
    assert.equal(await provider.accessToken(), 'at-2');
    assert.equal(calls.length, 2);
  });

  it('a refresh ahead of expiry that fails for a passing reason keeps the still-valid token', async () => {
    const clock = { now: 0 };
    let fail = false;
    const grants: TokenGrants = {
      async refresh() {
        if (fail) throw new MailError('oauth-unavailable', 'down');
        return { accessToken: 'at-1', expiresAt: clock.now + 3600_000 };
      },
      clientCredentials: () => Promise.reject(new Error('unused')),
    };
    const provider = new TokenProvider(SETTINGS, { refreshToken: 'rt', saveRefreshToken: async () => {}, now: () => clock.now, client: grants });
    await provider.accessToken();
    fail = true;
    clock.now += 3500_000;
    assert.equal(await provider.accessToken(), 'at-1');
    assert.equal(provider.status().state, 'unavailable');
    clock.now += 200_000;
    assert.equal((await failureOf(provider.accessToken())).code, 'oauth-unavailable', 'expired: nothing left to hand out');
    fail = false;
    assert.equal(await provider.accessToken(), 'at-1', 'the next call tries again');
    assert.equal(provider.status().state, 'signed-in');
  });

  it('client credentials need no refresh token', async () => {
    const clock = { now: 0 };
    const { grants, calls } = fakeGrants(clock, 3600_000);
    const provider = new TokenProvider({ ...SETTINGS, grant: 'client-credentials', clientSecret: 's' }, { saveRefreshToken: async () => {}, now: () => clock.now, client: grants });
    assert.equal(provider.status().state, 'signed-in');
    assert.equal(await provider.accessToken(), 'app-1');
    assert.deepEqual(calls, ['client-credentials']);
  });

  it('no refresh token: sign-in required without any request', async () => {
    const clock = { now: 0 };
    const { grants, calls } = fakeGrants(clock, 3600_000);
    const provider = new TokenProvider(SETTINGS, { saveRefreshToken: async () => {}, client: grants });
    assert.equal(provider.status().state, 'not-signed-in');
    assert.equal((await failureOf(provider.accessToken())).code, 'oauth-signin-required');
    assert.equal(calls.length, 0);
  });

  it('signedIn() saves the refresh token and hands out the access token it came with', async () => {
    const clock = { now: 0 };
    const { grants, calls } = fakeGrants(clock, 3600_000);
    const saved: string[] = [];
    const statuses: TokenStatus[] = [];
    const provider = new TokenProvider(SETTINGS, { saveRefreshToken: async (t) => void saved.push(t), now: () => clock.now, client: grants });
    provider.onStatus((s) => statuses.push(s));
    const set: TokenSet = { accessToken: 'at-signin', refreshToken: 'rt-signin', expiresAt: 3600_000, account: 'me@example.com' };
    await provider.signedIn(set);
    assert.deepEqual(saved, ['rt-signin']);
    assert.equal(await provider.accessToken(), 'at-signin');
    assert.equal(calls.length, 0);
    assert.deepEqual(provider.status(), { state: 'signed-in', account: 'me@example.com', accessTokenExpiresAt: 3600_000 });
    assert.equal(statuses.at(-1)?.state, 'signed-in');
  });
});

describe('token provider and a sign-in during a refresh', () => {
  it('the answer to a refresh of the old grant is dropped, its refresh token never saved', async () => {
    let answer: (tokens: TokenSet) => void = () => {};
    const grants: TokenGrants = {
      refresh: () => new Promise<TokenSet>((resolve) => {
        answer = resolve;
      }),
      clientCredentials: () => Promise.reject(new Error('unused')),
    };
    const saved: string[] = [];
    const provider = new TokenProvider(SETTINGS, { refreshToken: 'rt-old', saveRefreshToken: async (t) => void saved.push(t), client: grants });
    const waiting = provider.accessToken();
    await provider.signedIn({ accessToken: 'at-new', refreshToken: 'rt-new', expiresAt: Date.now() + 3600_000 });
    answer({ accessToken: 'at-old-grant', refreshToken: 'rt-old-rotated', expiresAt: Date.now() + 3600_000 });
    assert.equal(await waiting, 'at-new');
    assert.equal(await provider.accessToken(), 'at-new');
    assert.deepEqual(saved, ['rt-new']);
  });
});

describe('token provider against a stub token endpoint', () => {
  let stub: TokenEndpointStub;
  before(async () => {
    stub = await TokenEndpointStub.start();
  });
  after(() => stub.close());

  /** A provider that rotates refresh tokens: rt-N buys at-N+1 and rt-N+1; a retired one is invalid_grant. */
  function rotatingEndpoint(): { live: () => string } {
    let generation = 0;
    stub.handler = (r) => {
      if (r.params.get('refresh_token') !== `rt-${generation}`) return oauthError('invalid_grant');
      generation += 1;
      return tokens({ access_token: `at-${generation}`, refresh_token: `rt-${generation}`, expires_in: 3600, });
    };
    return { live: () => `rt-${generation}` };
  }

  it('single flight: 10 concurrent callers, one refresh request', async () => {
    rotatingEndpoint();
    stub.queue({ ...tokens({ access_token: 'at-shared', expires_in: 3600 }), delayMs: 50 });
    const first = stub.to('/token').length;
    const provider = new TokenProvider(stub.settings(), { refreshToken: 'rt-0', saveRefreshToken: async () => {} });
    const handed = await Promise.all(Array.from({ length: 10 }, () => provider.accessToken()));
    assert.deepEqual(new Set(handed), new Set(['at-shared']));
    assert.equal(stub.to('/token').length - first, 1);
  });

  it('rotation: the new refresh token is saved before its access token is handed out; the old one is never sent again', async () => {
    const endpoint = rotatingEndpoint();
    const events: string[] = [];
    const provider = new TokenProvider(stub.settings(), {
      refreshToken: 'rt-0',
      saveRefreshToken: async (token) => {
        events.push(`saved ${token}`);
      },
    });
    const first = stub.to('/token').length;
    events.push(`got ${await provider.accessToken()}`);
    assert.ok(provider.refused('at-1'));
    events.push(`got ${await provider.accessToken()}`);
    assert.deepEqual(events, ['saved rt-1', 'got at-1', 'saved rt-2', 'got at-2']);
    const sent = stub.to('/token').slice(first).map((r) => r.params.get('refresh_token'));
    assert.deepEqual(sent, ['rt-0', 'rt-1'], 'each refresh token sent once');
    assert.equal(endpoint.live(), 'rt-2');
  });

  it('refused(): one refresh per refused token, however many sessions refuse it', async () => {
    rotatingEndpoint();
    const provider = new TokenProvider(stub.settings(), { refreshToken: 'rt-0', saveRefreshToken: async () => {} });
    const token = await provider.accessToken();
    const first = stub.to('/token').length;
    assert.equal(provider.refused(token), true);
    assert.equal(provider.refused(token), false, 'the second refusal of the same token');
    const next = await Promise.all([provider.accessToken(), provider.accessToken()]);
    assert.notEqual(next[0], token);
    assert.equal(next[0], next[1]);
    assert.equal(provider.refused(token), false, 'already replaced');
    assert.equal(await provider.accessToken(), next[0]);
    assert.equal(stub.to('/token').length - first, 1);
  });

  it('sign-in required: remembered, fails fast without a request until a new refresh token', async () => {
    rotatingEndpoint();
    const provider = new TokenProvider(stub.settings(), { refreshToken: 'revoked', saveRefreshToken: async () => {} });
    const statuses: string[] = [];
    provider.onStatus((s) => statuses.push(s.state));
    assert.equal((await failureOf(provider.accessToken())).code, 'oauth-signin-required');
    const count = stub.to('/token').length;
    for (let i = 0; i < 5; i += 1) assert.equal((await failureOf(provider.accessToken())).code, 'oauth-signin-required');
    assert.equal(stub.to('/token').length, count, 'no request while the grant is known dead');
    assert.equal(provider.status().state, 'signin-required');
    provider.setRefreshToken('rt-0');
    assert.equal(await provider.accessToken(), 'at-1');
    assert.deepEqual(statuses, ['signin-required', 'signed-in', 'signed-in']);
  });

  it('provider unavailable: reported, and the next call tries again', async () => {
    const provider = new TokenProvider(stub.settings(), { refreshToken: 'rt', saveRefreshToken: async () => {} });
    stub.queue({ status: 503, text: 'maintenance' }, tokens({ access_token: 'at-back', expires_in: 3600 }));
    assert.equal((await failureOf(provider.accessToken())).code, 'oauth-unavailable');
    assert.deepEqual(provider.status(), { state: 'unavailable', failure: 'oauth-unavailable' });
    assert.equal(await provider.accessToken(), 'at-back');
  });

  it('a rotated refresh token that cannot be saved is kept in memory, and no access token is handed out', async () => {
    rotatingEndpoint();
    let saveFails = true;
    const saved: string[] = [];
    const provider = new TokenProvider(stub.settings(), {
      refreshToken: 'rt-0',
      saveRefreshToken: async (token) => {
        if (saveFails) throw new Error('disk full');
        saved.push(token);
      },
    });
    assert.equal((await failureOf(provider.accessToken())).code, 'oauth-unavailable');
    saveFails = false;
    assert.equal(await provider.accessToken(), 'at-2', 'refreshed with rt-1, the one the failed save held');
    assert.deepEqual(saved, ['rt-2']);
  });
});
