// OAuth2 at run time, in Node-RED flows, against the real servers: every connection here signs in
// at the private provider (scripts/oauth-server.mjs) with real tokens, Receive Email reads from
// Dovecot over IMAP (push) and POP3, Send Email sends through Postfix. Covered: the authorization
// code grant (a refresh token from a headless sign-in), the client credentials grant, tokens that
// live 3 s under load, a server that offers only XOAUTH2, a real Node-RED restarted without a
// deploy after its refresh token rotated, and the Validate routes with OAuth2 bodies.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import { helper } from '../support/flows';
import { NodeRedProcess } from '../support/node-red-process';
import { nodeRedSuite } from '../support/node-red-suite';
import { OAuthError, oauthInfo, providerProxy, refresh, revoke, signIn } from '../support/oauth';
import { StoredTokenWatch, loadMailFlow, oauthCredentials, oauthReceiveConnection, oauthSendConnection, received, sendEmailNode } from '../support/oauth-flows';
import { Watch, duplicates, errorLines, flow, receiver } from '../support/receive-watch';
import type { Instance } from '../support/receive-watch';
import { adminClient, appendMessages, certificatePem, serverInfo, simpleMessage, uniqueUser, waitForMessages } from '../support/servers';
import { sleep, until } from '../support/wait';

const subjectsOf = (watch: Watch, id: string): string[] => watch.allSent(id).map((s) => s.msg.topic);
const lastFill = (instance: Instance): string | undefined => instance.statuses.at(-1)?.fill;
/** What each receiver got and showed, for a wait that timed out. */
const stateOf = (watch: Watch, ...ids: string[]) => (): string =>
  ids.map((id) => `${id}: ${JSON.stringify(subjectsOf(watch, id))} statuses ${JSON.stringify(watch.current(id).statuses.slice(-4).map((s) => [s.text, watch.valuesOf(s)]))} errors ${JSON.stringify(watch.current(id).errors)}; `).join('') + `log errors ${JSON.stringify(errorLines())}`;
const greenAfterMail = (watch: Watch, id: string) => () => lastFill(watch.current(id)) === 'green';

// IMAP and POP3 read the same mailbox here, and Dovecot marks what POP3 retrieved \Seen: the IMAP
// receivers therefore read all mail (Unseen Only off, progress by UID), not only unseen mail.
describe('OAuth2 connections in flows, real tokens, real servers', () => {
  const suite = nodeRedSuite();

  it('authorization code: Receive Email over IMAP (push) and POP3 and Send Email through Postfix', async () => {
    const user = uniqueUser('oauth-flow');
    // One sign-in per connection: the provider rotates refresh tokens, so two connections never share one.
    const [imapGrant, pop3Grant, sendGrant] = [await signIn(user), await signIn(user), await signIn(user)];
    await appendMessages(user, [simpleMessage('waiting 1'), simpleMessage('waiting 2')]);
    const watch = new Watch();
    await loadMailFlow(watch, flow(
      [oauthReceiveConnection('imap', { id: 'conn-imap' }), oauthReceiveConnection('pop3', { id: 'conn-pop3' }), oauthSendConnection()],
      [receiver({ id: 'recv-imap', connection: 'conn-imap', unseenOnly: false, push: true, delay: 1, delayUnit: 's' }), receiver({ id: 'recv-pop3', connection: 'conn-pop3', unseenOnly: false, delay: 500 })],
      [sendEmailNode(), { id: 'sent', type: 'helper' }],
    ), {
      'conn-imap': oauthCredentials(user, imapGrant.refreshToken),
      'conn-pop3': oauthCredentials(user, pop3Grant.refreshToken),
      sconn: oauthCredentials(user, sendGrant.refreshToken),
    });
    const sent = received('sent');
    await until(() => subjectsOf(watch, 'recv-imap').length >= 2 && subjectsOf(watch, 'recv-pop3').length >= 2, 20_000, 'the two waiting emails on both');

    helper.getNode('send').receive({ to: `${user}@example.test`, subject: 'sent with OAuth2', payload: 'through Postfix' } as unknown as NodeMessage);
    await until(() => sent.length === 1, 20_000, 'msg.sent');
    assert.deepEqual((sent[0].sent as { accepted: string[] }).accepted, [`${user}@example.test`]);
    // Delivered by Postfix into the mailbox, and read back by both receivers with their tokens.
    await waitForMessages(user, 3, 20_000);
    await until(() => subjectsOf(watch, 'recv-imap').length >= 3 && subjectsOf(watch, 'recv-pop3').length >= 3, 20_000, stateOf(watch, 'recv-imap', 'recv-pop3'));
    await until(greenAfterMail(watch, 'recv-imap'), 10_000, 'IMAP status green');
    await until(greenAfterMail(watch, 'recv-pop3'), 10_000, 'POP3 status green');
    for (const id of ['recv-imap', 'recv-pop3']) {
      assert.deepEqual(subjectsOf(watch, id), ['waiting 1', 'waiting 2', 'sent with OAuth2'], id);
      assert.deepEqual(watch.current(id).errors, [], id);
    }
    // A check may have begun since (yellow): the last green status is the one that tells the mode.
    const lastGreen = [...watch.current('recv-imap').statuses].reverse().find((s) => s.fill === 'green');
    assert.equal(lastGreen?.text, 'mailwire-receive-email.status.polled');
    assert.equal(watch.valuesOf(lastGreen ?? { seq: 0, text: '' })?.mode, 'mailwire-receive-email.mode.push');
    assert.deepEqual(errorLines(), []);
  });

  it('client credentials (the app acts for the mailbox in User Name): receive and send', async () => {
    const user = uniqueUser('oauth-app');
    await appendMessages(user, [simpleMessage('for the app')]);
    const watch = new Watch();
    const app = { grant: 'client-credentials' } as const;
    await loadMailFlow(watch, flow(
      [oauthReceiveConnection('imap', { id: 'conn-imap', ...app }), oauthReceiveConnection('pop3', { id: 'conn-pop3', ...app }), oauthSendConnection(app)],
      [receiver({ id: 'recv-imap', connection: 'conn-imap', unseenOnly: false, push: true, delay: 1, delayUnit: 's' }), receiver({ id: 'recv-pop3', connection: 'conn-pop3', unseenOnly: false, delay: 500 })],
      [sendEmailNode(), { id: 'sent', type: 'helper' }],
    ), { 'conn-imap': oauthCredentials(user), 'conn-pop3': oauthCredentials(user), sconn: oauthCredentials(user) });
    const sent = received('sent');
    await until(() => subjectsOf(watch, 'recv-imap').length >= 1 && subjectsOf(watch, 'recv-pop3').length >= 1, 20_000, stateOf(watch, 'recv-imap', 'recv-pop3'));
    helper.getNode('send').receive({ to: `${user}@example.test`, subject: 'sent by the app', payload: 'app-only' } as unknown as NodeMessage);
    await until(() => sent.length === 1, 20_000, 'msg.sent');
    await until(() => subjectsOf(watch, 'recv-imap').length >= 2 && subjectsOf(watch, 'recv-pop3').length >= 2, 20_000, stateOf(watch, 'recv-imap', 'recv-pop3'));
    for (const id of ['recv-imap', 'recv-pop3']) {
      assert.deepEqual(subjectsOf(watch, id), ['for the app', 'sent by the app'], id);
      await until(greenAfterMail(watch, id), 10_000, `${id} green`);
      assert.deepEqual(watch.current(id).errors, [], id);
    }
    assert.deepEqual(errorLines(), []);
  });

  it('tokens that live 3 s: a long push receive, POP3 polls and a burst of 50 sends, each email once, several refreshes', async (t) => {
    const user = uniqueUser('oauth-short');
    const rcpt = uniqueUser('oauth-burst');
    const short = { client: 'short' } as const;
    const grants = [await signIn(user, short), await signIn(user, short), await signIn(user, short)];
    const stores = ['conn-imap', 'conn-pop3', 'sconn'].map((id) => new StoredTokenWatch(suite.userDir, id));
    const watch = new Watch();
    try {
      await loadMailFlow(watch, flow(
        [oauthReceiveConnection('imap', { id: 'conn-imap', ...short }), oauthReceiveConnection('pop3', { id: 'conn-pop3', ...short }), oauthSendConnection(short)],
        [receiver({ id: 'recv-imap', connection: 'conn-imap', unseenOnly: false, push: true, delay: 1, delayUnit: 's' }), receiver({ id: 'recv-pop3', connection: 'conn-pop3', unseenOnly: false, delay: 1, delayUnit: 's' })],
        [sendEmailNode(), { id: 'sent', type: 'helper' }],
      ), {
        'conn-imap': oauthCredentials(user, grants[0].refreshToken, 'short'),
        'conn-pop3': oauthCredentials(user, grants[1].refreshToken, 'short'),
        sconn: oauthCredentials(user, grants[2].refreshToken, 'short'),
      });
      const sent = received('sent');
      await until(() => watch.current('recv-imap').statuses.some((s) => s.fill === 'green') && watch.current('recv-pop3').statuses.some((s) => s.fill === 'green'), 20_000, 'both receivers connected');

      const subjects = Array.from({ length: 60 }, (_, i) => `short-lived ${i + 1}`);
      const appending = (async () => {
        const client = await adminClient(user);
        try {
          for (const subject of subjects) {
            await client.append('INBOX', simpleMessage(subject), []);
            await sleep(250);
          }
        } finally {
          await client.logout().catch(() => undefined);
        }
      })();
      for (let i = 1; i <= 50; i += 1) {
        helper.getNode('send').receive({ to: `${rcpt}@example.test`, subject: `burst ${i}`, payload: `burst ${i}` } as unknown as NodeMessage);
      }
      await appending;
      await until(() => sent.length === 50, 60_000, () => `50 sends (${sent.length})`);
      await waitForMessages(rcpt, 50, 60_000);
      await until(() => subjectsOf(watch, 'recv-imap').length >= 60 && subjectsOf(watch, 'recv-pop3').length >= 60, 60_000,
        () => `60 emails on both (IMAP ${subjectsOf(watch, 'recv-imap').length}, POP3 ${subjectsOf(watch, 'recv-pop3').length})`);
      await sleep(2500); // two more Delays: nothing comes twice
      for (const id of ['recv-imap', 'recv-pop3']) {
        assert.deepEqual(duplicates(watch.keys(id)), [], id);
        assert.deepEqual([...subjectsOf(watch, id)].sort(), [...subjects].sort(), id);
        assert.deepEqual(watch.current(id).errors, [], id);
      }
      assert.equal((await waitForMessages(rcpt, 50)).length, 50, 'exactly 50 delivered');
      assert.deepEqual(errorLines(), []);
      // Each saved rotation is a refresh the provider answered with a new refresh token. POP3 logs
      // in at every Delay, and a 3 s token is handed out for its first 1.5 s only.
      const versions = stores.map((s) => s.versions);
      t.diagnostic(`saved refresh tokens (rotations): IMAP ${versions[0]}, POP3 ${versions[1]}, SMTP ${versions[2]}`);
      assert.ok(versions[1] >= 4, `POP3 connection: stored refresh token versions ${versions.join(', ')} (IMAP, POP3, SMTP)`);
      assert.ok(versions.every((v) => v >= 1), `every connection refreshed at least once: ${versions.join(', ')}`);
    } finally {
      for (const s of stores) s.stop();
    }
  });

  describe('a server that offers only XOAUTH2 (as Microsoft 365)', () => {
    /** Hides OAUTHBEARER: from IMAP CAPABILITY (greeting, command and response codes) and POP3's CAPA SASL line. */
    const xoauth2Only = (line: string): string => (/^SASL /.test(line) ? line.replace(/ OAUTHBEARER\b/g, '') : line.replace(/ AUTH=OAUTHBEARER\b/g, ''));

    for (const protocol of ['imap', 'pop3'] as const) {
      it(`${protocol.toUpperCase()}: XOAUTH2 where only it is offered, OAUTHBEARER against the untouched server; mail received`, async () => {
        const ports = serverInfo().ports;
        const target = protocol === 'imap' ? ports.imap : ports.pop3;
        const auth = protocol === 'imap' ? /^\S+ AUTHENTICATE (\S+)/gm : /^AUTH (\S+)/gm;
        const mechanisms = (text: string): string[] => [...text.matchAll(auth)].map((m) => m[1].toUpperCase());
        for (const rewrite of [true, false]) {
          const user = uniqueUser(`oauth-${protocol}-${rewrite ? 'x' : 'b'}`);
          const { refreshToken } = await signIn(user);
          await appendMessages(user, [simpleMessage(`via ${rewrite ? 'XOAUTH2' : 'OAUTHBEARER'}`)]);
          const proxy = await suite(target);
          let hidden = 0;
          if (rewrite) {
            proxy.rewriteServerLine = (line) => {
              const changed = xoauth2Only(line);
              if (changed !== line) hidden += 1;
              return changed;
            };
          }
          const watch = new Watch();
          // Loopback only: security none, so the proxy sees the lines in clear.
          await watch.load(flow([oauthReceiveConnection(protocol, { security: 'none', port: proxy.port })], [receiver({ push: protocol === 'imap' })]), { conn: oauthCredentials(user, refreshToken) });
          await until(() => subjectsOf(watch, 'recv').length === 1, 20_000, 'the email');
          assert.deepEqual(subjectsOf(watch, 'recv'), [`via ${rewrite ? 'XOAUTH2' : 'OAUTHBEARER'}`]);
          const used = mechanisms(proxy.clientText);
          assert.ok(used.length >= 1, proxy.clientText);
          assert.deepEqual([...new Set(used)], [rewrite ? 'XOAUTH2' : 'OAUTHBEARER'], `${protocol} rewrite=${rewrite}`);
          if (rewrite) assert.ok(hidden >= 1, 'the proxy hid OAUTHBEARER from the client');
          assert.deepEqual(watch.current().errors, []);
          assert.deepEqual(errorLines(), []);
          await watch.unload();
        }
      });
    }
  });
});

describe('a real Node-RED restarted without a deploy after its refresh token rotated', () => {
  let red: NodeRedProcess | undefined;
  let userDir = '';
  after(async () => {
    await red?.stop();
    // The package is linked into the user directory: rm removes the link, not the repository.
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  it('receives before and after the restart; the refresh token of the last deploy is spent and refused', async () => {
    const user = uniqueUser('oauth-restart');
    const { refreshToken } = await signIn(user);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-oauth-restart-'));
    const file = path.join(out, 'subjects.txt');
    const lines = (): string[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);
    const flows = [
      { id: 'tab', type: 'tab', label: 'oauth restart' },
      { ...oauthReceiveConnection('pop3'), credentials: oauthCredentials(user, refreshToken) },
      { id: 'recv', type: 'mailwire-receive-email', z: 'tab', name: '', connection: 'conn', folder: '', unseenOnly: true, delay: 500, delayUnit: 'ms', maxEmails: -1, wires: [['set-subject']] },
      { id: 'set-subject', type: 'change', z: 'tab', name: '', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'topic', tot: 'msg' }], wires: [['to-file']] },
      { id: 'to-file', type: 'file', z: 'tab', name: '', filename: file, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', wires: [] },
    ];
    await appendMessages(user, [simpleMessage('before the restart')]);
    red = await NodeRedProcess.start();
    userDir = red.userDir;
    const deployed = await red.api('POST', '/flows', { flows });
    assert.equal(deployed.status, 200, await deployed.text());
    await until(() => lines().length === 1, 30_000, () => `the first email; log:\n${red?.log.slice(-3000)}`);
    await red.stop();

    await appendMessages(user, [simpleMessage('after the restart')]);
    red = await NodeRedProcess.start({ userDir });
    await until(() => lines().length >= 2, 30_000, () => `the email appended while Node-RED was down; log:\n${red?.log.slice(-2000)}`);
    await sleep(1200);
    assert.deepEqual(lines(), ['before the restart', 'after the restart']);
    assert.doesNotMatch(red.log, /\[error\]/);
    await red.stop();
    // The token of the deploy was spent by the first process's refresh: the provider refuses it.
    // (Presenting a spent token ends the grant, so this comes last.)
    await assert.rejects(refresh(refreshToken), (err: unknown) => err instanceof OAuthError && err.error === 'invalid_grant');
  });
});

describe('Validate with OAuth2 through the real routes', () => {
  let red: NodeRedProcess | undefined;
  const secret = oauthInfo().clients.app.secret;
  const WRONG_SECRET = `wrong-secret-${Date.now().toString(36)}-recognisable`;
  after(async () => {
    await red?.stop();
    if (red) fs.rmSync(red.userDir, { recursive: true, force: true });
  });

  const bodyFor = (kind: 'receive' | 'send', n: number, user: string, refreshToken: string, overrides: Record<string, unknown> = {}): Record<string, unknown> => {
    const conn = kind === 'receive' ? oauthReceiveConnection('imap', { id: `validate-r${n}` }) : oauthSendConnection({ id: `validate-s${n}` });
    const { type: _type, ...props } = conn;
    return { ...props, certificate: certificatePem(), user, password: '', oauthClientSecret: secret, oauthRefreshToken: refreshToken, ...overrides };
  };

  it('ok with a valid sign-in; oauth-signin-required when revoked; oauth-client with a wrong secret; oauth-unavailable with the provider away; no token or secret in any reply', async () => {
    red = await NodeRedProcess.start();
    const replies: string[] = [];
    const validate = async (kind: 'receive' | 'send', body: Record<string, unknown>): Promise<Record<string, unknown>> => {
      assert.ok(red);
      const res = await red.api('POST', `/mailwire/validate/${kind}`, body);
      const text = await res.text();
      replies.push(text);
      assert.equal(res.status, 200, text);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const proxy = await providerProxy();
    const tokens: string[] = [];
    try {
      let n = 0;
      for (const kind of ['receive', 'send'] as const) {
        const user = uniqueUser(`oauth-validate-${kind}`);
        const good = await signIn(user);
        const revoked = await signIn(user);
        const other = await signIn(user);
        const away = await signIn(user);
        tokens.push(good.refreshToken, revoked.refreshToken, other.refreshToken, away.refreshToken);
        await revoke(revoked.refreshToken, 'app', 'refresh_token');

        const ok = await validate(kind, bodyFor(kind, (n += 1), user, good.refreshToken));
        assert.equal(ok.ok, true, JSON.stringify(ok));
        const signin = await validate(kind, bodyFor(kind, (n += 1), user, revoked.refreshToken));
        assert.equal(signin.code, 'oauth-signin-required', JSON.stringify(signin));
        const client = await validate(kind, bodyFor(kind, (n += 1), user, other.refreshToken, { oauthClientSecret: WRONG_SECRET }));
        assert.equal(client.code, 'oauth-client', JSON.stringify(client));
        proxy.proxy.stopListening();
        try {
          const unavailable = await validate(kind, bodyFor(kind, (n += 1), user, away.refreshToken, { oauthTokenUrl: proxy.tokenUrl, oauthAuthorizeUrl: proxy.authorizeUrl, oauthDeviceUrl: proxy.deviceUrl }));
          assert.equal(unavailable.code, 'oauth-unavailable', JSON.stringify(unavailable));
        } finally {
          await proxy.proxy.resumeListening();
        }
      }
    } finally {
      await proxy.proxy.close();
    }
    const all = replies.join('\n');
    assert.equal(replies.length, 8);
    for (const value of [...tokens, secret, WRONG_SECRET]) assert.ok(!all.includes(value), 'a token or secret in a Validate reply');
  });
});
