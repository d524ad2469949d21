// A busy mailbox: while the real Receive Email node drains 300 emails from the real Dovecot, a
// second real IMAP client works on the same INBOX the way a mail program or a colleague does
// (flags toggled, messages expunged, marked read, new ones appended). The server then tells our
// session about those changes in the middle of our own commands. Each test asserts: every emitted
// message is one email with its UID, subject and body; every email that survives is emitted exactly
// once; nothing is expunged but what the other client expunged; no error (or warning) is logged.
// The IMAP cases run three times: polling, with push (the node idles on the folder between
// polls), and with push and settle ack (Email Done acknowledges each email).
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { connectPop3 } from '../../src/lib/pop3/pop3-connect';
import { BusyClient } from '../support/busy-client';
import { seenUids } from '../support/dovecot-admin';
import { imapTaggedReply } from '../support/fault-proxy';
import type { FaultProxy, ProxyConnection } from '../support/fault-proxy';
import { nodeRedSuite } from '../support/node-red-suite';
import { Watch, connection, credentials, duplicates, errorLines, flow, receiver, uidOf } from '../support/receive-watch';
import type { Sent } from '../support/receive-watch';
import { appendMessages, listMailbox, receiveSettings, serverInfo, simpleMessage, uniqueUser, writeMaildir } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until } from '../support/wait';

strictProcess();

const COUNT = 300;
const subject = (i: number): string => `busy ${String(i).padStart(3, '0')}`;

/** 300 unread emails; Dovecot numbers them 1..300 in this order. */
function fill(user: string): void {
  writeMaildir(user, Array.from({ length: COUNT }, (_, i) => simpleMessage(subject(i + 1))));
}

/** What every emitted message must be: one email, whole. */
function assertWhole(sent: Sent[]): void {
  const broken = sent.filter(({ msg }) => {
    const uid = msg.email.uid;
    const payload = String(msg.payload ?? '').trim();
    return typeof uid !== 'number' || !Number.isInteger(uid) || uid < 1 || !msg.topic || payload !== `Body of ${msg.topic}` || uidOf(msg.email.key) !== uid;
  });
  assert.equal(broken.length, 0, `${broken.length} emitted messages are not whole emails, e.g. ${JSON.stringify(broken[0]?.msg.email)} topic=${JSON.stringify(broken[0]?.msg.topic)}`);
}

function assertQuiet(watch: Watch): void {
  const recv = watch.current();
  assert.deepEqual(errorLines(), [], 'no [error] line');
  assert.deepEqual(recv.errors.map((e) => e.text), [], 'no node.error');
  assert.deepEqual(recv.warnings.map((e) => e.text), [], 'no warning either');
  assert.ok(!recv.statuses.some((s) => s.text === 'mailwire-receive-email.status.retrying'), 'no poll failed');
}

describe('a busy mailbox: a second client works on the INBOX while the node drains 300 emails', () => {
  let busy: BusyClient | undefined;
  // Registered before the suite's hooks, so the other client stops before the flow is unloaded.
  afterEach(async () => {
    await busy?.stop().catch(() => undefined);
    busy = undefined;
  });
  const proxy = nodeRedSuite();

  /**
   * The node's IMAP session through a proxy that holds the server's answer to the node's 2nd
   * SEARCH, and later to its 3rd size check, while `act` runs: the other client changes the very
   * emails the node just found, so the change lands between the node's SEARCH and its size check,
   * and between the size check and the body FETCH, every time rather than by chance.
   */
  async function holdingAnswers(act: (c: ProxyConnection) => Promise<void>): Promise<{ proxy: FaultProxy; failures: unknown[]; held: () => number }> {
    const p = await proxy(serverInfo().ports.imap);
    const failures: unknown[] = [];
    let done = 0;
    const action = (c: ProxyConnection): void => {
      c.stall();
      act(c)
        .catch((err: unknown) => failures.push(err))
        .finally(() => {
          done += 1;
          c.resume();
        });
    };
    // The search for new mail, then the size check (a SEARCH for the large ones among them).
    p.when({ clientLine: /UID SEARCH (?!UID \S+ LARGER)/i, nth: 2, serverLine: imapTaggedReply, action });
    p.when({ clientLine: /UID SEARCH UID \S+ LARGER/i, nth: 3, serverLine: imapTaggedReply, action });
    return { proxy: p, failures, held: () => done };
  }

  /** The `n` lowest UIDs, not yet emitted, that `allowed` accepts. */
  const nextUnemitted = (watch: Watch, n: number, allowed: (uid: number) => boolean): number[] => {
    const emitted = new Set(watch.keys().map(uidOf));
    return Array.from({ length: COUNT }, (_, i) => i + 1).filter((uid) => !emitted.has(uid) && allowed(uid)).slice(0, n);
  };

  // Polling; with push; and with push and settle ack (an Email Done node acknowledges each email
  // as it arrives, so \Seen is set through the acknowledgement and the ledger).
  const variants = [
    { push: false, ack: false, mode: 'push off' },
    { push: true, ack: false, mode: 'push on' },
    { push: true, ack: true, mode: 'push on, settle ack' },
  ];
  for (const { push, ack, mode } of variants) {
    const busyReceiver = (over: Record<string, unknown>): Record<string, unknown> =>
      receiver({ ...over, push, ...(ack ? { settle: 'ack', wires: [['out', 'done-ok']] } : {}) });
    const ackNodes = ack ? [{ id: 'done-ok', type: 'mailwire-email-done', result: 'success', wires: [] }] : [];
    // The reported case: IMAPS, Unseen Only, Delay 1 s, Maximum Emails 50.
    it(`flags toggled on every message in a tight loop: 300 emitted, each once and whole (${mode})`, async () => {
      const watch = new Watch();
      const user = uniqueUser('busyflags');
      fill(user);
      busy = await BusyClient.start(user, [{ kind: 'toggle-flags' }]);
      await until(() => busy!.record.toggles >= 2, 10_000, 'the other client to be toggling');
      await watch.load(flow([connection('imap', undefined, 'tls')], [busyReceiver({ delay: 1, delayUnit: 's', maxEmails: 50 })], ackNodes), credentials(user));
      await until(() => watch.allSent().length >= COUNT, 30_000, `${COUNT} emitted`);
      await sleep(2500); // two more polls, still under the toggling: an extra message would come now
      const record = await busy.stop();
      busy = undefined;

      const sent = watch.allSent();
      assertWhole(sent);
      assert.equal(sent.length, COUNT, `exactly ${COUNT} messages for ${COUNT} emails`);
      assert.deepEqual(duplicates(watch.keys()), []);
      assert.deepEqual(sent.map((s) => s.msg.topic), Array.from({ length: COUNT }, (_, i) => subject(i + 1)), 'oldest first');
      const box = await seenUids(user);
      assert.equal(box.all.length, COUNT, 'nothing expunged');
      assert.equal(box.seen.size, COUNT, 'every one marked read');
      assertQuiet(watch);
      console.log(`${record.toggles} flag rounds by the other client during the drain`);
    });

    it(`every tenth message expunged by the other client during the drain: the rest emitted once each, no error (${mode})`, async () => {
      const watch = new Watch();
      const user = uniqueUser('busyexp');
      fill(user);
      // Two emails expunged after the search found them, two after their size was checked.
      const inWindow: number[] = [];
      const { proxy, failures, held } = await holdingAnswers(async () => {
        const uids = nextUnemitted(watch, 2, (uid) => uid % 10 !== 0 && !inWindow.includes(uid));
        inWindow.push(...uids);
        await busy!.now('expunge', uids);
      });
      await watch.load(flow([connection('imap', proxy.port)], [busyReceiver({ delay: 300, delayUnit: 'ms', maxEmails: 25 })], ackNodes), credentials(user));
      // Every tenth, spread over the drain (12 polls of 25): some go before their search, some
      // during a fetch, some after the emit.
      busy = await BusyClient.start(user, [{ kind: 'expunge', every: 10, upTo: COUNT, pauseMs: 120 }]);
      await busy.finished();
      await until(() => held() === 2, 20_000, 'both held answers');
      assert.deepEqual(failures, []);
      const expunged = new Set(busy.record.expunged);
      assert.equal(expunged.size, COUNT / 10 + inWindow.length);
      const survivors = Array.from({ length: COUNT }, (_, i) => i + 1).filter((uid) => !expunged.has(uid));
      await until(() => survivors.every((uid) => watch.keys().some((k) => uidOf(k) === uid)), 30_000, 'every surviving email emitted');
      await sleep(1000);

      const sent = watch.allSent();
      assertWhole(sent);
      assert.deepEqual(duplicates(watch.keys()), [], 'none twice, expunged or not');
      const emitted = new Set(sent.map((s) => s.msg.email.uid));
      assert.deepEqual(survivors.filter((uid) => !emitted.has(uid)), [], 'every survivor emitted');
      assert.deepEqual(inWindow.filter((uid) => emitted.has(uid)), [], 'an email expunged between search and fetch is simply gone');
      const box = await seenUids(user);
      assert.deepEqual(box.all, survivors, 'nothing expunged but what the other client expunged');
      assert.equal(box.seen.size, survivors.length, 'every survivor marked read');
      assertQuiet(watch);
      console.log(`of ${expunged.size} expunged, ${[...expunged].filter((uid) => emitted.has(uid)).length} had been emitted first`);
    });

    it(`messages marked read by the other client during the drain (Unseen Only): each emitted at most once, the others exactly once (${mode})`, async () => {
      const watch = new Watch();
      const user = uniqueUser('busyread');
      fill(user);
      // Every seventh, from the top down, so the node meets some before and some after they were read.
      const touched = Array.from({ length: COUNT }, (_, i) => COUNT - i).filter((uid) => uid % 7 === 0);
      // And two right after the search found them unread, two after their size was checked.
      const inWindow: number[] = [];
      const { proxy, failures, held } = await holdingAnswers(async () => {
        const uids = nextUnemitted(watch, 2, (uid) => uid % 7 !== 0 && !inWindow.includes(uid));
        inWindow.push(...uids);
        await busy!.now('mark-read', uids);
      });
      await watch.load(flow([connection('imap', proxy.port)], [busyReceiver({ delay: 300, delayUnit: 'ms', maxEmails: 25 })], ackNodes), credentials(user));
      busy = await BusyClient.start(user, [{ kind: 'mark-read', uids: touched, pauseMs: 60 }]);
      await busy.finished();
      await until(() => held() === 2, 20_000, 'both held answers');
      assert.deepEqual(failures, []);
      const untouched = Array.from({ length: COUNT }, (_, i) => i + 1).filter((uid) => uid % 7 !== 0 && !inWindow.includes(uid));
      await until(() => untouched.every((uid) => watch.keys().some((k) => uidOf(k) === uid)), 30_000, 'every untouched email emitted');
      await sleep(1000);

      const sent = watch.allSent();
      assertWhole(sent);
      assert.deepEqual(duplicates(watch.keys()), [], 'at most once, touched or not');
      const emitted = new Set(sent.map((s) => s.msg.email.uid));
      assert.deepEqual(untouched.filter((uid) => !emitted.has(uid)), [], 'every untouched email emitted');
      const box = await seenUids(user);
      assert.equal(box.all.length, COUNT, 'nothing expunged');
      assert.equal(box.seen.size, COUNT, 'all read in the end');
      assertQuiet(watch);
      console.log(`of ${touched.length} marked read by the other client, ${touched.filter((uid) => emitted.has(uid)).length} had been emitted first; of ${inWindow.length} read between search and fetch, ${inWindow.filter((uid) => emitted.has(uid)).length} emitted (once)`);
    });

    it(`new messages appended by the other client during the drain: all 400 emitted once each, oldest first (${mode})`, async () => {
      const watch = new Watch();
      const user = uniqueUser('busyapp');
      fill(user);
      const extra = Array.from({ length: 100 }, (_, i) => subject(COUNT + i + 1));
      await watch.load(flow([connection('imap')], [busyReceiver({ delay: 300, delayUnit: 'ms', maxEmails: 25 })], ackNodes), credentials(user));
      busy = await BusyClient.start(user, [{ kind: 'append', messages: extra.map((s) => simpleMessage(s)), pauseMs: 20 }, { kind: 'toggle-flags' }]);
      await until(() => watch.allSent().length >= COUNT + extra.length, 40_000, 'all 400 emitted');
      await sleep(1000);
      await busy.stop();
      busy = undefined;

      const sent = watch.allSent();
      assertWhole(sent);
      assert.equal(sent.length, COUNT + extra.length);
      assert.deepEqual(duplicates(watch.keys()), []);
      const uids = sent.map((s) => s.msg.email.uid ?? 0);
      assert.deepEqual(uids, [...uids].sort((a, b) => a - b), 'oldest first');
      const box = await seenUids(user);
      assert.equal(box.all.length, COUNT + extra.length, 'nothing expunged');
      assert.equal(box.seen.size, COUNT + extra.length, 'all read');
      assertQuiet(watch);
    });
  }

  // Dovecot here runs with pop3_lock_session = yes: a second session waits 10 s for the lock, then
  // is refused with -ERR [IN-USE].
  it('POP3: a mailbox another POP3 session holds is a temporary "in use" status, retried; then every email once', async () => {
    const watch = new Watch();
    const user = uniqueUser('popbusy');
    const names = Array.from({ length: 20 }, (_, i) => `pop busy ${String(i + 1).padStart(2, '0')}`);
    await appendMessages(user, names.map((s) => simpleMessage(s)));
    const holder = await connectPop3(receiveSettings('pop3', 'none', user));
    let released = false;
    try {
      await watch.load(flow([connection('pop3')], [receiver({ delay: 1, delayUnit: 's', maxEmails: -1 })]), credentials(user));
      const recv = watch.current();
      await until(() => recv.statuses.some((s) => s.text === 'mailwire-receive-email.status.retrying'), 25_000, 'the node to be refused');
      const refused = recv.statuses.find((s) => s.text === 'mailwire-receive-email.status.retrying')!;
      assert.equal(refused.fill, 'yellow', 'a passing state, not a red error');
      assert.equal(watch.valuesOf(refused)?.reason, 'mailwire-receive-email.short.in-use');
      assert.equal(watch.allSent().length, 0);
      await holder.quit();
      released = true;
      await until(() => watch.allSent().length >= names.length, 30_000, 'every email after the other session left');
      await sleep(2500);
      assert.deepEqual(watch.allSent().map((s) => s.msg.topic), names, 'each once, oldest first');
      assert.deepEqual(duplicates(watch.keys()), []);
      assert.deepEqual(errorLines(), [], 'no [error] line');
      assert.deepEqual(recv.errors, []);
      assert.deepEqual(recv.warnings.map((w) => w.text), ['mailwire-receive-connection.errors.in-use'], 'one warning for the streak');
      assert.ok(!watch.translated('short.protocol').length, 'never "protocol error"');
      assert.equal(recv.statuses.at(-1)?.text, 'mailwire-receive-email.status.polled');
      assert.equal((await listMailbox(user)).length, names.length, 'nothing deleted');
    } finally {
      if (!released) holder.destroy();
    }
  });
});
