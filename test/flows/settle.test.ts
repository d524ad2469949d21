// Settling under the real Receive Email and Email Done nodes against the real Dovecot: each
// action after success and after failure read back on the server, retry's limit of 3 emits, the
// acknowledgement timeout, a missing target folder, settle emit with an action, the fallbacks
// when the server lacks MOVE or UIDPLUS (never expunging another message), and POP3.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import { adminClient, createFolders } from '../support/dovecot-admin';
import { helper } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { Watch, connection, credentials, duplicates, errorLines, flow, receiver } from '../support/receive-watch';
import type { Msg } from '../support/receive-watch';
import { appendMessages, listMailbox, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until } from '../support/wait';

strictProcess();

const subjects = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}`);
type Settled = { result: string; action: string; ok: boolean };

/** Email Done nodes for success and failure, each passing on to a helper node the test reads. */
const doneNodes = [
  { id: 'done-ok', type: 'mailwire-email-done', result: 'success', wires: [['settled']] },
  { id: 'done-fail', type: 'mailwire-email-done', result: 'failure', wires: [['settled']] },
  { id: 'done-auto', type: 'mailwire-email-done', wires: [['settled']] },
  { id: 'settled', type: 'helper' },
];

/** What reached the helper after the Email Done nodes. */
function settledMessages(): Array<Msg & { email: { settled?: Settled } }> {
  const got: Array<Msg & { email: { settled?: Settled } }> = [];
  helper.getNode('settled').on('input', (msg: NodeMessage) => got.push(msg as Msg & { email: { settled?: Settled } }));
  return got;
}

/** Hands an emitted message to one of the Email Done nodes, as the flow would. */
function acknowledge(msg: Msg, node: 'done-ok' | 'done-fail' | 'done-auto', extra: Record<string, unknown> = {}): void {
  (helper.getNode(node) as unknown as { receive(m: unknown): void }).receive({ ...msg, ...extra });
}

async function folderSubjects(user: string, folder: string): Promise<Array<{ subject: string; seen: boolean }>> {
  return (await listMailbox(user, folder)).map((m) => ({ subject: m.subject, seen: m.seen }));
}

async function flagsOf(user: string, folder = 'INBOX'): Promise<Map<string, string[]>> {
  const client = await adminClient(user);
  try {
    const lock = await client.getMailboxLock(folder, { readOnly: true });
    try {
      const out = new Map<string, string[]>();
      if (typeof client.mailbox === 'object' && client.mailbox.exists > 0) {
        for await (const m of client.fetch('1:*', { envelope: true, flags: true })) out.set(m.envelope?.subject ?? '', [...(m.flags ?? [])].sort());
      }
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}

describe('settle: actions after success and failure, through Email Done', () => {
  const proxyTo = nodeRedSuite();

  const successCases = [
    { onSuccess: 'seen', check: async (user: string) => assert.deepEqual((await folderSubjects(user, 'INBOX')).map((m) => m.seen), [true, true, true]) },
    {
      onSuccess: 'move',
      check: async (user: string) => {
        assert.deepEqual(await folderSubjects(user, 'INBOX'), []);
        assert.deepEqual((await folderSubjects(user, 'Done')).map((m) => m.subject), subjects('ok move', 3));
      },
    },
    { onSuccess: 'delete', check: async (user: string) => assert.deepEqual(await folderSubjects(user, 'INBOX'), []) },
    {
      onSuccess: 'flag',
      check: async (user: string) => {
        const flags = await flagsOf(user);
        assert.deepEqual([...flags.values()], [['$Processed'], ['$Processed'], ['$Processed']], 'flagged and still unread');
      },
    },
    { onSuccess: 'none', check: async (user: string) => assert.deepEqual([...(await flagsOf(user)).values()], [[], [], []], 'as it was') },
  ];
  for (const c of successCases) {
    it(`after success: ${c.onSuccess}, read back on the server; msg.email.settled says so; never emitted again`, async () => {
      const watch = new Watch();
      const user = uniqueUser(`ok${c.onSuccess}`);
      await createFolders(user, 'Done');
      await appendMessages(user, subjects(`ok ${c.onSuccess}`, 3).map((s) => simpleMessage(s)));
      await watch.load(flow([connection('imap')], [receiver({ settle: 'ack', onSuccess: c.onSuccess, successFolder: 'Done', successFlag: '$Processed' })], doneNodes), credentials(user));
      const settled = settledMessages();
      await until(() => watch.allSent().length === 3, 10_000, 'three emitted');
      for (const { msg } of watch.allSent()) acknowledge(msg, 'done-ok');
      await until(() => settled.length === 3, 10_000, 'three settled');
      assert.deepEqual(settled.map((m) => m.email.settled), Array(3).fill({ result: 'success', action: c.onSuccess, ok: true }));
      await sleep(800); // several polls: nothing comes again
      assert.equal(watch.allSent().length, 3, 'each emitted once');
      await c.check(user);
      assert.deepEqual(errorLines(), []);
    });
  }

  const failureCases = [
    { onFailure: 'seen', check: async (user: string) => assert.deepEqual((await folderSubjects(user, 'INBOX')).map((m) => m.seen), [true, true]) },
    {
      onFailure: 'move',
      check: async (user: string) => {
        assert.deepEqual(await folderSubjects(user, 'INBOX'), []);
        assert.deepEqual((await folderSubjects(user, 'Failed')).map((m) => m.subject), subjects('bad move', 2));
      },
    },
    { onFailure: 'flag', check: async (user: string) => assert.deepEqual([...(await flagsOf(user)).values()], [['$Failed'], ['$Failed']]) },
  ];
  for (const c of failureCases) {
    it(`after failure: ${c.onFailure} (auto: msg.error set by a Catch node), read back on the server`, async () => {
      const watch = new Watch();
      const user = uniqueUser(`bad${c.onFailure}`);
      await createFolders(user, 'Failed');
      await appendMessages(user, subjects(`bad ${c.onFailure}`, 2).map((s) => simpleMessage(s)));
      await watch.load(flow([connection('imap')], [receiver({ settle: 'ack', onFailure: c.onFailure, failureFolder: 'Failed', failureFlag: '$Failed' })], doneNodes), credentials(user));
      const settled = settledMessages();
      await until(() => watch.allSent().length === 2, 10_000, 'two emitted');
      for (const { msg } of watch.allSent()) acknowledge(msg, 'done-auto', { error: { message: 'the flow failed' } });
      await until(() => settled.length === 2, 10_000, 'two settled');
      assert.deepEqual(settled.map((m) => m.email.settled), Array(2).fill({ result: 'failure', action: c.onFailure, ok: true }));
      await sleep(800);
      assert.equal(watch.allSent().length, 2, 'each emitted once');
      await c.check(user);
    });
  }

  it('after failure: retry emits again on a later poll, 3 emits in all, then reports once and skips; the email stays as it was', async () => {
    const watch = new Watch();
    const user = uniqueUser('retry');
    await appendMessages(user, [simpleMessage('flaky')]);
    await watch.load(flow([connection('imap')], [receiver({ settle: 'ack' })], doneNodes), credentials(user));
    const settled = settledMessages();
    for (let emit = 1; emit <= 3; emit += 1) {
      await until(() => watch.allSent().length === emit, 10_000, `emit ${emit}`);
      acknowledge(watch.allSent()[emit - 1].msg, 'done-fail');
      await until(() => settled.length === emit, 10_000, `settle ${emit}`);
    }
    await sleep(1000);
    assert.equal(watch.allSent().length, 3, 'three emits in all');
    assert.deepEqual(new Set(watch.keys()).size, 1, 'of one email, with one key');
    const recv = watch.current();
    assert.deepEqual(recv.errors.map((e) => e.text), ['mailwire-receive-email.errors.retries'], 'reported once');
    assert.deepEqual(settled.map((m) => m.email.settled?.action), ['retry', 'retry', 'retry']);
    assert.deepEqual([...(await flagsOf(user)).values()], [[]], 'unread and unflagged');
  });

  it('an email not acknowledged within ackTimeout counts as failed', async () => {
    const watch = new Watch();
    const user = uniqueUser('acktimeout');
    await createFolders(user, 'Failed');
    await appendMessages(user, [simpleMessage('forgotten')]);
    await watch.load(flow([connection('imap')], [receiver({ settle: 'ack', ackTimeout: 1, onFailure: 'move', failureFolder: 'Failed' })], doneNodes), credentials(user));
    await until(() => watch.allSent().length === 1, 10_000, 'the emit');
    await until(async () => (await folderSubjects(user, 'Failed')).length === 1, 5000, 'moved to Failed after the timeout');
    assert.deepEqual(watch.current().warnings.map((w) => w.text), ['mailwire-receive-email.errors.ack-timeout']);
    // A late acknowledgement finds nothing to settle: passed on with a warning.
    const settled = settledMessages();
    acknowledge(watch.allSent()[0].msg, 'done-ok');
    await until(() => settled.length === 1, 5000, 'passed on');
    assert.equal(settled[0].email.settled, undefined);
  });

  it('a missing target folder is a clear error and nothing is emitted until it exists', async () => {
    const watch = new Watch();
    const user = uniqueUser('nofolder');
    await appendMessages(user, [simpleMessage('waits for its folder')]);
    await watch.load(flow([connection('imap')], [receiver({ settle: 'ack', onSuccess: 'move', successFolder: 'Archive' })], doneNodes), credentials(user));
    const recv = watch.current();
    await until(() => recv.errors.length === 1, 10_000, 'the error');
    assert.match(recv.errors[0].text, /errors\.folder$/);
    await sleep(800);
    assert.equal(watch.allSent().length, 0);
    await createFolders(user, 'Archive');
    await until(() => watch.allSent().length === 1, 15_000, 'emitted once the folder exists');
  });

  it('settle emit with onSuccess move: each email moved as it is emitted', async () => {
    const watch = new Watch();
    const user = uniqueUser('emitmove');
    await createFolders(user, 'Done');
    await appendMessages(user, subjects('emit move', 30).map((s) => simpleMessage(s)));
    await watch.load(flow([connection('imap')], [receiver({ onSuccess: 'move', successFolder: 'Done' })], doneNodes), credentials(user));
    await until(async () => (await folderSubjects(user, 'Done')).length === 30, 15_000, 'all moved');
    assert.deepEqual(duplicates(watch.keys()), []);
    assert.equal(watch.allSent().length, 30);
    assert.deepEqual(await folderSubjects(user, 'INBOX'), []);
  });

  for (const missing of ['MOVE', 'MOVE UIDPLUS'] as const) {
    it(`a server without ${missing}: the fallback, and another client's \\Deleted message is never expunged`, async () => {
      const watch = new Watch();
      const user = uniqueUser(missing === 'MOVE' ? 'nomove' : 'nouidplus');
      await createFolders(user, 'Done');
      await appendMessages(user, [simpleMessage("someone else's deleted")]);
      const other = await adminClient(user);
      try {
        await other.mailboxOpen('INBOX');
        await other.messageFlagsAdd('1', ['\\Deleted', '\\Seen']);
      } finally {
        await other.logout().catch(() => other.close());
      }
      await appendMessages(user, subjects('fallback', 2).map((s) => simpleMessage(s)));
      const proxy = await proxyTo(serverInfo().ports.imap);
      const strip = missing.split(' ');
      proxy.rewriteServerLine = (line) => (/CAPABILITY/i.test(line) ? strip.reduce((l, cap) => l.replace(new RegExp(` ${cap}\\b`, 'g'), ''), line) : line);
      await watch.load(flow([connection('imap', proxy.port)], [receiver({ settle: 'ack', onSuccess: 'move', successFolder: 'Done' })], doneNodes), credentials(user));
      const settled = settledMessages();
      await until(() => watch.allSent().length === 2, 10_000, 'two emitted');
      for (const { msg } of watch.allSent()) acknowledge(msg, 'done-ok');
      await until(() => settled.length === 2, 10_000, 'two settled');
      await sleep(800);
      assert.equal(watch.allSent().length, 2, 'each emitted once');
      assert.deepEqual((await folderSubjects(user, 'Done')).map((m) => m.subject), subjects('fallback', 2));
      assert.doesNotMatch(proxy.clientText, /UID MOVE/, 'no MOVE sent to a server without it');
      assert.doesNotMatch(proxy.clientText, /^\S+ EXPUNGE\r?$/m, 'never a plain EXPUNGE');
      const inbox = await flagsOf(user);
      assert.deepEqual(inbox.get("someone else's deleted"), ['\\Deleted', '\\Seen'], "the other client's message is still there");
      if (missing === 'MOVE') assert.equal(inbox.size, 1, 'ours were expunged by UID');
      else assert.deepEqual(subjects('fallback', 2).map((s) => inbox.get(s)), [['\\Deleted'], ['\\Deleted']], 'without UIDPLUS ours are left marked \\Deleted');
    });
  }

  it('POP3, settle ack: delete after success, retry after failure', async () => {
    const watch = new Watch();
    const user = uniqueUser('popack');
    await appendMessages(user, [simpleMessage('pop ok'), simpleMessage('pop again')]);
    await watch.load(flow([connection('pop3')], [receiver({ settle: 'ack', onSuccess: 'delete' })], doneNodes), credentials(user));
    const settled = settledMessages();
    await until(() => watch.allSent().length === 2, 10_000, 'two emitted');
    const [ok, again] = watch.allSent().map((s) => s.msg);
    acknowledge(ok, 'done-ok');
    acknowledge(again, 'done-fail');
    await until(() => settled.length === 2, 10_000, 'both settled');
    assert.deepEqual(settled.map((m) => m.email.settled), [{ result: 'success', action: 'delete', ok: true }, { result: 'failure', action: 'retry', ok: true }]);
    await until(() => watch.allSent().length === 3, 10_000, 'the failed one emitted again');
    assert.equal(watch.allSent()[2].msg.topic, 'pop again');
    assert.deepEqual((await listMailbox(user)).map((m) => m.subject), ['pop again']);
  });

  it('configuration the connection cannot carry out is an error under the node: POP3 move; IMAP move without a folder', async () => {
    const watch = new Watch();
    const user = uniqueUser('badcfg');
    await watch.load(
      flow([connection('imap'), { ...connection('pop3'), id: 'conn-pop' }], [
        receiver({ settle: 'ack', onSuccess: 'move', successFolder: '' }),
        receiver({ id: 'recv-pop', connection: 'conn-pop', settle: 'ack', onSuccess: 'move', successFolder: 'Done' }),
      ], doneNodes),
      { ...credentials(user), ...credentials(user, 'conn-pop') },
    );
    // Said while the nodes start, so it is in the runtime's log (the watch instruments a node after its constructor).
    assert.deepEqual(errorLines().sort(), ['mailwire-receive-email.errors.settle-pop3-action', 'mailwire-receive-email.errors.settle-success-folder']);
    await sleep(500);
    assert.deepEqual(watch.allSent(), [], 'and such a node reads nothing');
  });
});
