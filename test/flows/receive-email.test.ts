import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Node, NodeMessage } from 'node-red';
import type { NodeInitializer } from '../support/flows';
import { coreNode, helper, nodeModule } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { appendMessages, certificatePem, listMailbox, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { sleep, until } from '../support/wait';

type Flow = Parameters<typeof helper.load>[1];

// The helper's typings take one initializer; its code takes an array as well.
const nodes = (): NodeInitializer => [nodeModule('receive-connection'), nodeModule('receive-email'), coreNode('common/25-catch.js')] as unknown as NodeInitializer;

function connection(protocol: 'imap' | 'pop3', security: 'none' | 'starttls' | 'tls' = 'none'): Record<string, unknown> {
  const info = serverInfo();
  const ports = { imap: { none: info.ports.imap, starttls: info.ports.imap, tls: info.ports.imaps }, pop3: { none: info.ports.pop3, starttls: info.ports.pop3, tls: info.ports.pop3s } };
  return {
    id: 'conn',
    type: 'mailwire-receive-connection',
    name: 'test',
    protocol,
    host: security === 'none' ? '127.0.0.1' : 'localhost',
    port: ports[protocol][security],
    security,
    certificate: security === 'none' ? '' : certificatePem(),
  };
}

function receiver(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'recv', type: 'mailwire-receive-email', connection: 'conn', folder: '', unseenOnly: true, delay: 300, delayUnit: 'ms', maxEmails: 5, wires: [['out']], ...overrides };
}

function flow(conn: Record<string, unknown>, recv: Record<string, unknown>): Flow {
  return [
    { id: 'tab', type: 'tab' },
    { ...conn, z: undefined },
    { ...recv, z: 'tab' },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ].map((n) => Object.fromEntries(Object.entries(n).filter(([, v]) => v !== undefined))) as unknown as Flow;
}

function credentials(user: string, password = serverInfo().password): Record<string, Record<string, string>> {
  return { conn: { user, password } };
}

interface Recorded {
  messages: Array<NodeMessage & Record<string, unknown>>;
  at: number[];
}

function record(id: string): Recorded {
  const rec: Recorded = { messages: [], at: [] };
  helper.getNode(id).on('input', (msg: NodeMessage) => {
    rec.messages.push(msg as NodeMessage & Record<string, unknown>);
    rec.at.push(Date.now());
  });
  return rec;
}

interface StatusSpy {
  args: Array<[{ fill?: string; text?: string }]>;
}

function statusTexts(node: Node): string[] {
  return (node.status as unknown as StatusSpy).args.map(([s]) => s.text ?? '');
}

describe('Receive Email in a flow', () => {
  const suite = nodeRedSuite();

  it('the worked example: ten waiting, five per poll, oldest first, one message per email', async () => {
    const user = uniqueUser('flow');
    const subjects = Array.from({ length: 10 }, (_, i) => `worked ${i + 1}`);
    await appendMessages(user, subjects.map((s) => simpleMessage(s)));
    await helper.load(nodes(), flow(connection('imap', 'starttls'), receiver({ delay: 1, delayUnit: 's' })), credentials(user));
    const out = record('out');
    await until(() => out.messages.length >= 10, 10000, 'ten emails');
    assert.deepEqual(out.messages.map((m) => m.topic), subjects);
    // The second five come one delay after the first five.
    assert.ok(out.at[5] - out.at[4] >= 900, `gap ${out.at[5] - out.at[4]} ms`);
    const first = out.messages[0];
    assert.equal(first.payload, 'Body of worked 1\n');
    assert.equal((first.email as { folder: string }).folder, 'INBOX');
    assert.ok(first.date instanceof Date);
    const texts = statusTexts(helper.getNode('recv'));
    assert.ok(texts.includes('mailwire-receive-email.status.polled'), texts.join('|'));
    const box = await listMailbox(user);
    assert.ok(box.every((m) => m.seen));
  });

  it('sends nothing on an empty poll and keeps polling', async () => {
    const user = uniqueUser('empty');
    await helper.load(nodes(), flow(connection('pop3', 'tls'), receiver({ delay: 200 })), credentials(user));
    const out = record('out');
    const recv = helper.getNode('recv');
    await until(() => statusTexts(recv).filter((t) => t === 'mailwire-receive-email.status.polled').length >= 3, 5000, 'three polls');
    assert.equal(out.messages.length, 0);
    await appendMessages(user, [simpleMessage('late arrival')]);
    await until(() => out.messages.length === 1, 5000, 'the late email');
    assert.equal(out.messages[0].topic, 'late arrival');
    assert.match(String((out.messages[0].email as { uidl: string }).uidl), /\w+/);
  });

  it('POP3: each email once, remembered across a redeploy; messages stay on the server', async () => {
    const user = uniqueUser('pop3flow');
    await appendMessages(user, [simpleMessage('p1'), simpleMessage('p2')]);
    await helper.load(nodes(), flow(connection('pop3', 'starttls'), receiver({ maxEmails: -1 })), credentials(user));
    let out = record('out');
    await until(() => out.messages.length === 2, 5000, 'two emails');
    await helper.unload();
    await appendMessages(user, [simpleMessage('p3')]);
    await helper.load(nodes(), flow(connection('pop3', 'starttls'), receiver({ maxEmails: -1 })), credentials(user));
    out = record('out');
    await until(() => out.messages.length === 1, 5000, 'the new email');
    await sleep(800);
    assert.deepEqual(out.messages.map((m) => m.topic), ['p3']);
    assert.equal((await listMailbox(user)).length, 3);
    assert.ok(fs.readdirSync(path.join(suite.userDir, 'mailwire-state')).includes('recv.json'));
  });

  it('POP3 with "delete after emitting" removes what it emitted', async () => {
    const user = uniqueUser('pop3del');
    await appendMessages(user, [simpleMessage('d1'), simpleMessage('d2')]);
    await helper.load(nodes(), flow(connection('pop3', 'none'), receiver({ id: 'recvdel', pop3Delete: true, maxEmails: -1 })), credentials(user));
    const out = record('out');
    await until(() => out.messages.length === 2, 5000, 'two emails');
    await until(() => statusTexts(helper.getNode('recvdel')).includes('mailwire-receive-email.status.polled'), 5000, 'the poll to end');
    await sleep(300);
    assert.equal((await listMailbox(user)).length, 0);
  });

  it('POP3 with a folder other than the inbox is a configuration error shown in status', async () => {
    await helper.load(nodes(), flow(connection('pop3'), receiver({ folder: 'Archive' })), credentials(uniqueUser()));
    const recv = helper.getNode('recv');
    await until(() => statusTexts(recv).length > 0, 2000, 'status');
    assert.deepEqual(statusTexts(recv), ['mailwire-receive-email.status.pop3-folder']);
    assert.equal((recv.error as unknown as StatusSpy).args.length, 1);
  });

  it('a wrong password: red status, a catchable error, and the node keeps running', async () => {
    await helper.load(nodes(), flow(connection('imap'), receiver({ delay: 200 })), credentials(uniqueUser(), 'wrong-password-sentinel'));
    const caught = record('caught');
    const recv = helper.getNode('recv');
    await until(() => caught.messages.length >= 1, 5000, 'the Catch node');
    const error = caught.messages[0].error as { message: string; source: { id: string } };
    assert.equal(error.source.id, 'recv');
    assert.equal(error.message, 'mailwire-receive-connection.errors.auth');
    assert.ok(statusTexts(recv).includes('mailwire-receive-email.status.retrying'));
    assert.doesNotMatch(JSON.stringify(caught.messages[0]), /wrong-password-sentinel/);
  });

  it('a missing folder is reported, and emails flow once it exists', async () => {
    const user = uniqueUser('laterfolder');
    await appendMessages(user, [simpleMessage('x')]);
    await helper.load(nodes(), flow(connection('imap'), receiver({ folder: 'Later', delay: 100 })), credentials(user));
    const caught = record('caught');
    const out = record('out');
    await until(() => caught.messages.length >= 1, 5000, 'the folder error');
    assert.equal((caught.messages[0].error as { message: string }).message, 'mailwire-receive-connection.errors.folder');
    await appendMessages(user, [simpleMessage('in later')], { folder: 'Later', create: true });
    // Back-off after the failure is at most a few seconds at this delay.
    await until(() => out.messages.length === 1, 10000, 'the email in the new folder');
    assert.equal(out.messages[0].topic, 'in later');
  });

  it('no connection selected: an error and a red status, no crash', async () => {
    await helper.load(nodes(), [{ id: 'tab', type: 'tab' }, { ...receiver({ connection: 'missing' }), z: 'tab' }, { id: 'out', type: 'helper', z: 'tab' }] as unknown as Flow);
    const recv = helper.getNode('recv');
    await until(() => statusTexts(recv).length > 0, 2000, 'status');
    assert.deepEqual(statusTexts(recv), ['mailwire-receive-email.status.no-connection']);
  });

  it('closing during a fetch finishes promptly and emits nothing afterwards', async () => {
    const user = uniqueUser('close');
    await appendMessages(user, Array.from({ length: 60 }, (_, i) => simpleMessage(`c${i}`, 'y'.repeat(20000))));
    await helper.load(nodes(), flow(connection('imap', 'tls'), receiver({ maxEmails: -1 })), credentials(user));
    const out = record('out');
    await until(() => out.messages.length >= 1, 5000, 'the first email');
    const started = Date.now();
    await helper.unload();
    const closedIn = Date.now() - started;
    const countAtClose = out.messages.length;
    await sleep(500);
    assert.equal(out.messages.length, countAtClose, 'nothing after close');
    assert.ok(closedIn < 2000, `close took ${closedIn} ms`);
    // Nothing is marked read that was not emitted.
    const seen = (await listMailbox(user)).filter((m) => m.seen).length;
    assert.ok(seen <= countAtClose, `${seen} read, ${countAtClose} emitted`);
    await helper.load(nodes(), flow(connection('imap', 'tls'), receiver()), credentials(uniqueUser()));
  });
});

describe('Validate route', () => {
  nodeRedSuite();

  const body = (overrides: Record<string, unknown> = {}): Record<string, unknown> => {
    const info = serverInfo();
    return { id: 'conn', protocol: 'imap', host: 'localhost', port: info.ports.imaps, security: 'tls', certificate: certificatePem(), user: 'route-user', password: info.password, ...overrides };
  };

  it('answers ok with the folders, and a failure with a code and a message key', async () => {
    await helper.load(nodes(), flow(connection('imap', 'tls'), receiver({ delay: 1, delayUnit: 'h' })), credentials('route-user'));
    const ok = await helper.request().post('/mailwire/validate/receive').send(body()).expect(200);
    assert.equal(ok.body.ok, true);
    assert.equal(ok.body.code, 'ok');
    assert.equal(ok.body.message, 'mailwire-receive-connection.validate.ok-imap');
    assert.ok(ok.body.folders.includes('INBOX'));
    const pop = await helper.request().post('/mailwire/validate/receive').send(body({ protocol: 'pop3', port: serverInfo().ports.pop3s })).expect(200);
    assert.equal(pop.body.message, 'mailwire-receive-connection.validate.ok-pop3');
    const bad = await helper.request().post('/mailwire/validate/receive').send(body({ certificate: '' })).expect(200);
    assert.equal(bad.body.code, 'tls-untrusted');
    assert.equal(bad.body.message, 'mailwire-receive-connection.errors.tls-untrusted');
    assert.match(bad.body.certificate.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('uses a saved password only for the same deployed host, port and user, and never echoes it', async () => {
    const password = serverInfo().password;
    await helper.load(nodes(), flow(connection('imap', 'tls'), receiver({ delay: 1, delayUnit: 'h' })), credentials('route-user'));
    const conn = connection('imap', 'tls');
    const saved = await helper.request().post('/mailwire/validate/receive').send(body({ host: conn.host, port: conn.port, password: '__PWRD__' })).expect(200);
    assert.equal(saved.body.code, 'ok');
    for (const change of [{ port: serverInfo().ports.imap, security: 'starttls' }, { security: 'none' }, { certificate: '' }, { user: 'someone-else' }, { host: '127.0.0.1' }, { id: 'nope' }, { protocol: 'pop3', port: serverInfo().ports.pop3s }]) {
      const refused = await helper.request().post('/mailwire/validate/receive').send(body({ host: conn.host, port: conn.port, password: '__PWRD__', ...change })).expect(200);
      assert.equal(refused.body.code, 'invalid-config', JSON.stringify(change));
      assert.equal(refused.body.details.problem, 'saved-password');
    }
    const wrong = await helper.request().post('/mailwire/validate/receive').send(body({ password: 'wrong-password-sentinel' })).expect(200);
    assert.equal(wrong.body.code, 'auth');
    for (const reply of [saved, wrong]) {
      assert.ok(!JSON.stringify(reply.body).includes(password));
      assert.ok(!JSON.stringify(reply.body).includes('wrong-password-sentinel'));
    }
  });

  it('more than ten calls a minute from one client get 429', async () => {
    await helper.load(nodes(), flow(connection('imap', 'tls'), receiver({ delay: 1, delayUnit: 'h' })), credentials('route-user'));
    const statuses: number[] = [];
    for (let i = 0; i < 11; i += 1) {
      const res = await helper.request().post('/mailwire/validate/receive').send(body({ host: '' }));
      statuses.push(res.status);
    }
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(200));
    assert.equal(statuses[10], 429);
  });
});
