// Guarantee 11: no secret leaks. A REAL Node-RED (admin authentication on, console logging at
// `trace`) gets a flow deployed through the admin API the way the editor deploys it
// (`credentials: { user, password }` on the config nodes): receive connections over IMAP and POP3
// and send connections over SMTP, with a sentinel password that no server knows (wrong-password
// logins, StartTLS stripped by a man in the middle) and with the real password (successful
// sessions, then connections cut and the server gone). Every place a secret could surface is
// recorded and searched for both passwords and their base64 forms: the process output, the comms
// websocket (status, debug, notifications), debug nodes with the complete message, a Status node
// and a Catch node writing every message to a file, the flow export, the credentials API, the
// Validate replies, and every file Node-RED wrote in its user directory.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FaultProxy } from '../support/fault-proxy';
import type { NodeRedProcess } from '../support/node-red-process';
import { appendMessages, certificatePem, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { startTlsAttack } from '../support/starttls-attack';
import { strictProcess } from '../support/strict-process';
import { TokenEndpointStub, oauthError } from '../support/token-endpoint-stub';
import { sleep, until } from '../support/wait';
import { secretForms, sentinel } from './credentials';
import { AdminPool, CommsRecorder, extraAdmins, filesUnder, startNodeRed } from './node-red';

strictProcess();

/** Waits for `check`, polling every 100 ms; a timeout says what was seen (`explain`). */
function waitUntil(what: string, ms: number, check: () => boolean | Promise<boolean>, explain: () => string = () => ''): Promise<void> {
  return until(check, ms, () => `${what}\n${explain()}`, 100);
}

interface Conn {
  id: string;
  user: string;
  password: string;
  node: Record<string, unknown>;
}

describe('No secret leaks from a real Node-RED (guarantee 11)', { timeout: 120000 }, () => {
  const SENTINEL = sentinel();
  const CANARY = `canary-${sentinel()}`;
  // OAuth2 connections' secrets: a client secret and a refresh token that the token endpoint refuses.
  const CLIENT_SECRET = `client-secret-${sentinel()}`;
  const REFRESH_TOKEN = `refresh-token-${sentinel()}`;
  let tokenEndpoint: TokenEndpointStub | undefined;
  const REAL = serverInfo().password;
  const pem = certificatePem();
  const ports = serverInfo().ports as Required<ReturnType<typeof serverInfo>['ports']>;
  const admins = extraAdmins(2);
  const pool = new AdminPool(admins);
  let red: NodeRedProcess | undefined;
  let comms: CommsRecorder | undefined;
  let errorsFile = '';
  const proxies: FaultProxy[] = [];
  const conns: Conn[] = [];
  /** Every admin API reply body, labelled. */
  const replies: Array<{ what: string; body: string }> = [];
  let strip: { imap: FaultProxy; pop3: FaultProxy; smtp: FaultProxy };
  let cut: { imap: FaultProxy; pop3: FaultProxy; smtp: FaultProxy };

  const api = async (what: string, method: string, pathname: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    assert.ok(red);
    const res = await red.api(method, pathname, body, method === 'POST' && pathname.startsWith('/mailwire/') ? pool.next() : undefined);
    const text = await res.text();
    replies.push({ what, body: text });
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON (e.g. an empty 200)
    }
    return { status: res.status, json };
  };

  /** The lines of the errors file, parsed: every Catch and Status message. */
  const dumped = (): Array<Record<string, unknown>> =>
    (fs.existsSync(errorsFile) ? fs.readFileSync(errorsFile, 'utf8') : '')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const caughtFrom = (id: string): Array<Record<string, unknown>> => dumped().filter((m) => (m.error as { source?: { id?: string } } | undefined)?.source?.id === id);
  const debugFrom = (id: string): unknown[] => (comms?.events ?? []).filter((e) => e.topic === 'debug' && (e.data as { id?: string }).id === id);
  /** What was seen so far, for a timeout's message. */
  const explain = (): string => {
    const sources = dumped().map((m) => `${(m.error as { source?: { id?: string } } | undefined)?.source?.id ?? 'status'}:${String(m.topic ?? '')}`);
    const topics = (comms?.events ?? []).map((e) => (e.topic === 'debug' ? `debug:${(e.data as { id?: string }).id}` : e.topic));
    return `file: ${sources.join(' ')}\ncomms: ${[...new Set(topics)].join(' ')}\nlog tail:\n${(red?.log ?? '').split('\n').slice(-40).join('\n')}`;
  };

  before(async () => {
    strip = {
      imap: startTlsAttack(await FaultProxy.start(ports.imap), 'imap', 'strip'),
      pop3: startTlsAttack(await FaultProxy.start(ports.pop3), 'pop3', 'strip'),
      smtp: startTlsAttack(await FaultProxy.start(ports.submission), 'smtp', 'strip'),
    };
    cut = { imap: await FaultProxy.start(ports.imaps), pop3: await FaultProxy.start(ports.pop3s), smtp: await FaultProxy.start(ports.submissions) };
    proxies.push(...Object.values(strip), ...Object.values(cut));

    const rc = (id: string, protocol: string, host: string, port: number, security: string, password: string): Conn => {
      const user = uniqueUser(`leak-${id}`);
      return { id, user, password, node: { id, type: 'mailwire-receive-connection', name: `receive ${protocol}`, description: '', protocol, host, port, security, certificate: pem, credentials: { user, password } } };
    };
    const sc = (id: string, host: string, port: number, security: string, password: string): Conn => {
      const user = uniqueUser(`leak-${id}`);
      return { id, user, password, node: { id, type: 'mailwire-send-connection', name: 'send', description: '', host, port, security, certificate: pem, credentials: { user, password } } };
    };
    conns.push(
      rc('rc-imap-wrong', 'imap', 'localhost', ports.imaps, 'tls', SENTINEL),
      rc('rc-pop3-wrong', 'pop3', 'localhost', ports.pop3, 'starttls', SENTINEL),
      rc('rc-imap-strip', 'imap', '127.0.0.1', strip.imap.port, 'starttls', SENTINEL),
      rc('rc-pop3-strip', 'pop3', '127.0.0.1', strip.pop3.port, 'starttls', SENTINEL),
      rc('rc-imap-ok', 'imap', '127.0.0.1', cut.imap.port, 'tls', REAL),
      rc('rc-pop3-ok', 'pop3', '127.0.0.1', cut.pop3.port, 'tls', REAL),
      sc('sc-wrong', 'localhost', ports.submission, 'starttls', SENTINEL),
      sc('sc-strip', '127.0.0.1', strip.smtp.port, 'starttls', SENTINEL),
      sc('sc-ok', '127.0.0.1', cut.smtp.port, 'tls', REAL),
    );
    // Two OAuth2 connections, one per side: their refresh fails (invalid_grant), so they report errors.
    tokenEndpoint = await TokenEndpointStub.start();
    tokenEndpoint.handler = () => oauthError('invalid_grant');
    const oauthProps = {
      auth: 'oauth2', oauthProvider: 'custom', oauthTenant: '', oauthGrant: 'authorization-code', oauthClientId: 'leak-client',
      oauthAuthorizeUrl: tokenEndpoint.authorizeUrl, oauthTokenUrl: tokenEndpoint.tokenUrl, oauthDeviceUrl: tokenEndpoint.deviceUrl, oauthScope: 'mail',
    };
    for (const c of [rc('rc-oauth', 'imap', 'localhost', ports.imaps, 'tls', ''), sc('sc-oauth', 'localhost', ports.submissions, 'tls', '')]) {
      Object.assign(c.node, oauthProps);
      (c.node.credentials as Record<string, string>).oauthClientSecret = CLIENT_SECRET;
      (c.node.credentials as Record<string, string>).oauthRefreshToken = REFRESH_TOKEN;
      conns.push(c);
    }
    const user = (id: string): string => conns.find((c) => c.id === id)?.user ?? '';
    await appendMessages(user('rc-imap-ok'), [simpleMessage('leak check imap')]);
    await appendMessages(user('rc-pop3-ok'), [simpleMessage('leak check pop3')]);

    red = await startNodeRed(admins, { logLevel: 'trace' });
    errorsFile = path.join(red.userDir, 'caught-and-status.jsonl');
    comms = await CommsRecorder.connect(red);

    const debug = (id: string) => ({ id, type: 'debug', z: 'tab', name: '', active: true, tosidebar: true, console: true, tostatus: false, complete: 'true', targetType: 'full', wires: [] });
    const receivers = conns.filter((c) => c.id.startsWith('rc-')).map((c) => ({
      id: `re-${c.id.slice(3)}`, type: 'mailwire-receive-email', z: 'tab', name: '', connection: c.id, folder: '', unseenOnly: true, delay: 1, delayUnit: 's', maxEmails: 5, wires: [['dbg-recv']],
    }));
    const senders = conns.filter((c) => c.id.startsWith('sc-')).flatMap((c) => {
      const name = c.id.slice(3);
      return [
        { id: `inj-${name}`, type: 'inject', z: 'tab', name: '', props: [{ p: 'payload' }], payload: 'leak check body', payloadType: 'str', repeat: '', crontab: '', once: false, topic: '', wires: [[`se-${name}`]] },
        { id: `se-${name}`, type: 'mailwire-send-email', z: 'tab', name: '', connection: c.id, from: 'leak@example.test', to: `${uniqueUser('leak-rcpt')}@example.test`, subject: 'leak check', text: '', cc: '', bcc: '', priority: 'input', wires: [['dbg-send']] },
      ];
    });
    const flows = [
      { id: 'tab', type: 'tab', label: 'leaks' },
      // A canary: a text that is meant to surface everywhere an error surfaces, to show that each
      // channel searched below really carries errors.
      { id: 'inj-canary', type: 'inject', z: 'tab', name: '', props: [{ p: 'payload' }], payload: '', payloadType: 'str', repeat: '', crontab: '', once: false, topic: '', wires: [['fn-canary']] },
      { id: 'fn-canary', type: 'function', z: 'tab', name: '', func: `node.status({ fill: 'red', text: '${CANARY}' });\nnode.error('${CANARY}', msg);\nreturn null;`, outputs: 1, noerr: 0, initialize: '', finalize: '', libs: [], wires: [[]] },
      ...conns.map((c) => c.node),
      ...receivers,
      ...senders,
      debug('dbg-recv'),
      debug('dbg-send'),
      debug('dbg-catch'),
      debug('dbg-status'),
      // A second tab without a Catch node: its errors are not handled, so Node-RED logs them at [error].
      { id: 'tab2', type: 'tab', label: 'uncaught' },
      ...[['re2-imap-wrong', 'rc-imap-wrong'], ['re2-pop3-strip', 'rc-pop3-strip'], ['re2-pop3-ok', 'rc-pop3-ok']].map(([id, connection]) => ({
        id, type: 'mailwire-receive-email', z: 'tab2', name: '', connection, folder: '', unseenOnly: true, delay: 1, delayUnit: 's', maxEmails: 5, wires: [[]],
      })),
      { id: 'inj2-wrong', type: 'inject', z: 'tab2', name: '', props: [{ p: 'payload' }], payload: 'x', payloadType: 'str', repeat: '', crontab: '', once: false, topic: '', wires: [['se2-wrong']] },
      { id: 'se2-wrong', type: 'mailwire-send-email', z: 'tab2', name: '', connection: 'sc-wrong', from: 'leak@example.test', to: 'leak-rcpt@example.test', subject: 'leak check', text: '', cc: '', bcc: '', priority: 'input', wires: [[]] },
      { id: 'catch-all', type: 'catch', z: 'tab', name: '', scope: null, uncaught: false, wires: [['dbg-catch', 'fn-dump']] },
      { id: 'status-all', type: 'status', z: 'tab', name: '', scope: null, wires: [['dbg-status', 'fn-dump']] },
      { id: 'fn-dump', type: 'function', z: 'tab', name: '', func: 'msg.payload = JSON.stringify(msg);\nreturn msg;', outputs: 1, noerr: 0, initialize: '', finalize: '', libs: [], wires: [['file-dump']] },
      { id: 'file-dump', type: 'file', z: 'tab', name: '', filename: errorsFile, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', wires: [] },
    ];
    const deployed = await api('deploy', 'POST', '/flows', { flows });
    assert.equal(deployed.status, 200, JSON.stringify(deployed.json));
  });

  after(async () => {
    comms?.close();
    await red?.stop();
    await Promise.all(proxies.map((p) => p.close().catch(() => undefined)));
    await tokenEndpoint?.close();
    // The package is linked into the user directory: rm removes the link, not the repository.
    if (red) fs.rmSync(red.userDir, { recursive: true, force: true });
  });

  it('wrong passwords, stripped StartTLS, successful sessions, cut connections and Validate calls leave no password anywhere', async () => {
    assert.ok(red && comms);
    // 1. Receive: four failing connections report through Catch; the two good ones emit their email.
    // Receive Email reports each new kind of failure once per streak, so the expected one is
    // looked for among all that were caught.
    const hasTopic = (id: string, topic: string): boolean => caughtFrom(id).some((m) => m.topic === topic);
    await waitUntil(
      'the receive errors and emails',
      20000,
      () => hasTopic('re-imap-wrong', 'auth') && hasTopic('re-pop3-wrong', 'auth') && hasTopic('re-imap-strip', 'starttls-unavailable') && hasTopic('re-pop3-strip', 'starttls-unavailable') && debugFrom('dbg-recv').length >= 2,
      explain,
    );

    // 2. Send: wrong password, stripped StartTLS, and one that goes through.
    for (const id of ['inj-wrong', 'inj-strip', 'inj-ok', 'inj-canary', 'inj2-wrong', 'inj-oauth']) assert.equal((await api(`inject ${id}`, 'POST', `/inject/${id}`)).status, 200, `inject ${id}`);
    await waitUntil('the send outcomes', 20000, () => caughtFrom('se-wrong').length >= 1 && caughtFrom('se-strip').length >= 1 && debugFrom('dbg-send').length >= 1, explain);
    assert.equal((caughtFrom('se-wrong')[0].error as { code?: string }).code, 'auth', JSON.stringify(caughtFrom('se-wrong')[0].error));
    // The OAuth2 connections failed too (whichever way: their refresh token is refused).
    await waitUntil('the OAuth2 connections\' errors', 20000, () => caughtFrom('re-oauth').length >= 1 && caughtFrom('se-oauth').length >= 1, explain);
    assert.equal((caughtFrom('se-strip')[0].error as { code?: string }).code, 'starttls-unavailable', JSON.stringify(caughtFrom('se-strip')[0].error));

    // 3. Validate: the saved password (__PWRD__), a wrong one and the right one, both sides.
    const body = (id: string, password: string): Record<string, unknown> => {
      const c = conns.find((x) => x.id === id);
      assert.ok(c);
      const { credentials: _omit, type: _type, ...props } = c.node;
      return { ...props, id, user: c.user, password };
    };
    const realImap = { protocol: 'imap', host: 'localhost', port: ports.imaps, security: 'tls', certificate: pem, user: uniqueUser('leak-v') };
    const realSmtp = { host: 'localhost', port: ports.submissions, security: 'tls', certificate: pem, user: uniqueUser('leak-v') };
    const validations: Array<[string, string, Record<string, unknown>, string]> = [
      ['receive', 'saved wrong imap', body('rc-imap-wrong', '__PWRD__'), 'auth'],
      ['receive', 'saved wrong pop3', body('rc-pop3-wrong', '__PWRD__'), 'auth'],
      ['receive', 'saved, stripped', body('rc-imap-strip', '__PWRD__'), 'starttls-unavailable'],
      ['receive', 'saved right imap', body('rc-imap-ok', '__PWRD__'), 'ok'],
      ['receive', 'saved right pop3', body('rc-pop3-ok', '__PWRD__'), 'ok'],
      ['receive', 'typed wrong', { ...realImap, password: SENTINEL }, 'auth'],
      ['receive', 'typed right', { ...realImap, password: REAL }, 'ok'],
      ['send', 'saved wrong', body('sc-wrong', '__PWRD__'), 'auth'],
      ['send', 'saved, stripped', body('sc-strip', '__PWRD__'), 'starttls-unavailable'],
      ['send', 'saved right', body('sc-ok', '__PWRD__'), 'ok'],
      ['send', 'typed wrong', { ...realSmtp, password: SENTINEL }, 'auth'],
      ['send', 'typed right', { ...realSmtp, password: REAL }, 'ok'],
    ];
    // OAuth2 Validate calls with the saved client secret and refresh token, and with typed ones:
    // whatever they come to, the reply never repeats them.
    const oauthValidations: Array<[string, string, Record<string, unknown>]> = [
      ['receive', 'oauth saved', { ...body('rc-oauth', ''), oauthClientSecret: '__PWRD__', oauthRefreshToken: '__PWRD__' }],
      ['receive', 'oauth typed', { ...body('rc-oauth', ''), id: 'not-deployed', oauthClientSecret: CLIENT_SECRET, oauthRefreshToken: REFRESH_TOKEN }],
      ['send', 'oauth saved', { ...body('sc-oauth', ''), oauthClientSecret: '__PWRD__', oauthRefreshToken: '__PWRD__' }],
      ['send', 'oauth saved elsewhere', { ...body('sc-oauth', ''), oauthClientSecret: '__PWRD__', oauthRefreshToken: '__PWRD__', oauthTokenUrl: 'https://elsewhere.example/token' }],
    ];
    for (const [kind, what, payload] of oauthValidations) {
      const reply = await api(`validate ${kind} ${what}`, 'POST', `/mailwire/validate/${kind}`, payload);
      assert.equal(reply.status, 200, `${kind} ${what}: ${JSON.stringify(reply.json)}`);
      assert.equal((reply.json as { ok: boolean }).ok, false, `${kind} ${what}: ${JSON.stringify(reply.json)}`);
    }
    for (const [kind, what, payload, code] of validations) {
      const reply = await api(`validate ${kind} ${what}`, 'POST', `/mailwire/validate/${kind}`, payload);
      assert.equal(reply.status, 200, `${kind} ${what}: ${JSON.stringify(reply.json)}`);
      assert.equal((reply.json as { code: string }).code, code, `${kind} ${what}: ${JSON.stringify(reply.json)}`);
    }

    // 4. Cut the good connections mid-session, then take their server away.
    const before = { imap: caughtFrom('re-imap-ok').length, pop3: caughtFrom('re-pop3-ok').length };
    for (const p of Object.values(cut)) p.cutAll();
    await sleep(1500);
    for (const p of Object.values(cut)) await p.close();
    assert.equal((await api('inject after cut', 'POST', '/inject/inj-ok')).status, 200, 'inject after the cut');
    await waitUntil('errors after the cut', 20000, () => caughtFrom('re-imap-ok').length > before.imap && caughtFrom('re-pop3-ok').length > before.pop3 && caughtFrom('se-ok').length >= 1, explain);
    await waitUntil('the uncaught errors in the log', 10000, () => ['re2-imap-wrong', 're2-pop3-strip', 're2-pop3-ok', 'se2-wrong'].every((id) => new RegExp(`\\[error\\] \\[mailwire-(receive|send)-email:${id}\\]`).test(red?.log ?? '')), explain);

    // 5. The flow export and the credentials API.
    const v2 = await api('GET /flows v2', 'GET', '/flows');
    assert.equal(v2.status, 200, 'GET /flows');
    const exported = (v2.json as { flows: Array<Record<string, unknown>> }).flows;
    for (const c of conns) {
      const node = exported.find((n) => n.id === c.id);
      assert.ok(node, c.id);
      assert.equal(node.credentials, undefined, `${c.id}: no credentials in the export`);
    }
    const v1 = await red.api('GET', '/flows', undefined);
    replies.push({ what: 'GET /flows (with v2 header, raw)', body: await v1.text() });
    const v1res = await fetch(`${red.url}/flows`, { headers: { authorization: `Bearer ${await red.token()}` } });
    replies.push({ what: 'GET /flows v1', body: await v1res.text() });
    for (const c of conns) {
      const reply = await api(`credentials ${c.id}`, 'GET', `/credentials/${c.node.type as string}/${c.id}`);
      assert.equal(reply.status, 200, `credentials ${c.id}`);
      const oauth = c.node.auth === 'oauth2';
      assert.deepEqual(reply.json, { user: c.user, has_password: !oauth, has_oauthClientSecret: oauth, has_oauthRefreshToken: oauth }, c.id);
    }
    const nodeInfo = await api('GET /nodes', 'GET', '/nodes');
    assert.equal(nodeInfo.status, 200, 'GET /nodes');

    // 6. Stop Node-RED so that everything it would write (shutdown included) is written.
    await sleep(500);
    comms.close();
    await red.stop();

    // The channels were live: each recorded what it should have.
    const log = red.log;
    assert.match(log, /\[trace\]/, 'trace logging was on');
    assert.match(log, /\[debug:dbg-catch\]/, 'debug nodes wrote to the log');
    assert.ok(debugFrom('dbg-recv').length >= 2 && debugFrom('dbg-catch').length >= 6 && debugFrom('dbg-status').length >= 6, 'debug output on the comms channel');
    assert.ok(comms.events.some((e) => e.topic.startsWith('status/')), 'status events on the comms channel');
    assert.ok(dumped().some((m) => m.status), 'Status node messages in the file');
    assert.ok(dumped().length >= 12, 'Catch and Status messages in the file');

    if (process.env.MAILWIRE_SECURITY_DUMP) {
      fs.writeFileSync(path.join(process.env.MAILWIRE_SECURITY_DUMP, 'node-red.log'), log);
      fs.writeFileSync(path.join(process.env.MAILWIRE_SECURITY_DUMP, 'comms.txt'), comms.text);
      fs.writeFileSync(path.join(process.env.MAILWIRE_SECURITY_DUMP, 'replies.json'), JSON.stringify(replies, null, 1));
    }
    // The canary error reached the log, the comms channel, the Catch file and (in its function) the export.
    const exportText = replies.filter((r) => r.what.startsWith('GET /flows')).map((r) => r.body).join('\n');
    for (const [where, text] of [['log', log], ['comms', comms.text], ['Catch/Status file', fs.readFileSync(errorsFile, 'utf8')], ['flow export', exportText]]) {
      assert.ok(text.includes(CANARY), `the canary is in the ${where}: the search below can see what goes there`);
    }

    // No secret in any of them.
    const secrets = new Set<string>([SENTINEL, REAL, CLIENT_SECRET, REFRESH_TOKEN]);
    for (const c of conns) for (const form of secretForms(c.user, c.password)) if (form.length >= 8) secrets.add(form);
    const places: Array<[string, string]> = [
      ['Node-RED stdout/stderr', log],
      ['comms websocket', comms.text],
      ['Catch/Status file', fs.readFileSync(errorsFile, 'utf8')],
      ...replies.map((r): [string, string] => [`admin API: ${r.what}`, r.body]),
      ...filesUnder(red.userDir).map((f): [string, string] => [`file ${path.relative(red?.userDir ?? '', f)}`, fs.readFileSync(f, 'latin1')]),
    ];
    const leaks: string[] = [];
    for (const [where, text] of places) {
      for (const secret of secrets) if (text.includes(secret)) leaks.push(`${where} contains ${secret === REAL ? 'the real password' : secret === SENTINEL ? 'the sentinel' : secret === CLIENT_SECRET ? 'the OAuth2 client secret' : secret === REFRESH_TOKEN ? 'the OAuth2 refresh token' : 'a base64 form of a password'}`);
    }
    assert.deepEqual(leaks, []);

    // And the stripped sessions never carried a credential to the man in the middle.
    for (const [name, mitm] of Object.entries(strip)) {
      assert.ok(mitm.total >= 1, `${name}: the stripped connection was used`);
      assert.ok(![...secrets].some((s) => mitm.clientText.includes(s)), `${name}: a credential crossed the stripped connection`);
      assert.doesNotMatch(mitm.clientText, /^(\S+ LOGIN|\S+ AUTHENTICATE|USER|PASS|AUTH)\b/im, name);
    }
  });
});
