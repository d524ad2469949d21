import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import type { NodeMessage } from 'node-red';
import { SmtpSender } from '../../src/lib/smtp/smtp-sender';
import { composeMail } from '../../src/lib/smtp/outgoing-mail';
import type { NodeInitializer } from '../support/flows';
import { coreNode, helper, nodeModule } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { adminClient, appendMessages, certificatePem, listMailbox, repoRoot, sendSettings, serverInfo, simpleMessage, uniqueUser, waitForMessages } from '../support/servers';
import { sleep, until } from '../support/wait';

type FlowNode = Record<string, unknown> & { id: string; type: string };
type Flow = Parameters<typeof helper.load>[1];

const OUR_TYPES = ['mailwire-receive-connection', 'mailwire-receive-email', 'mailwire-send-connection', 'mailwire-send-email', 'mailwire-email-done'];
const CORE_FILES: Record<string, string> = {
  comment: 'common/90-comment.js',
  inject: 'common/20-inject.js',
  debug: 'common/21-debug.js',
  change: 'function/15-change.js',
  switch: 'function/10-switch.js',
  function: 'function/10-function.js',
  catch: 'common/25-catch.js',
  'http request': 'network/21-httprequest.js',
};
const examplesDir = path.join(repoRoot, 'examples');
const exampleFiles = fs.readdirSync(examplesDir).filter((f) => f.endsWith('.json')).sort();

function readExample(file: string): FlowNode[] {
  return JSON.parse(fs.readFileSync(path.join(examplesDir, file), 'utf8')) as FlowNode[];
}

function initializers(flow: FlowNode[]): NodeInitializer {
  const core = [...new Set(flow.map((n) => n.type))].filter((t) => CORE_FILES[t]).map((t) => coreNode(CORE_FILES[t]));
  // The helper's typings take one initializer; its code takes an array as well.
  return [...OUR_TYPES.map((t) => nodeModule(t.replace('mailwire-', '') as 'receive-connection')), ...core] as unknown as NodeInitializer;
}

/** Points an example at the local servers, as a user would by editing its connections. */
function retarget(flow: FlowNode[], mailbox: string, extra: (node: FlowNode) => void = () => undefined): { flow: Flow; credentials: Record<string, Record<string, string>> } {
  const info = serverInfo();
  const credentials: Record<string, Record<string, string>> = {};
  const nodes = flow.map((n) => {
    const node: FlowNode = { ...n, z: n.type.endsWith('-connection') ? undefined : 'tab' };
    if (n.type === 'mailwire-receive-connection') {
      Object.assign(node, { host: 'localhost', port: info.ports.imaps, security: 'tls', certificate: certificatePem() });
      credentials[n.id] = { user: mailbox, password: info.password };
    }
    if (n.type === 'mailwire-send-connection') {
      Object.assign(node, { host: 'localhost', port: info.ports.submission, security: 'starttls', certificate: certificatePem() });
      credentials[n.id] = { user: 'example-sender', password: info.password };
    }
    if (n.type === 'mailwire-receive-email') Object.assign(node, { delay: 300, delayUnit: 'ms' });
    extra(node);
    return Object.fromEntries(Object.entries(node).filter(([, v]) => v !== undefined));
  });
  return { flow: [{ id: 'tab', type: 'tab' }, ...nodes] as unknown as Flow, credentials };
}

function spyOn(id: string): NodeMessage[] {
  const seen: NodeMessage[] = [];
  helper.getNode(id).on('input', (msg: NodeMessage) => seen.push(msg));
  return seen;
}

describe('example flows', () => {
  nodeRedSuite();

  it('each starts with a comment, has placeholder hosts and no credentials, and uses only core nodes beside ours', () => {
    assert.ok(exampleFiles.length >= 4);
    const used = new Set<string>();
    for (const file of exampleFiles) {
      const flow = readExample(file);
      assert.equal(flow[0].type, 'comment', file);
      for (const node of flow) {
        used.add(node.type);
        assert.ok(OUR_TYPES.includes(node.type) || CORE_FILES[node.type], `${file}: ${node.type}`);
        assert.equal(node.credentials, undefined, `${file}: credentials`);
        if (typeof node.host === 'string') assert.match(node.host, /(^|\.)example\.(com|org|net)$/, `${file}: placeholder host`);
      }
    }
    for (const type of ['mailwire-receive-email', 'mailwire-send-email', 'mailwire-email-done']) assert.ok(used.has(type), `${type} is in an example`);
  });

  for (const file of exampleFiles) {
    it(`deploys: ${file}`, async () => {
      const { flow, credentials } = retarget(readExample(file), uniqueUser('example'));
      await helper.load(initializers(readExample(file)), flow, credentials);
      for (const node of readExample(file)) assert.ok(helper.getNode(node.id), `${node.type} ${node.id} started`);
    });
  }

  it('receive to debug: a waiting email reaches the debug node', async () => {
    const mailbox = uniqueUser('ex1');
    await appendMessages(mailbox, [simpleMessage('shows in debug')]);
    const example = readExample('01 Receive emails to the debug sidebar.json');
    const { flow, credentials } = retarget(example, mailbox);
    await helper.load(initializers(example), flow, credentials);
    const debug = example.find((n) => n.type === 'debug');
    const seen = spyOn(String(debug?.id));
    await until(() => seen.length === 1, 10000, 'the email at the debug node');
    assert.equal(seen[0].topic, 'shows in debug');
  });

  it('auto-reply, end to end: mail sent over SMTP is received, answered, and the answer lands in the sender\'s mailbox', async () => {
    const [support, customer] = [uniqueUser('support'), uniqueUser('customer')];
    const example = readExample('02 Auto-reply to each received email.json');
    const { flow, credentials } = retarget(example, support, (node) => {
      if (node.type === 'mailwire-send-email') node.from = `Support <${support}@example.test>`;
    });
    // An automatic message waiting in the inbox: it must not be answered.
    await appendMessages(support, [Buffer.from(`From: Robot <${customer}@example.test>\r\nTo: ${support}@example.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\naway\r\n`)]);
    await helper.load(initializers(example), flow, credentials);
    const sender = new SmtpSender(sendSettings('tls', customer), { maxConnections: 1, retryDelaysMs: [] });
    try {
      await sender.send(composeMail({ from: `Customer <${customer}@example.test>`, to: `${support}@example.test`, cc: '', bcc: '', subject: 'Where is my order?', text: 'Line one\nLine two' }, {}, 'input'));
    } finally {
      sender.close();
    }
    const [reply] = await waitForMessages(customer, 1, 20000);
    const parsed = await simpleParser(reply);
    assert.equal(parsed.subject, 'Re: Where is my order?');
    assert.equal(parsed.from?.value[0].address, `${support}@example.test`);
    assert.match(parsed.text ?? '', /Thank you for your email/);
    assert.match(parsed.text ?? '', /> Line one\n> Line two/);
    assert.equal(parsed.cc, undefined);
    await sleep(1500);
    assert.equal((await waitForMessages(customer, 1)).length, 1, 'the automatic message got no answer');
  });

  it('send from inject: the inject button sends the mapped email', async () => {
    const rcpt = uniqueUser('ex3');
    const example = readExample('03 Send an email from an inject node.json');
    const { flow, credentials } = retarget(example, 'unused', (node) => {
      if (node.type === 'inject') node.payload = JSON.stringify({ customer: 'Taro Yamada', email: `${rcpt}@example.test`, order: 'A-1001' });
    });
    await helper.load(initializers(example), flow, credentials);
    const inject = example.find((n) => n.type === 'inject');
    helper.getNode(String(inject?.id)).receive({});
    const [raw] = await waitForMessages(rcpt, 1);
    const parsed = await simpleParser(raw);
    assert.equal(parsed.subject, 'Your order A-1001 has shipped');
    assert.equal(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value[0].name : '', 'Taro Yamada');
    assert.match(parsed.text ?? '', /Dear Taro Yamada/);
  });

  it('forward to HTTP: the endpoint receives subject and sender as JSON', async () => {
    const received: string[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const mailbox = uniqueUser('ex4');
      await appendMessages(mailbox, [simpleMessage('forward me')]);
      const example = readExample('04 Forward each email to an HTTP endpoint.json');
      const { flow, credentials } = retarget(example, mailbox, (node) => {
        if (node.type === 'http request') node.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/email`;
      });
      await helper.load(initializers(example), flow, credentials);
      await until(() => received.length === 1, 10000, 'the POST');
      const body = JSON.parse(received[0]) as { subject: string; from: string; key: string };
      assert.equal(body.subject, 'forward me');
      assert.match(body.from, /sender@example\.test/);
      assert.match(body.key, /\/INBOX\/\d+\/1$/);
    } finally {
      server.close();
    }
  });

  it('file into Done or Failed, end to end: each email is acknowledged once, and moved by its result', async () => {
    const mailbox = uniqueUser('ex5');
    // The folders the example's comment asks the user to create.
    const client = await adminClient(mailbox);
    try {
      for (const folder of ['Done', 'Failed']) await client.mailboxCreate(folder);
    } finally {
      await client.logout().catch(() => undefined);
    }
    const subjects = ['order 1', 'please fail this one', 'order 2', 'FAIL: order 3', 'order 4'];
    const fails = (subject: string): boolean => /fail/i.test(subject);
    await appendMessages(mailbox, subjects.map((s) => simpleMessage(s)));
    const example = readExample('05 Process each email and file it into Done or Failed.json');
    const { flow, credentials } = retarget(example, mailbox);
    await helper.load(initializers(example), flow, credentials);
    const emitted = spyOn(String(example.find((n) => n.type === 'change')?.id));
    const settled = spyOn(String(example.find((n) => n.type === 'debug')?.id));

    await until(() => settled.length === subjects.length, 20000, 'every email at the debug node, settled');
    await until(async () => (await listMailbox(mailbox, 'Done')).length + (await listMailbox(mailbox, 'Failed')).length === subjects.length, 10000, 'every email in Done or Failed', 200);
    assert.deepEqual((await listMailbox(mailbox, 'Done')).map((m) => m.subject).sort(), subjects.filter((s) => !fails(s)).sort());
    assert.deepEqual((await listMailbox(mailbox, 'Failed')).map((m) => m.subject).sort(), subjects.filter(fails).sort());
    assert.deepEqual(await listMailbox(mailbox), [], 'nothing left in the inbox');

    type Settled = { topic: string; email: { key: string; settled: unknown } };
    const results = (settled as unknown as Settled[]).map((m) => ({ subject: m.topic, settled: m.email.settled }));
    assert.deepEqual(
      results.sort((a, b) => a.subject.localeCompare(b.subject)),
      [...subjects].sort((a, b) => a.localeCompare(b)).map((subject) => ({ subject, settled: { result: fails(subject) ? 'failure' : 'success', action: 'move', ok: true } })),
    );
    // Each email once: emitted once, settled once, even after a few more polls.
    await sleep(1500);
    const keys = (messages: NodeMessage[]): string[] => (messages as unknown as Settled[]).map((m) => m.email.key);
    assert.equal(new Set(keys(emitted)).size, subjects.length);
    assert.equal(emitted.length, subjects.length, 'each email emitted once');
    assert.equal(settled.length, subjects.length, 'each email settled once');
  });
});
