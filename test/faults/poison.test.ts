// Poison and oversized messages through the real Receive Email node (node-red-node-test-helper,
// with a Catch node), the mail server reached through a counting proxy: an email the parser
// refuses, or one over the size limit, is reported once with its key and reason, the good ones
// around it are emitted in order, it is never fetched again, an oversized one is never
// downloaded at all, and neither moves memory by more than 64 MiB.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import type { Node, NodeMessage } from 'node-red';
import { FaultProxy } from '../support/fault-proxy';
import type { NodeInitializer } from '../support/flows';
import { coreNode, helper, nodeModule } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { appendMessages, listMailbox, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { until } from '../support/wait';
import { deliver } from './mime/maildir';
import { MiB, PeakSampler, deltaMib, mib, settle } from './mime/memory';
import type { Sample } from './mime/memory';

// Any uncaughtException / unhandledRejection fails the test during which it happened.
strictProcess();

type Flow = Parameters<typeof helper.load>[1];
type Msg = NodeMessage & Record<string, unknown>;

const MEMORY_BOUND = 64 * MiB;
const POLL_DELAY_MS = 200;
const POLLS_AFTER = 5;

const nodes = (): NodeInitializer => [nodeModule('receive-connection'), nodeModule('receive-email'), coreNode('common/25-catch.js')] as unknown as NodeInitializer;

function flow(protocol: 'imap' | 'pop3', port: number, recv: Record<string, unknown> = {}): Flow {
  return [
    { id: 'tab', type: 'tab' },
    { id: 'conn', type: 'mailwire-receive-connection', name: 'fault', protocol, host: '127.0.0.1', port, security: 'none', certificate: '' },
    { id: 'recv', type: 'mailwire-receive-email', z: 'tab', connection: 'conn', folder: '', unseenOnly: true, delay: POLL_DELAY_MS, delayUnit: 'ms', maxEmails: -1, wires: [['out']], ...recv },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ] as unknown as Flow;
}

function record(id: string): Msg[] {
  const messages: Msg[] = [];
  helper.getNode(id).on('input', (msg: NodeMessage) => messages.push(msg as Msg));
  return messages;
}

interface Spy {
  args: unknown[][];
}

/** Polls that ended (successfully), counted from the status line the node sets at the end. */
function pollsDone(node: Node): number {
  return (node.status as unknown as Spy).args.filter(([s]) => /status\.(polled|skipped)$/.test(String((s as { text?: string }).text))).length;
}

function errorCalls(node: Node): Array<{ text: string; msg: Msg }> {
  return (node.error as unknown as Spy).args.map(([text, msg]) => ({ text: String(text), msg: msg as Msg }));
}

/** Members of an IMAP sequence set such as "1:3,7" (with * as "any higher"). */
function inSet(set: string, uid: number): boolean {
  return set.split(',').some((range) => {
    const [a, b = a] = range.split(':');
    const lo = a === '*' ? Infinity : Number(a);
    const hi = b === '*' ? Infinity : Number(b);
    return uid >= Math.min(lo, hi) && uid <= Math.max(lo, hi);
  });
}

/** The UID FETCH commands the client sent, with their sets and item lists. */
function fetches(clientText: string): Array<{ set: string; items: string }> {
  return [...clientText.matchAll(/^\S+ UID FETCH (\S+) \((.*)\)\r?$/gim)].map((m) => ({ set: m[1], items: m[2] }));
}

function poisonMessage(parts: number): Buffer {
  let text =
    'From: Mallory <mallory@example.test>\r\nTo: rcpt@example.test\r\nSubject: poison\r\n' +
    'Message-ID: <poison@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="P"\r\n\r\n';
  for (let i = 0; i < parts; i += 1) text += `--P\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`;
  return Buffer.from(`${text}--P--\r\n`);
}

interface Run {
  proxy: FaultProxy;
  recv: Node;
  out: Msg[];
  caught: Msg[];
  idle: Sample;
}

/** Starts the node on an empty mailbox behind a proxy and measures memory once it has polled. */
async function startIdle(protocol: 'imap' | 'pop3', user: string, recv: Record<string, unknown> = {}): Promise<Run> {
  const info = serverInfo();
  const proxy = await FaultProxy.start(protocol === 'imap' ? info.ports.imap : info.ports.pop3);
  await helper.load(nodes(), flow(protocol, proxy.port, recv), { conn: { user, password: info.password } });
  const node = helper.getNode('recv');
  const out = record('out');
  const caught = record('caught');
  await until(() => pollsDone(node) >= 3, 10000, 'three polls of the empty mailbox');
  const idle = await settle();
  return { proxy, recv: node, out, caught, idle };
}

async function morePolls(node: Node, n: number): Promise<void> {
  const target = pollsDone(node) + n;
  await until(() => pollsDone(node) >= target, 20000, `${n} more polls`);
}

function memoryLine(label: string, idle: Sample, peak: Sample, after: Sample): string {
  return `${label}: idle rss ${mib(idle.rss)} heap ${mib(idle.heapUsed)}; peak rss ${deltaMib(peak.rss - idle.rss)} heap ${deltaMib(peak.heapUsed - idle.heapUsed)}; settled rss ${deltaMib(after.rss - idle.rss)} heap ${deltaMib(after.heapUsed - idle.heapUsed)}`;
}

function assertSkippedOnce(run: Run, key: RegExp, reason: 'parse' | 'too-large'): string {
  const reports = run.caught.filter((m) => /errors\.(parse|too-large)$/.test(String((m.error as { message?: string }).message)));
  assert.equal(reports.length, 1, `reported once: ${JSON.stringify(reports.map((m) => m.topic))}`);
  const report = reports[0];
  assert.equal((report.error as { message: string }).message, `mailwire-receive-email.errors.${reason}`);
  assert.equal((report.error as { source: { id: string } }).source.id, 'recv');
  const emailKey = (report.email as { key: string }).key;
  assert.match(emailKey, key);
  assert.equal(report.topic, emailKey);
  // The node's own error object, kept by the Catch node as _error: the reason as a code.
  assert.deepEqual(report._error, { code: reason, key: emailKey });
  const calls = errorCalls(run.recv);
  assert.equal(calls.length, 1, calls.map((c) => c.text).join(' | '));
  assert.equal((calls[0].msg.email as { key: string }).key, emailKey);
  return emailKey;
}

describe('poison and oversized emails through Receive Email', () => {
  nodeRedSuite();

  it('IMAP: a 2,000-part email between two good ones is reported once and never fetched again', async (t: TestContext) => {
    const user = uniqueUser('poison');
    const run = await startIdle('imap', user);
    const sampler = new PeakSampler();
    try {
      const poison = poisonMessage(2000);
      await appendMessages(user, [simpleMessage('good 1'), poison, simpleMessage('good 2')]);
      const box = await listMailbox(user);
      const poisonUid = box.find((m) => m.subject === 'poison')!.uid;
      await until(() => run.out.length >= 2 && run.caught.length >= 1, 15000, 'both good emails and the report');
      // Once the poll that reported it has ended, its UID must never be fetched again.
      await morePolls(run.recv, 1);
      const mark = run.proxy.clientMark();
      const bytesAtMark = run.proxy.bytesFromServer;
      await morePolls(run.recv, POLLS_AFTER);
      const peak = sampler.stop();
      const settled = await settle();

      assert.deepEqual(run.out.map((m) => m.topic), ['good 1', 'good 2']);
      const key = assertSkippedOnce(run, new RegExp(`^conn/INBOX/\\d+/${poisonUid}$`), 'parse');
      const all = fetches(run.proxy.clientText);
      const later = fetches(run.proxy.clientTextSince(mark));
      assert.ok(all.length > 0, 'the proxy saw the fetches');
      assert.equal(all.filter((f) => /BODY\.PEEK\[\]/i.test(f.items) && inSet(f.set, poisonUid)).length, 1, 'downloaded exactly once, to be parsed');
      assert.deepEqual(later.filter((f) => inSet(f.set, poisonUid)), [], 'no FETCH of its UID after the first poll');
      const bytesLater = run.proxy.bytesFromServer - bytesAtMark;
      assert.ok(bytesLater < poison.length / 4, `later polls read ${bytesLater} bytes`);
      // Still unread on the server, the good ones read.
      assert.deepEqual((await listMailbox(user)).map((m) => [m.subject, m.seen]), [['good 1', true], ['poison', false], ['good 2', true]]);
      const line = memoryLine(`poison (${poison.length} bytes, 2,000 parts)`, run.idle, peak, settled);
      t.diagnostic(line);
      t.diagnostic(`key ${key}; ${pollsDone(run.recv)} polls; ${run.proxy.bytesFromServer} bytes from the server in all, ${bytesLater} after the report`);
      assert.ok(peak.rss - run.idle.rss < MEMORY_BOUND, line);
    } finally {
      sampler.stop();
      await run.proxy.close();
    }
  });

  it('POP3: a 2,000-part email between two good ones is reported once and never RETR\'d again', async (t: TestContext) => {
    const user = uniqueUser('poison3');
    const run = await startIdle('pop3', user);
    const sampler = new PeakSampler();
    try {
      const poison = poisonMessage(2000);
      await appendMessages(user, [simpleMessage('good 1'), poison, simpleMessage('good 2')]);
      await until(() => run.out.length >= 2 && run.caught.length >= 1, 15000, 'both good emails and the report');
      await morePolls(run.recv, 1);
      const mark = run.proxy.clientMark();
      const bytesAtMark = run.proxy.bytesFromServer;
      await morePolls(run.recv, POLLS_AFTER);
      const peak = sampler.stop();
      const settled = await settle();

      assert.deepEqual(run.out.map((m) => m.topic), ['good 1', 'good 2']);
      const key = assertSkippedOnce(run, /^conn\/00000002[0-9A-F]{8}$/i, 'parse');
      const text = run.proxy.clientText;
      assert.equal(text.match(/^RETR 2\r$/gm)?.length, 1, 'RETR\'d exactly once, to be parsed');
      assert.doesNotMatch(run.proxy.clientTextSince(mark), /^RETR /m, 'no RETR after the first poll');
      assert.ok(run.proxy.total >= POLLS_AFTER, `${run.proxy.total} sessions`);
      const bytesLater = run.proxy.bytesFromServer - bytesAtMark;
      assert.ok(bytesLater < poison.length / 4, `later polls read ${bytesLater} bytes`);
      const line = memoryLine(`POP3 poison (${poison.length} bytes)`, run.idle, peak, settled);
      t.diagnostic(line);
      t.diagnostic(`key ${key}; ${pollsDone(run.recv)} polls; ${run.proxy.total} sessions`);
      assert.ok(peak.rss - run.idle.rss < MEMORY_BOUND, line);
    } finally {
      sampler.stop();
      await run.proxy.close();
    }
  });

  const oversized = [
    { protocol: 'imap', limitMiB: 1, sizeMiB: 3 },
    { protocol: 'imap', limitMiB: undefined, sizeMiB: 30 },
    { protocol: 'pop3', limitMiB: 1, sizeMiB: 3 },
    { protocol: 'pop3', limitMiB: undefined, sizeMiB: 30 },
  ] as const;

  for (const { protocol, limitMiB, sizeMiB } of oversized) {
    const limitText = limitMiB === undefined ? 'the default 25 MiB limit' : `a ${limitMiB} MiB limit`;
    it(`${protocol.toUpperCase()}: a ${sizeMiB} MiB email over ${limitText} is never downloaded, reported once`, async (t: TestContext) => {
      const user = uniqueUser(`big${protocol}`);
      const run = await startIdle(protocol, user, limitMiB === undefined ? {} : { sizeLimit: limitMiB });
      const sampler = new PeakSampler();
      try {
        const size = sizeMiB * MiB;
        deliver(user, [simpleMessage('good 1'), { subject: 'too large', size }, simpleMessage('good 2')]);
        await until(() => run.out.length >= 2 && run.caught.length >= 1, 20000, 'both good emails and the report');
        await morePolls(run.recv, 1);
        const mark = run.proxy.clientMark();
        await morePolls(run.recv, POLLS_AFTER);
        const peak = sampler.stop();
        const settled = await settle();

        assert.deepEqual(run.out.map((m) => m.topic), ['good 1', 'good 2']);
        // UID 2 (POP3: message 2) is the large one, and it is still unread on the server.
        const box = await listMailbox(user);
        assert.deepEqual(box.map((m) => [m.uid, m.subject]), [[1, 'good 1'], [2, 'too large'], [3, 'good 2']]);
        assert.equal(box[1].seen, false);
        const key = assertSkippedOnce(run, protocol === 'imap' ? /^conn\/INBOX\/\d+\/2$/ : /^conn\/00000002[0-9A-F]{8}$/i, 'too-large');
        const limit = limitMiB === undefined ? 25 * MiB : limitMiB * MiB;
        const report = errorCalls(run.recv)[0];
        assert.equal(report.text, 'mailwire-receive-email.errors.too-large');
        const text = run.proxy.clientText;
        if (protocol === 'imap') {
          const all = fetches(text);
          assert.deepEqual(all.filter((f) => inSet(f.set, 2) && /BODY|BINARY|RFC822(?!\.SIZE)/i.test(f.items)), [], 'only its size was ever fetched');
          assert.equal(all.filter((f) => inSet(f.set, 2)).length, 1, 'its size fetched once');
          assert.deepEqual(fetches(run.proxy.clientTextSince(mark)).filter((f) => inSet(f.set, 2)), [], 'no FETCH of its UID after the first poll');
        } else {
          assert.match(text, /^LIST\r$/m, 'sizes listed');
          assert.doesNotMatch(text, /^RETR 2\r$/m, 'never RETR\'d');
          assert.doesNotMatch(run.proxy.clientTextSince(mark), /^(RETR|LIST)/m, 'nothing fetched after the first poll');
        }
        // Far below the message: the whole conversation, every poll included.
        assert.ok(run.proxy.bytesFromServer < Math.min(size / 20, 256 * 1024), `${run.proxy.bytesFromServer} bytes read from the server for a ${size}-byte email`);
        const line = memoryLine(`${protocol} ${sizeMiB} MiB over ${mib(limit)}`, run.idle, peak, settled);
        t.diagnostic(line);
        t.diagnostic(`key ${key}; ${run.proxy.bytesFromServer} bytes from the server in ${pollsDone(run.recv)} polls`);
        assert.ok(peak.rss - run.idle.rss < MEMORY_BOUND, line);
      } finally {
        sampler.stop();
        await run.proxy.close();
      }
    });
  }

  it('IMAP: a 20 MiB email under the default limit is downloaded and emitted (memory reported, not bounded)', async (t: TestContext) => {
    const user = uniqueUser('big20');
    const run = await startIdle('imap', user);
    const sampler = new PeakSampler();
    try {
      const size = 20 * MiB;
      deliver(user, [{ subject: 'accepted', size }]);
      await until(() => run.out.length >= 1, 30000, 'the 20 MiB email');
      const peak = sampler.stop();
      const message = run.out[0];
      assert.equal(message.topic, 'accepted');
      const attachments = message.attachments as Array<{ filename: string; size: number; content: Buffer }>;
      assert.equal(attachments.length, 1);
      assert.equal(attachments[0].filename, 'big.bin');
      assert.equal(attachments[0].content.length, attachments[0].size);
      assert.ok(attachments[0].size > 14 * MiB, `${attachments[0].size} bytes decoded`);
      assert.ok(run.proxy.bytesFromServer > size, 'downloaded');
      assert.equal(run.caught.length, 0);
      const held = await settle();
      run.out.length = 0;
      const released = await settle();
      t.diagnostic(memoryLine('20 MiB accepted (emitted message still held)', run.idle, peak, held));
      t.diagnostic(`after dropping the emitted message: rss ${deltaMib(released.rss - run.idle.rss)} heap ${deltaMib(released.heapUsed - run.idle.heapUsed)}; ${run.proxy.bytesFromServer} bytes from the server`);
    } finally {
      sampler.stop();
      await run.proxy.close();
    }
  });
});
