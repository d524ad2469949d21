// The OAuth2 test set-up end to end: tokens from the private provider (scripts/oauth-server.mjs)
// log in to the private Dovecot (IMAP, POP3) and, through Postfix's Dovecot SASL, send mail;
// revoked, expired, reused and unverifiable tokens are refused with the replies real servers give.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import net from 'node:net';
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { FaultProxy } from '../support/fault-proxy';
import {
  OAuthError, approveDevice, callbackUri, clientCredentialsToken, deviceToken, introspect,
  oauthInfo, pkcePair, providerProxy, providerReachable, providerUnreachable, refresh, revoke, signIn, startDevice,
  tokenRequest,
} from '../support/oauth';
import { certificatePem, listMailbox, serverInfo, simpleMessage, uniqueUser, waitForMessages, writeMaildir } from '../support/servers';
import { until } from '../support/wait';

interface ImapLogin {
  ok: boolean;
  /** The SASL mechanism the client chose, as seen on the wire. */
  mechanism?: string;
  /** The tagged NO/BAD line when refused, e.g. "NO [AUTHENTICATIONFAILED] Authentication failed." */
  reply?: string;
  ms: number;
}

/**
 * An imapflow login with a bearer token through a fault proxy on the plain IMAP port, which shows
 * what went over the wire. On success it appends `subject` to the INBOX of the session's mailbox.
 */
async function imapLogin(user: string, accessToken: string, subject?: string): Promise<ImapLogin> {
  const proxy = await FaultProxy.start(serverInfo().ports.imap);
  proxy.keepToClient = true;
  const client = new ImapFlow({ host: '127.0.0.1', port: proxy.port, secure: false, doSTARTTLS: false, auth: { user, accessToken }, logger: false });
  client.on('error', () => undefined);
  const started = Date.now();
  try {
    await client.connect();
    const ms = Date.now() - started;
    if (subject) await client.append('INBOX', simpleMessage(subject));
    await client.logout();
    return { ok: true, mechanism: /AUTHENTICATE (\S+)/.exec(proxy.clientText)?.[1], ms };
  } catch {
    const ms = Date.now() - started;
    client.close();
    const tagged = /^\S+ AUTHENTICATE (\S+)/m.exec(proxy.clientText);
    const reply = /^\S+ (NO|BAD) .*$/m.exec(proxy.toClientText)?.[0].replace(/^\S+ /, '');
    return { ok: false, mechanism: tagged?.[1], reply, ms };
  } finally {
    await proxy.close();
  }
}

/** A POP3 conversation over implicit TLS (the pinned Dovecot certificate), one line at a time. */
class Pop3Tls {
  private buffer = '';
  private constructor(private readonly socket: tls.TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (this.buffer += chunk));
    socket.on('error', () => undefined);
  }

  static async open(): Promise<Pop3Tls> {
    const socket = tls.connect({ host: '127.0.0.1', port: serverInfo().ports.pop3s, servername: 'localhost', ca: certificatePem() });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const conversation = new Pop3Tls(socket);
    assert.match(await conversation.line(), /^\+OK/);
    return conversation;
  }

  async line(): Promise<string> {
    await until(() => this.buffer.includes('\r\n') || this.socket.destroyed, 30000, 'a POP3 line', 10);
    const end = this.buffer.indexOf('\r\n');
    if (end === -1) throw new Error('the POP3 server closed the connection');
    const line = this.buffer.slice(0, end);
    this.buffer = this.buffer.slice(end + 2);
    return line;
  }

  async command(text: string): Promise<string> {
    this.socket.write(`${text}\r\n`);
    return this.line();
  }

  close(): void {
    this.socket.destroy();
  }
}

const xoauth2 = (user: string, token: string) => Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
const oauthbearer = (user: string, token: string) => Buffer.from(`n,a=${user},\x01auth=Bearer ${token}\x01\x01`).toString('base64');

/**
 * AUTH with a bearer token over POP3S. A refusal first comes as a "+ <base64 JSON>" challenge
 * (RFC 7628), answered as the RFC says (an empty line for XOAUTH2, ^A for OAUTHBEARER); the
 * final reply is returned, with the challenge's JSON.
 */
async function pop3Auth(mechanism: 'XOAUTH2' | 'OAUTHBEARER', user: string, token: string): Promise<{ reply: string; challenge?: Record<string, unknown>; stat?: string; ms: number }> {
  const pop3 = await Pop3Tls.open();
  const started = Date.now();
  try {
    const initial = mechanism === 'XOAUTH2' ? xoauth2(user, token) : oauthbearer(user, token);
    let reply = await pop3.command(`AUTH ${mechanism} ${initial}`);
    let challenge: Record<string, unknown> | undefined;
    if (reply.startsWith('+ ')) {
      challenge = JSON.parse(Buffer.from(reply.slice(2), 'base64').toString('utf8')) as Record<string, unknown>;
      reply = await pop3.command(mechanism === 'XOAUTH2' ? '' : Buffer.from('\x01').toString('base64'));
    }
    const ms = Date.now() - started;
    const stat = reply.startsWith('+OK') ? await pop3.command('STAT') : undefined;
    await pop3.command('QUIT').catch(() => '');
    return { reply, challenge, stat, ms };
  } finally {
    pop3.close();
  }
}

/** Postfix's EHLO reply lines on the submission port once STARTTLS is done. */
async function ehloAfterStartTls(): Promise<string[]> {
  const plain = net.connect(serverInfo().ports.submission ?? 0, '127.0.0.1');
  plain.on('error', () => undefined);
  const reader = (socket: net.Socket) => {
    let buffer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (buffer += chunk));
    // A reply ends with a line whose code is followed by a space.
    return async (): Promise<string[]> => {
      await until(() => /(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(buffer), 15000, 'an SMTP reply', 10);
      const lines = buffer.trimEnd().split('\r\n');
      buffer = '';
      return lines;
    };
  };
  const plainReply = reader(plain);
  await plainReply();
  plain.write('EHLO test.example\r\n');
  await plainReply();
  plain.write('STARTTLS\r\n');
  assert.match((await plainReply())[0], /^220 /);
  plain.removeAllListeners('data');
  const secure = tls.connect({ socket: plain, servername: 'localhost', ca: certificatePem() });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  const secureReply = reader(secure);
  secure.write('EHLO test.example\r\n');
  const lines = await secureReply();
  secure.end('QUIT\r\n');
  return lines;
}

describe('OAuth2 against the real servers (test provider, Dovecot oauth2 passdb, Postfix)', () => {
  before(() => {
    assert.ok(serverInfo().oauth, 'servers.json must describe the OAuth2 provider');
  });

  it('publishes its endpoints in servers.json, read from its discovery document', async () => {
    const info = oauthInfo();
    const discovery = await (await fetch(`${info.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    assert.equal(discovery.issuer, info.issuer);
    assert.equal(discovery.token_endpoint, info.tokenUrl);
    assert.equal(discovery.authorization_endpoint, info.authorizeUrl);
    assert.equal(discovery.device_authorization_endpoint, info.deviceUrl);
    assert.equal(discovery.revocation_endpoint, info.revokeUrl);
    assert.equal(discovery.introspection_endpoint, info.introspectUrl);
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    assert.ok((discovery.grant_types_supported as string[]).includes('urn:ietf:params:oauth:grant-type:device_code'));
  });

  it('IMAP: a token from a headless authorization-code sign-in logs in to that user\'s mailbox', async (t) => {
    const user = uniqueUser('oauth-imap');
    const tokens = await signIn(user);
    assert.ok(tokens.expiresAt > Date.now());
    assert.equal((await introspect(tokens.accessToken)).email, user, 'introspection names the signed-in user');
    const login = await imapLogin(user, tokens.accessToken, 'appended over OAuth2');
    assert.equal(login.ok, true, `login refused: ${login.reply}`);
    assert.ok(login.mechanism === 'OAUTHBEARER' || login.mechanism === 'XOAUTH2', `mechanism ${login.mechanism}`);
    t.diagnostic(`imapflow chose ${login.mechanism}; login took ${login.ms} ms`);
    assert.deepEqual((await listMailbox(user)).map((m) => m.subject), ['appended over OAuth2']);
  });

  it('IMAP: one user\'s token does not open another user\'s mailbox', async () => {
    const tokens = await signIn(uniqueUser('oauth-owner'));
    const login = await imapLogin(uniqueUser('oauth-other'), tokens.accessToken);
    assert.equal(login.ok, false);
    assert.match(login.reply ?? '', /^NO \[AUTHENTICATIONFAILED\]/);
  });

  it('POP3 over TLS: AUTH XOAUTH2 and AUTH OAUTHBEARER with a user token', async () => {
    const user = uniqueUser('oauth-pop3');
    writeMaildir(user, [simpleMessage('one'), simpleMessage('two')]);
    const tokens = await signIn(user, { client: 'public' });
    for (const mechanism of ['XOAUTH2', 'OAUTHBEARER'] as const) {
      const result = await pop3Auth(mechanism, user, tokens.accessToken);
      assert.match(result.reply, /^\+OK/, `${mechanism}: ${result.reply}`);
      assert.match(result.stat ?? '', /^\+OK 2 /, `${mechanism} opened the user's own mailbox`);
    }
  });

  it('SMTP: nodemailer OAuth2 through Postfix submission (Dovecot SASL) delivers the message', async (t) => {
    const user = uniqueUser('oauth-smtp');
    const tokens = await signIn(user);
    const submission = serverInfo().ports.submission;
    assert.ok(submission, 'Postfix runs');
    const transport = nodemailer.createTransport({
      host: 'localhost',
      port: submission,
      secure: false,
      requireTLS: true,
      tls: { ca: certificatePem() },
      auth: { type: 'OAuth2', user, accessToken: tokens.accessToken },
    });
    try {
      const info = await transport.sendMail({ from: `${user}@example.test`, to: `${user}@example.test`, subject: 'sent with a bearer token', text: 'hello' });
      t.diagnostic(`Postfix answered: ${info.response}`);
    } finally {
      transport.close();
    }
    const [raw] = await waitForMessages(user, 1);
    assert.match(raw.toString('utf8'), /^Subject: sent with a bearer token\r?$/m);
  });

  it('SMTP: Postfix offers XOAUTH2 and OAUTHBEARER after STARTTLS and refuses a revoked token', async () => {
    const user = uniqueUser('oauth-smtp-no');
    const tokens = await signIn(user);
    await revoke(tokens.accessToken, 'app', 'access_token');
    const transport = nodemailer.createTransport({
      host: 'localhost',
      port: serverInfo().ports.submission,
      secure: false,
      requireTLS: true,
      tls: { ca: certificatePem() },
      auth: { type: 'OAuth2', user, accessToken: tokens.accessToken },
    });
    try {
      await assert.rejects(transport.verify(), (err: Error & { responseCode?: number }) => {
        assert.equal(err.responseCode, 535, err.message);
        return true;
      });
    } finally {
      transport.close();
    }
    const auth = (await ehloAfterStartTls()).find((l) => /^250[- ]AUTH /.test(l)) ?? '';
    assert.match(auth, /\bXOAUTH2\b/);
    assert.match(auth, /\bOAUTHBEARER\b/);
  });

  it('client credentials: an app token (no user in it) logs in to the mailbox named by the user name', async () => {
    const mailbox = uniqueUser('oauth-app');
    const token = await clientCredentialsToken();
    const seen = await introspect(token.accessToken);
    assert.equal(seen.email, undefined, 'an app token names no user');
    assert.equal(seen.client_id, oauthInfo().clients.app.id);
    const login = await imapLogin(mailbox, token.accessToken, 'written by the app');
    assert.equal(login.ok, true, `login refused: ${login.reply}`);
    assert.deepEqual((await listMailbox(mailbox)).map((m) => m.subject), ['written by the app']);
    // Asking for Exchange's own app scope works the same: the audience carries the permission.
    const exchangeLike = await clientCredentialsToken('app', 'https://outlook.office365.com/.default');
    assert.equal((await pop3Auth('XOAUTH2', mailbox, exchangeLike.accessToken)).stat?.startsWith('+OK 1 '), true);
  });

  it('a user\'s sign-in cannot obtain the app audience, even by asking for its scope', async () => {
    const user = uniqueUser('oauth-greedy');
    const tokens = await signIn(user, { scope: `openid offline_access ${oauthInfo().appScope}` });
    const seen = await introspect(tokens.accessToken);
    assert.equal(seen.aud, undefined);
    assert.ok(!String(seen.scope ?? '').includes(oauthInfo().appScope));
    const login = await imapLogin(uniqueUser('oauth-victim'), tokens.accessToken);
    assert.match(login.reply ?? '', /^NO \[AUTHENTICATIONFAILED\]/);
  });

  it('a revoked access token is refused: IMAP NO [AUTHENTICATIONFAILED], POP3 -ERR [AUTH]', async (t) => {
    const user = uniqueUser('oauth-revoked');
    const tokens = await signIn(user);
    assert.equal((await imapLogin(user, tokens.accessToken)).ok, true);
    await revoke(tokens.accessToken, 'app', 'access_token');
    assert.equal((await introspect(tokens.accessToken)).active, false);
    const imap = await imapLogin(user, tokens.accessToken);
    assert.equal(imap.ok, false);
    assert.match(imap.reply ?? '', /^NO \[AUTHENTICATIONFAILED\]/);
    const x = await pop3Auth('XOAUTH2', user, tokens.accessToken);
    assert.match(x.reply, /^-ERR \[AUTH\]/);
    assert.ok(x.challenge, 'XOAUTH2 refusal comes with a JSON challenge first');
    const o = await pop3Auth('OAUTHBEARER', user, tokens.accessToken);
    assert.match(o.reply, /^-ERR \[AUTH\]/);
    assert.equal(o.challenge?.status, 'invalid_token');
    t.diagnostic(`refusal cost: IMAP (imapflow) ${imap.ms} ms, POP3 XOAUTH2 ${x.ms} ms, POP3 OAUTHBEARER ${o.ms} ms; XOAUTH2 challenge ${JSON.stringify(x.challenge)}`);
  });

  it('an expired access token (client mailwire-short, 3 s) is refused by IMAP and POP3', async () => {
    const user = uniqueUser('oauth-expired');
    const tokens = await signIn(user, { client: 'short' });
    assert.ok(tokens.expiresAt - Date.now() <= oauthInfo().shortTokenSeconds * 1000 + 1000);
    // The provider decides expiry; waiting on it rather than on a clock keeps a busy machine honest.
    await until(async () => (await introspect(tokens.accessToken)).active === false, 60000, 'the short token to expire', 250);
    assert.match((await imapLogin(user, tokens.accessToken)).reply ?? '', /^NO \[AUTHENTICATIONFAILED\]/);
    assert.match((await pop3Auth('XOAUTH2', user, tokens.accessToken)).reply, /^-ERR \[AUTH\]/);
    // Its refresh token still works and gives a token that is let in.
    const renewed = await refresh(tokens.refreshToken, 'short');
    assert.match((await pop3Auth('OAUTHBEARER', user, renewed.accessToken)).reply, /^\+OK/);
  });

  it('refresh rotates the refresh token; the old one is refused, and its reuse revokes the grant', async () => {
    const user = uniqueUser('oauth-rotate');
    const first = await signIn(user);
    const second = await refresh(first.refreshToken);
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.notEqual(second.accessToken, first.accessToken);
    assert.equal((await imapLogin(user, second.accessToken)).ok, true);
    await assert.rejects(refresh(first.refreshToken), (err: OAuthError) => err instanceof OAuthError && err.status === 400 && err.error === 'invalid_grant');
    // Reuse of a rotated token ends the whole grant: the newest refresh token and its access token die too.
    await assert.rejects(refresh(second.refreshToken), (err: OAuthError) => err.error === 'invalid_grant');
    assert.equal((await introspect(second.accessToken)).active, false);
    assert.match((await imapLogin(user, second.accessToken)).reply ?? '', /^NO \[AUTHENTICATIONFAILED\]/);
  });

  it('the provider\'s errors: invalid_grant for a revoked refresh token, invalid_client for a wrong secret', async () => {
    const tokens = await signIn(uniqueUser('oauth-errors'));
    await revoke(tokens.refreshToken, 'app', 'refresh_token');
    await assert.rejects(refresh(tokens.refreshToken), (err: OAuthError) => err.status === 400 && err.error === 'invalid_grant');
    const { tokenUrl, clients } = oauthInfo();
    const res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clients.app.id, client_secret: 'not-the-secret' }).toString(),
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
    await assert.rejects(tokenRequest('app', { grant_type: 'authorization_code', code: 'made-up', redirect_uri: callbackUri(), code_verifier: pkcePair().verifier }), (err: OAuthError) => err.error === 'invalid_grant');
  });

  it('device flow: pending until the user approves the code, then tokens that log in', async () => {
    const user = uniqueUser('oauth-device');
    const device = await startDevice('public');
    assert.ok(device.userCode && device.verificationUri.startsWith(oauthInfo().issuer));
    await assert.rejects(deviceToken(device.deviceCode, 'public'), (err: OAuthError) => err.error === 'authorization_pending');
    await approveDevice(device.userCode, user);
    const tokens = await deviceToken(device.deviceCode, 'public');
    assert.equal((await introspect(tokens.accessToken)).email, user);
    assert.equal((await imapLogin(user, tokens.accessToken)).ok, true);
    await assert.rejects(deviceToken(device.deviceCode, 'public'), (err: OAuthError) => err.error === 'invalid_grant', 'a device code is good once');
  });

  it('redirect URIs: any loopback port and admin root ending in /mailwire/oauth/callback, nothing else', async () => {
    const tokens = await signIn(uniqueUser('oauth-root'), { redirectUri: 'http://localhost:61234/admin/red/mailwire/oauth/callback' });
    assert.ok(tokens.accessToken);
    for (const redirectUri of ['http://evil.example:1880/mailwire/oauth/callback', 'http://127.0.0.1:1880/mailwire/oauth/elsewhere', 'https://127.0.0.1:1880/mailwire/oauth/callback']) {
      await assert.rejects(signIn(uniqueUser('oauth-bad'), { redirectUri }), /did not redirect to the callback/, redirectUri);
    }
  });

  it('a proxy in front of the provider takes it away from a client and brings it back', async () => {
    const via = await providerProxy();
    try {
      const ask = () => fetch(`${via.issuer}/.well-known/openid-configuration`).then((r) => r.status);
      assert.equal(await ask(), 200);
      via.proxy.stopListening();
      await assert.rejects(ask());
      await via.proxy.resumeListening();
      assert.equal(await ask(), 200);
      const authorize = new URL(via.authorizeUrl);
      assert.equal(authorize.hostname, 'localhost');
    } finally {
      await via.proxy.close();
    }
  });

  it('provider unreachable: Dovecot answers IMAP NO [UNAVAILABLE] and POP3 -ERR [SYS/TEMP], then recovers', async (t) => {
    const user = uniqueUser('oauth-down');
    const tokens = await signIn(user);
    await providerUnreachable();
    try {
      const imap = await imapLogin(user, tokens.accessToken);
      assert.equal(imap.ok, false);
      assert.match(imap.reply ?? '', /^NO \[UNAVAILABLE\]/);
      const pop3 = await pop3Auth('XOAUTH2', user, tokens.accessToken);
      assert.match(pop3.reply, /^-ERR \[SYS\/TEMP\]/);
      t.diagnostic(`temporary failure cost: IMAP ${imap.ms} ms, POP3 ${pop3.ms} ms`);
    } finally {
      await providerReachable();
    }
    assert.equal((await imapLogin(user, tokens.accessToken)).ok, true, 'the same token works once the provider is back');
  });

  after(async () => {
    // A failed test above must not leave the shared provider unreachable for the files after this one.
    await providerReachable().catch(() => undefined);
  });
});
