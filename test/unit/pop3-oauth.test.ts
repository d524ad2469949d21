// OAuth2 login of our POP3 client against a scripted server: mechanism choice from CAPA, the
// RFC 5034 line limit, error challenges, one refresh-and-retry, and how -ERR codes are mapped.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, describe, it } from 'node:test';
import { MailError } from '../../src/lib/mail-error';
import type { BearerMechanism } from '../../src/lib/oauth/oauth-settings';
import { Pop3Client } from '../../src/lib/pop3/pop3-client';
import type { Pop3Options } from '../../src/lib/pop3/pop3-client';
import { buildTrustOptions } from '../../src/lib/tls-trust';
import { lineServer } from '../support/fake-servers';
import type { FakeServer } from '../support/fake-servers';
import { FakeTokenSource, fakeToken } from '../support/fake-token-source';

/** What the scripted server does with a token: log in, refuse it, or answer with this exact line. */
type Verdict = 'ok' | 'refuse' | 'refuse-bare' | string;

interface ScriptOptions {
  /** The CAPA SASL line's mechanisms; '' leaves the SASL line out. */
  sasl: string;
  verdict: (token: string, mechanism: string) => Verdict;
}

interface Pending {
  /** AUTH was sent without an initial response; the next line is it. */
  awaiting?: string;
  /** An error challenge went out; the next line is the client's reply to it. */
  challenged?: 'refuse' | 'refuse-bare';
}

/** Every AUTH the server decoded: mechanism and the decoded client response. */
interface Seen {
  mechanism: string;
  decoded: string;
}

async function scriptedPop3(options: ScriptOptions): Promise<FakeServer & { seen: Seen[] }> {
  const state = new WeakMap<net.Socket, Pending>();
  const seen: Seen[] = [];
  const judge = (mechanism: string, base64: string, socket: net.Socket): void => {
    const decoded = Buffer.from(base64, 'base64').toString('utf8');
    seen.push({ mechanism, decoded });
    const token = /auth=Bearer ([^\x01]*)/.exec(decoded)?.[1] ?? '';
    const verdict = options.verdict(token, mechanism);
    if (verdict === 'ok') {
      socket.write('+OK logged in\r\n');
    } else if (verdict === 'refuse' || verdict === 'refuse-bare') {
      const json = mechanism === 'OAUTHBEARER' ? { status: 'invalid_token' } : { status: '401', schemes: 'bearer' };
      state.set(socket, { challenged: verdict });
      socket.write(`+ ${Buffer.from(JSON.stringify(json)).toString('base64')}\r\n`);
    } else {
      socket.write(`${verdict}\r\n`);
    }
  };
  const server = await lineServer('+OK scripted POP3 ready\r\n', (line, socket) => {
    const pending = state.get(socket) ?? {};
    if (pending.awaiting) {
      state.set(socket, {});
      judge(pending.awaiting, line, socket);
      return;
    }
    if (pending.challenged) {
      state.set(socket, {});
      socket.write(pending.challenged === 'refuse' ? '-ERR [AUTH] Authentication failed.\r\n' : '-ERR Authentication failed.\r\n');
      return;
    }
    const auth = /^AUTH (\S+)(?: (\S+))?$/i.exec(line);
    if (/^CAPA$/i.test(line)) {
      socket.write(`+OK\r\nTOP\r\nUIDL\r\n${options.sasl ? `SASL ${options.sasl}\r\n` : ''}.\r\n`);
    } else if (auth && auth[2] !== undefined) {
      judge(auth[1].toUpperCase(), auth[2], socket);
    } else if (auth) {
      state.set(socket, { awaiting: auth[1].toUpperCase() });
      socket.write('+ \r\n');
    } else if (/^STAT$/i.test(line)) {
      socket.write('+OK 0 0\r\n');
    } else if (/^QUIT$/i.test(line)) {
      socket.end('+OK bye\r\n');
    } else {
      socket.write('-ERR unexpected\r\n');
    }
  });
  return { ...server, seen };
}

const servers: FakeServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function script(options: ScriptOptions): Promise<FakeServer & { seen: Seen[] }> {
  const server = await scriptedPop3(options);
  servers.push(server);
  return server;
}

function options(port: number, tokens: FakeTokenSource): Pop3Options {
  return {
    host: '127.0.0.1',
    port,
    security: 'none',
    trust: buildTrustOptions('127.0.0.1', ''),
    user: 'someone@example.test',
    password: '',
    tokens,
    connectTimeoutMs: 5000,
    commandTimeoutMs: 10000,
  };
}

async function logIn(port: number, tokens: FakeTokenSource): Promise<void> {
  const client = await Pop3Client.connect(options(port, tokens));
  try {
    assert.deepEqual(await client.stat(), { count: 0, size: 0 });
    await client.quit();
  } finally {
    client.destroy();
  }
}

async function loginFailure(port: number, tokens: FakeTokenSource): Promise<MailError> {
  try {
    await logIn(port, tokens);
  } catch (err) {
    assert.ok(err instanceof MailError, String(err));
    return err;
  }
  assert.fail('the login should have failed');
}

describe('POP3 OAuth2 login', () => {
  it('a server without OAuth2 in CAPA: a clear auth error, and no token asked for', async () => {
    const server = await script({ sasl: 'PLAIN LOGIN', verdict: () => 'ok' });
    const tokens = new FakeTokenSource([fakeToken('a')]);
    const err = await loginFailure(server.port, tokens);
    assert.equal(err.code, 'auth');
    assert.match(err.message, /does not offer OAuth2 sign-in/);
    assert.equal(tokens.accessTokenCalls, 0);
    assert.ok(!server.received.some((l) => /^AUTH/i.test(l)), server.received.join(' | '));
  });

  it('no SASL line at all is the same clear error', async () => {
    const server = await script({ sasl: '', verdict: () => 'ok' });
    const err = await loginFailure(server.port, new FakeTokenSource([fakeToken('a')]));
    assert.equal(err.code, 'auth');
    assert.match(err.message, /does not offer OAuth2 sign-in/);
  });

  it('prefers OAUTHBEARER, with user, host, port and token, on the AUTH line for a short token', async () => {
    const token = fakeToken('short', 60);
    const server = await script({ sasl: 'PLAIN XOAUTH2 OAUTHBEARER', verdict: (t) => (t === token ? 'ok' : 'refuse') });
    await logIn(server.port, new FakeTokenSource([token]));
    assert.equal(server.seen.length, 1);
    assert.equal(server.seen[0].mechanism, 'OAUTHBEARER');
    assert.equal(server.seen[0].decoded, `n,a=someone@example.test,\x01host=127.0.0.1\x01port=${server.port}\x01auth=Bearer ${token}\x01\x01`);
    const authLine = server.received.find((l) => /^AUTH/i.test(l)) ?? '';
    assert.match(authLine, /^AUTH OAUTHBEARER \S+$/);
    assert.ok(authLine.length + 2 <= 255);
    assert.ok(!server.received.some((l) => /^(USER|PASS)/i.test(l)), 'no USER/PASS with tokens');
  });

  it('uses XOAUTH2 when that is all the server offers', async () => {
    const token = fakeToken('x', 50);
    const server = await script({ sasl: 'XOAUTH2 PLAIN', verdict: (t) => (t === token ? 'ok' : 'refuse') });
    await logIn(server.port, new FakeTokenSource([token]));
    assert.equal(server.seen[0].mechanism, 'XOAUTH2');
    assert.equal(server.seen[0].decoded, `user=someone@example.test\x01auth=Bearer ${token}\x01\x01`);
  });

  it('a 2,000-character token: AUTH alone, then the response after the empty challenge (RFC 5034)', async () => {
    const token = fakeToken('long', 2000);
    const server = await script({ sasl: 'XOAUTH2', verdict: (t) => (t === token ? 'ok' : 'refuse') });
    await logIn(server.port, new FakeTokenSource([token]));
    const at = server.received.indexOf('AUTH XOAUTH2');
    assert.ok(at >= 0, server.received.map((l) => l.slice(0, 30)).join(' | '));
    assert.equal(Buffer.from(server.received[at + 1], 'base64').toString('utf8'), `user=someone@example.test\x01auth=Bearer ${token}\x01\x01`);
  });

  for (const [mechanism, reply] of [['XOAUTH2', ''], ['OAUTHBEARER', 'AQ==']] as Array<[BearerMechanism, string]>) {
    it(`${mechanism}: a refused token is answered with "${reply}", reported once, and a fresh one logs in`, async () => {
      const stale = fakeToken('stale');
      const fresh = fakeToken('fresh');
      const server = await script({ sasl: mechanism, verdict: (t) => (t === fresh ? 'ok' : 'refuse') });
      const tokens = new FakeTokenSource([stale, fresh]);
      await logIn(server.port, tokens);
      assert.deepEqual(tokens.refusals, [stale]);
      assert.equal(tokens.accessTokenCalls, 2);
      assert.deepEqual(server.seen.map((s) => /Bearer ([^\x01]*)/.exec(s.decoded)?.[1]), [stale, fresh]);
      // The line after the first AUTH is the reply to the error challenge, then the second AUTH.
      const first = server.received.findIndex((l) => l.startsWith(`AUTH ${mechanism} `));
      assert.equal(server.received[first + 1], reply);
      assert.ok(server.received[first + 2].startsWith(`AUTH ${mechanism} `));
    });
  }

  it('a second refusal is the auth error, after exactly one refresh', async () => {
    const server = await script({ sasl: 'OAUTHBEARER', verdict: () => 'refuse' });
    const tokens = new FakeTokenSource([fakeToken('one'), fakeToken('two'), fakeToken('three')]);
    const err = await loginFailure(server.port, tokens);
    assert.equal(err.code, 'auth');
    assert.deepEqual(tokens.refusals, [fakeToken('one')]);
    assert.equal(tokens.accessTokenCalls, 2);
    assert.equal(server.seen.length, 2);
  });

  it('a bare -ERR after an invalid_token challenge is a refusal too', async () => {
    const server = await script({ sasl: 'OAUTHBEARER', verdict: () => 'refuse-bare' });
    const tokens = new FakeTokenSource([fakeToken('one'), fakeToken('two')]);
    const err = await loginFailure(server.port, tokens);
    assert.equal(err.code, 'auth');
    assert.match(err.message, /invalid_token/);
    assert.deepEqual(tokens.refusals, [fakeToken('one')]);
  });

  for (const line of ['-ERR [SYS/TEMP] Temporary authentication failure.', '-ERR [UNAVAILABLE] try later']) {
    it(`"${line}" is oauth-unavailable, and the token is not refused`, async () => {
      const server = await script({ sasl: 'XOAUTH2', verdict: () => line });
      const tokens = new FakeTokenSource([fakeToken('one'), fakeToken('two')]);
      const err = await loginFailure(server.port, tokens);
      assert.equal(err.code, 'oauth-unavailable');
      assert.deepEqual(tokens.refusals, []);
      assert.equal(server.seen.length, 1);
    });
  }

  it('-ERR [IN-USE] stays in-use', async () => {
    const server = await script({ sasl: 'XOAUTH2', verdict: () => '-ERR [IN-USE] Mailbox is locked' });
    const tokens = new FakeTokenSource([fakeToken('one')]);
    const err = await loginFailure(server.port, tokens);
    assert.equal(err.code, 'in-use');
    assert.deepEqual(tokens.refusals, []);
  });

  it('a failing token source fails the login with its own error', async () => {
    const server = await script({ sasl: 'XOAUTH2', verdict: () => 'ok' });
    const tokens = new FakeTokenSource([fakeToken('one')]);
    tokens.failure = new MailError('oauth-signin-required', 'refresh token revoked');
    const err = await loginFailure(server.port, tokens);
    assert.equal(err.code, 'oauth-signin-required');
    assert.equal(server.seen.length, 0);
  });

  it('never puts the token into an error message, even when the server echoes it', async () => {
    const token = fakeToken('secret', 64);
    const server = await script({ sasl: 'XOAUTH2', verdict: (t) => `-ERR [AUTH] bad token ${t}` });
    const tokens = new FakeTokenSource([token]);
    const err = await loginFailure(server.port, tokens);
    assert.equal(err.code, 'auth');
    assert.ok(!err.message.includes(token), err.message);
    assert.ok(!err.stack?.includes(token));
    assert.match(err.message, /\*\*\*/);
  });
});
