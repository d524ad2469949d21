// OAuth2 login through imapflow against a scripted IMAP server: the mechanism imapflow picks, one
// refresh-and-retry, NO [UNAVAILABLE] told from a refusal, and the token of a session that ended
// with Exchange's "AccessTokenExpired" BYE marked refused.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, describe, it } from 'node:test';
import type { ReceiveSettings } from '../../src/lib/connection-options';
import { connectImap, refuseExpiredSessionToken } from '../../src/lib/imap/imap-client';
import { MailError } from '../../src/lib/mail-error';
import { lineServer } from '../support/fake-servers';
import type { FakeServer } from '../support/fake-servers';
import { FakeTokenSource, fakeToken } from '../support/fake-token-source';

type Verdict = 'ok' | 'refuse' | 'unavailable';

interface Seen {
  mechanism: string;
  token: string;
}

interface Scripted extends FakeServer {
  seen: Seen[];
  /** The sockets of logged-in sessions, to end one from the server side. */
  sessions: net.Socket[];
}

async function scriptedImap(capabilities: string, verdict: (token: string) => Verdict): Promise<Scripted> {
  const seen: Seen[] = [];
  const sessions: net.Socket[] = [];
  const challenged = new WeakMap<net.Socket, string>();
  const server = await lineServer(`* OK [CAPABILITY IMAP4rev1 ${capabilities}] scripted IMAP ready\r\n`, (line, socket) => {
    const tag = challenged.get(socket);
    if (tag !== undefined) {
      challenged.delete(socket);
      socket.write(`${tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n`);
      return;
    }
    const [t, command = '', mechanism = '', response = ''] = line.split(' ');
    if (/^AUTHENTICATE$/i.test(command)) {
      const decoded = Buffer.from(response, 'base64').toString('utf8');
      const token = /auth=Bearer ([^\x01]*)/.exec(decoded)?.[1] ?? '';
      seen.push({ mechanism: mechanism.toUpperCase(), token });
      const v = verdict(token);
      if (v === 'ok') {
        sessions.push(socket);
        socket.write(`${t} OK [CAPABILITY IMAP4rev1] Logged in\r\n`);
      } else if (v === 'unavailable') {
        socket.write(`${t} NO [UNAVAILABLE] Temporary authentication failure.\r\n`);
      } else {
        challenged.set(socket, t);
        socket.write(`+ ${Buffer.from(JSON.stringify({ status: 'invalid_token' })).toString('base64')}\r\n`);
      }
    } else if (/^CAPABILITY$/i.test(command)) {
      socket.write(`* CAPABILITY IMAP4rev1 ${capabilities}\r\n${t} OK done\r\n`);
    } else if (/^LOGOUT$/i.test(command)) {
      socket.end(`* BYE bye\r\n${t} OK done\r\n`);
    } else {
      socket.write(`${t} OK done\r\n`);
    }
  });
  return { ...server, seen, sessions };
}

const servers: FakeServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function script(capabilities: string, verdict: (token: string) => Verdict): Promise<Scripted> {
  const server = await scriptedImap(capabilities, verdict);
  servers.push(server);
  return server;
}

function settings(port: number, tokens: FakeTokenSource): ReceiveSettings {
  return { protocol: 'imap', host: '127.0.0.1', port, security: 'none', certificate: '', user: 'someone@example.test', password: '', tokens };
}

const TIMEOUTS = { connectMs: 5000, greetingMs: 5000, idleSocketMs: 10000 };

async function failure(port: number, tokens: FakeTokenSource): Promise<MailError> {
  try {
    const client = await connectImap(settings(port, tokens), TIMEOUTS, () => undefined);
    client.close();
  } catch (err) {
    assert.ok(err instanceof MailError, String(err));
    return err;
  }
  assert.fail('the login should have failed');
}

describe('IMAP OAuth2 login', () => {
  it('logs in with OAUTHBEARER when offered, and never sends the password', async () => {
    const token = fakeToken('imap');
    const server = await script('AUTH=XOAUTH2 AUTH=OAUTHBEARER SASL-IR', (t) => (t === token ? 'ok' : 'refuse'));
    const tokens = new FakeTokenSource([token]);
    const client = await connectImap({ ...settings(server.port, tokens), password: 'not-this' }, TIMEOUTS, () => undefined);
    await client.logout();
    assert.deepEqual(server.seen, [{ mechanism: 'OAUTHBEARER', token }]);
    assert.ok(!server.received.some((l) => l.includes('not-this')));
    assert.deepEqual(tokens.refusals, []);
  });

  it('a refused token is reported once and a fresh one logs in on a new connection', async () => {
    const stale = fakeToken('stale');
    const fresh = fakeToken('fresh');
    const server = await script('AUTH=XOAUTH2 SASL-IR', (t) => (t === fresh ? 'ok' : 'refuse'));
    const tokens = new FakeTokenSource([stale, fresh]);
    const client = await connectImap(settings(server.port, tokens), TIMEOUTS, () => undefined);
    await client.logout();
    assert.deepEqual(server.seen, [{ mechanism: 'XOAUTH2', token: stale }, { mechanism: 'XOAUTH2', token: fresh }]);
    assert.deepEqual(tokens.refusals, [stale]);
  });

  it('a second refusal is the auth error, after exactly one refresh', async () => {
    const server = await script('AUTH=XOAUTH2 SASL-IR', () => 'refuse');
    const tokens = new FakeTokenSource([fakeToken('one'), fakeToken('two'), fakeToken('three')]);
    const err = await failure(server.port, tokens);
    assert.equal(err.code, 'auth');
    assert.deepEqual(tokens.refusals, [fakeToken('one')]);
    assert.equal(server.seen.length, 2);
    assert.ok(!err.message.includes(fakeToken('one')) && !err.message.includes(fakeToken('two')), err.message);
  });

  it('NO [UNAVAILABLE] is oauth-unavailable, and the token is not refused', async () => {
    const server = await script('AUTH=XOAUTH2 AUTH=OAUTHBEARER SASL-IR', () => 'unavailable');
    const tokens = new FakeTokenSource([fakeToken('one'), fakeToken('two')]);
    const err = await failure(server.port, tokens);
    assert.equal(err.code, 'oauth-unavailable');
    assert.deepEqual(tokens.refusals, []);
    assert.equal(server.seen.length, 1);
  });

  it('a server without OAuth2 mechanisms: a clear auth error, no retry', async () => {
    const server = await script('AUTH=PLAIN SASL-IR', () => 'ok');
    const tokens = new FakeTokenSource([fakeToken('one'), fakeToken('two')]);
    const err = await failure(server.port, tokens);
    assert.equal(err.code, 'auth');
    assert.match(err.message, /does not offer OAuth2 sign-in/);
    assert.deepEqual(tokens.refusals, []);
  });

  it('a session ended with "* BYE ... AccessTokenExpired" marks its token refused; another BYE does not', async () => {
    const first = fakeToken('first');
    const second = fakeToken('second');
    const server = await script('AUTH=XOAUTH2 SASL-IR', () => 'ok');
    const tokens = new FakeTokenSource([first, second]);
    const ended = async (bye: string): Promise<boolean> => {
      const client = await connectImap(settings(server.port, tokens), TIMEOUTS, () => undefined);
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      server.sessions[server.sessions.length - 1].end(`${bye}\r\n`);
      await closed;
      return refuseExpiredSessionToken(client, tokens);
    };
    assert.equal(await ended('* BYE Server shutting down'), false);
    assert.deepEqual(tokens.refusals, []);
    assert.equal(await ended('* BYE Session invalidated - AccessTokenExpired'), true);
    assert.deepEqual(tokens.refusals, [first]);
    assert.equal(tokens.current, second);
  });
});
