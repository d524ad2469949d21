// OAuth2 sending through nodemailer against a scripted SMTP server: the token comes from our
// provisioning callback, a refused token is reported and replaced once, a burst of pooled
// connections shares one refresh, and 454 / token-source failures keep their own codes.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, describe, it } from 'node:test';
import type { SendSettings } from '../../src/lib/connection-options';
import { MailError } from '../../src/lib/mail-error';
import { composeMail } from '../../src/lib/smtp/outgoing-mail';
import { SmtpSender } from '../../src/lib/smtp/smtp-sender';
import { validateSend } from '../../src/lib/validate-send';
import { lineServer } from '../support/fake-servers';
import type { FakeServer } from '../support/fake-servers';
import { FakeTokenSource, fakeToken } from '../support/fake-token-source';

type Verdict = 'ok' | 'refuse' | 'unavailable';

interface Session {
  inData?: boolean;
  challenged?: boolean;
}

interface Scripted extends FakeServer {
  stats: {
    /** The token of every AUTH XOAUTH2, in arrival order. */
    tokens: string[];
    delivered: number;
  };
}

async function scriptedSmtp(verdict: (token: string) => Verdict): Promise<Scripted> {
  const sessions = new WeakMap<net.Socket, Session>();
  const result = { tokens: [] as string[], delivered: 0 };
  const server = await lineServer('220 scripted ESMTP\r\n', (line, socket) => {
    const session = sessions.get(socket) ?? {};
    sessions.set(socket, session);
    if (session.inData) {
      if (line === '.') {
        session.inData = false;
        result.delivered += 1;
        socket.write('250 2.0.0 queued\r\n');
      }
      return;
    }
    if (session.challenged) {
      session.challenged = false;
      socket.write('535 5.7.8 Authentication failed\r\n');
      return;
    }
    const auth = /^AUTH XOAUTH2 (\S+)$/i.exec(line);
    if (/^(EHLO|HELO)/i.test(line)) {
      socket.write('250-scripted\r\n250-AUTH PLAIN XOAUTH2\r\n250 8BITMIME\r\n');
    } else if (auth) {
      const token = /auth=Bearer ([^\x01]*)/.exec(Buffer.from(auth[1], 'base64').toString('utf8'))?.[1] ?? '';
      result.tokens.push(token);
      const v = verdict(token);
      if (v === 'ok') socket.write('235 2.7.0 Authentication successful\r\n');
      else if (v === 'unavailable') socket.write('454 4.7.0 Temporary authentication failure\r\n');
      else {
        session.challenged = true;
        socket.write(`334 ${Buffer.from(JSON.stringify({ status: '401', schemes: 'bearer' })).toString('base64')}\r\n`);
      }
    } else if (/^DATA$/i.test(line)) {
      session.inData = true;
      socket.write('354 go ahead\r\n');
    } else if (/^QUIT$/i.test(line)) {
      socket.end('221 bye\r\n');
    } else {
      socket.write('250 ok\r\n');
    }
  });
  return { ...server, stats: result };
}

const fakes: FakeServer[] = [];
const senders: SmtpSender[] = [];
after(async () => {
  for (const s of senders) s.close();
  await Promise.all(fakes.map((f) => f.close()));
});

async function script(verdict: (token: string) => Verdict): Promise<Scripted> {
  const server = await scriptedSmtp(verdict);
  fakes.push(server);
  return server;
}

function settings(port: number, tokens: FakeTokenSource): SendSettings {
  return { host: '127.0.0.1', port, security: 'none', certificate: '', user: 'someone@example.test', password: 'not-this', tokens };
}

function sender(port: number, tokens: FakeTokenSource, maxConnections = 1): SmtpSender {
  const s = new SmtpSender(settings(port, tokens), { maxConnections, retryDelaysMs: [] });
  senders.push(s);
  return s;
}

const mail = (n = 0) => composeMail({ from: 'someone@example.test', to: 'rcpt@example.test', cc: '', bcc: '', subject: `oauth ${n}`, text: 'body' }, {}, 'consumed');

async function sendFailure(s: SmtpSender): Promise<MailError> {
  try {
    await s.send(mail());
  } catch (err) {
    assert.ok(err instanceof MailError, String(err));
    return err;
  }
  assert.fail('the send should have failed');
}

describe('SMTP OAuth2 sending', () => {
  it('sends with the token from the source, never the password', async () => {
    const token = fakeToken('smtp');
    const server = await script((t) => (t === token ? 'ok' : 'refuse'));
    const tokens = new FakeTokenSource([token]);
    await sender(server.port, tokens).send(mail());
    assert.deepEqual(server.stats.tokens, [token]);
    assert.equal(server.stats.delivered, 1);
    assert.ok(!server.received.some((l) => l.includes(Buffer.from('not-this').toString('base64')) || l.includes('not-this')));
  });

  it('a refused token is reported (the one that was refused) and a fresh one sends', async () => {
    const stale = fakeToken('stale');
    const fresh = fakeToken('fresh');
    const server = await script((t) => (t === fresh ? 'ok' : 'refuse'));
    const tokens = new FakeTokenSource([stale, fresh]);
    await sender(server.port, tokens).send(mail());
    assert.deepEqual(server.stats.tokens, [stale, fresh]);
    assert.deepEqual(tokens.refusals, [stale]);
    assert.equal(server.stats.delivered, 1);
  });

  it('a second refusal is the auth error, after exactly one refresh', async () => {
    const server = await script(() => 'refuse');
    const tokens = new FakeTokenSource([fakeToken('one'), fakeToken('two'), fakeToken('three')]);
    const err = await sendFailure(sender(server.port, tokens));
    assert.equal(err.code, 'auth');
    assert.deepEqual(tokens.refusals, [fakeToken('one')]);
    assert.equal(server.stats.tokens.length, 2);
    assert.ok(!err.message.includes(fakeToken('one')) && !err.message.includes(fakeToken('two')), err.message);
  });

  it('a burst of pooled sends while the token is replaced: one refresh, every mail sent', async () => {
    const stale = fakeToken('stale');
    const fresh = fakeToken('fresh');
    const server = await script((t) => (t === fresh ? 'ok' : 'refuse'));
    // The third token would only be handed out after a second, needless refresh.
    const tokens = new FakeTokenSource([stale, fresh, fakeToken('needless')], 20);
    const s = sender(server.port, tokens, 3);
    await Promise.all(Array.from({ length: 8 }, (_, n) => s.send(mail(n))));
    assert.equal(server.stats.delivered, 8);
    assert.equal(tokens.current, fresh);
    assert.ok(server.stats.tokens.every((t) => t === stale || t === fresh), server.stats.tokens.join(' '));
    assert.ok(tokens.refusals.every((t) => t === stale));
  });

  it('454 4.7.0 (the server cannot check tokens now) is oauth-unavailable, the token not refused', async () => {
    const server = await script(() => 'unavailable');
    const tokens = new FakeTokenSource([fakeToken('one'), fakeToken('two')]);
    const err = await sendFailure(sender(server.port, tokens));
    assert.equal(err.code, 'oauth-unavailable');
    assert.deepEqual(tokens.refusals, []);
  });

  it('a token source that fails keeps its own code through nodemailer', async () => {
    const server = await script(() => 'ok');
    const tokens = new FakeTokenSource([fakeToken('one')]);
    tokens.failure = new MailError('oauth-signin-required', 'refresh token revoked');
    const err = await sendFailure(sender(server.port, tokens));
    assert.equal(err.code, 'oauth-signin-required');
    assert.equal(server.stats.tokens.length, 0);
  });

  it('Validate logs in with a token, and reports the token source failure by its code', async () => {
    const token = fakeToken('validate');
    const server = await script((t) => (t === token ? 'ok' : 'refuse'));
    const tokens = new FakeTokenSource([token]);
    const ok = await validateSend(settings(server.port, tokens), { timeBoxMs: 8000, stepMs: 3000 });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    tokens.failure = new MailError('oauth-unavailable', 'provider down');
    const failed = await validateSend(settings(server.port, tokens), { timeBoxMs: 8000, stepMs: 3000 });
    assert.equal(failed.ok, false);
    assert.equal(failed.code, 'oauth-unavailable');
  });
});
