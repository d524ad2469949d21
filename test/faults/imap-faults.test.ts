// Broken IMAP connections under the real Receive Email node (node-red-node-test-helper), Dovecot
// reached through the fault proxy: no email lost, none marked read without having been emitted,
// no duplicate after a reset around the \Seen store (the pendingSeen journal), one poll and one
// connection at a time under a slow flow, and a recreated folder read again from its start.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { ImapMailbox } from '../../src/lib/imap/imap-mailbox';
import type { Pop3Maildrop } from '../../src/lib/pop3/pop3-maildrop';
import { adminClient, seenUids } from '../support/dovecot-admin';
import { imapTaggedReply } from '../support/fault-proxy';
import { helper } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { Watch, connection, credentials, duplicates, flow, receiver, uidOf } from '../support/receive-watch';
import { appendMessages, listMailbox, repoRoot, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until, within } from '../support/wait';

strictProcess();

const BODY_FETCH = /UID FETCH \S+ \(UID (BODY|BINARY)\.PEEK\[\]/i;
const SEEN_STORE = /UID STORE \S+ \+FLAGS(\.SILENT)? \(\\Seen\)/i;
const KEY = /^conn\/INBOX\/\d+\/\d+$/;

const filler = 'x'.repeat(76);
/** A message of about `kb` kilobytes with a unique subject. */
const message = (subject: string, kb = 4): Buffer => simpleMessage(subject, Array.from({ length: Math.ceil((kb * 1024) / 78) }, () => filler).join('\r\n'));
const subjects = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${String(i + 1).padStart(3, '0')}`);

function isSubset(small: Iterable<number>, big: Set<number>): number[] {
  return [...small].filter((x) => !big.has(x));
}

describe('IMAP faults under the Receive Email node', () => {
  let watch: Watch;
  const proxy = nodeRedSuite();

  it('no loss: a cut in the middle of fetching a backlog of 100 (Maximum Emails -1)', async () => {
    watch = new Watch();
    const user = uniqueUser('cut100');
    const names = subjects('cut', 100);
    // 100 kB each: body fetches are cut at 8 MiB, so the backlog takes two, the first marked read
    // before the second starts.
    await appendMessages(user, names.map((s) => message(s, 100)));
    const p = await proxy(serverInfo().ports.imap);
    // 40 kB into the second body fetch, the connection is cut; nobody gets back in until the
    // server's flags were compared with what was emitted.
    const cut = p.when({
      clientLine: BODY_FETCH,
      nth: 2,
      serverBytes: 40_000,
      action: (c) => {
        p.refuse = 'reset';
        c.cut();
      },
    });
    await watch.load(flow([connection('imap', p.port)], [receiver({ maxEmails: -1 })]), credentials(user));
    const fired = await within(cut.fired, 20_000, 'the cut');
    const recv = watch.current();
    await until(() => recv.statuses.some((s) => s.at >= fired.at && s.text === 'mailwire-receive-email.status.retrying'), 15000, 'the node to notice the cut');
    const emittedAtCut = new Set(watch.keys().map(uidOf));
    const atCut = await seenUids(user);
    assert.ok(emittedAtCut.size > 0 && emittedAtCut.size < 100, `the cut came in the middle of the backlog (${emittedAtCut.size} emitted)`);
    assert.ok(atCut.seen.size > 0, 'the first batch was marked read before the cut');
    assert.deepEqual(isSubset(atCut.seen, emittedAtCut), [], 'after the cut, nothing is read on the server that was not emitted');

    p.refuse = false;
    await until(() => new Set(watch.keys()).size === 100, 30000, 'all 100 emitted');
    await until(() => recv.statuses.at(-1)?.text === 'mailwire-receive-email.status.polled', 10000, 'a clean poll');
    const end = await seenUids(user);
    const emitted = new Set(watch.keys().map(uidOf));
    assert.deepEqual(isSubset(end.seen, emitted), [], 'at the end, nothing is read that was not emitted');
    assert.deepEqual(isSubset(end.all, emitted), [], 'every message emitted at least once');
    assert.equal(end.seen.size, 100, 'all marked read');
    assert.deepEqual(watch.allSent().map((s) => s.msg.topic).filter((t, i, a) => a.indexOf(t) === i).sort(), names);
    const dupes = duplicates(watch.keys());
    assert.deepEqual(dupes, [], 'no duplicates either: what was emitted before the cut is marked from the journal');
    console.log(`cut after ${emittedAtCut.size} emitted, ${atCut.seen.size} read at the cut; ${p.total} connections, ${dupes.length} duplicates`);
  });

  it('a reset right after the \\Seen store (applied on the server, OK never seen): nothing lost, no duplicate', async () => {
    watch = new Watch();
    const user = uniqueUser('seenrst');
    await appendMessages(user, subjects('store', 60).map((s) => message(s, 2)));
    const p = await proxy(serverInfo().ports.imap);
    const reset = p.when({ clientLine: SEEN_STORE, serverLine: imapTaggedReply, action: 'reset' });
    await watch.load(flow([connection('imap', p.port)], [receiver({ maxEmails: -1 })]), credentials(user));
    const fired = await within(reset.fired, 20_000, 'the reset');
    assert.match(fired.serverLine ?? '', / OK\b/i, 'the server applied the store');
    await until(() => new Set(watch.keys()).size === 60, 20000, 'all 60 emitted');
    await until(async () => (await seenUids(user)).seen.size === 60, 10000, 'all read');
    // The STORE may have been the poll's last command: the next poll reconnects and must find
    // nothing to emit again.
    await until(() => p.total >= 2, 20000, 'the node to reconnect');
    await sleep(1500); // a poll or two on the new connection: a duplicate would come now
    const keys = watch.keys();
    assert.deepEqual(duplicates(keys), [], 'no email emitted twice');
    assert.ok(keys.every((k) => KEY.test(k)), keys[0]);
  });

  it('a reset before the \\Seen store reaches the server: the journal marks the batch, nothing emitted twice', async () => {
    watch = new Watch();
    const user = uniqueUser('seenlost');
    await appendMessages(user, subjects('journal', 40).map((s) => message(s, 2)));
    const p = await proxy(serverInfo().ports.imap);
    // No server condition: the proxy resets as the STORE line arrives, before forwarding it.
    const reset = p.when({ clientLine: SEEN_STORE, action: 'reset' });
    await watch.load(flow([connection('imap', p.port)], [receiver({ maxEmails: -1 })]), credentials(user));
    const fired = await within(reset.fired, 20_000, 'the reset');
    const batch = (/UID STORE (\S+)/i.exec(fired.armingLine ?? '') ?? [])[1];
    assert.ok(batch, fired.armingLine);
    await until(() => new Set(watch.keys()).size === 40, 20000, 'all 40 emitted');
    await until(async () => (await seenUids(user)).seen.size === 40, 10000, 'all read');
    await sleep(800);
    assert.deepEqual(duplicates(watch.keys()), [], 'no email emitted twice');
    // The next connection marks the journal's UIDs before it fetches anything.
    const next = p.connections[1].clientText;
    const store = next.search(new RegExp(`UID STORE ${batch.replace(/[:,]/g, '[:,]')} \\+FLAGS`));
    const firstFetch = next.search(BODY_FETCH);
    assert.ok(store >= 0 && (firstFetch < 0 || store < firstFetch), next.split('\r\n').slice(-12).join(' | '));
  });

  it('one poll and one connection at a time under a flow that takes 3 s per message (delay 200 ms)', async () => {
    watch = new Watch();
    // Counts polls in progress at the source level, in the dist build the node loads.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ImapMailbox: Imap } = require(path.join(repoRoot, 'dist', 'lib', 'imap', 'imap-mailbox.js')) as { ImapMailbox: typeof ImapMailbox };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Pop3Maildrop: Pop3 } = require(path.join(repoRoot, 'dist', 'lib', 'pop3', 'pop3-maildrop.js')) as { Pop3Maildrop: typeof Pop3Maildrop };
    // Per mailbox session (one per connection and folder here): polls on different sessions may overlap, on one may not.
    const active = new Map<object, number>();
    const polls = { max: 0, total: 0 };
    const originals = [Imap.prototype.poll, Pop3.prototype.poll];
    for (const proto of [Imap.prototype, Pop3.prototype] as Array<{ poll: ImapMailbox['poll'] }>) {
      const original = proto.poll;
      proto.poll = async function counted(this: ImapMailbox, ...args: Parameters<ImapMailbox['poll']>) {
        const now = (active.get(this) ?? 0) + 1;
        active.set(this, now);
        polls.total += 1;
        polls.max = Math.max(polls.max, now);
        try {
          return await original.apply(this, args);
        } finally {
          active.set(this, (active.get(this) ?? 1) - 1);
        }
      };
    }
    try {
      const imapUser = uniqueUser('slowimap');
      const popUser = uniqueUser('slowpop');
      await appendMessages(imapUser, subjects('slow imap', 4).map((s) => message(s, 1)));
      await appendMessages(popUser, subjects('slow pop', 2).map((s) => message(s, 1)));
      const imapProxy = await proxy(serverInfo().ports.imap);
      const popProxy = await proxy(serverInfo().ports.pop3);
      await watch.load(
        flow(
          [connection('imap', imapProxy.port), { ...connection('pop3', popProxy.port), id: 'conn-pop' }],
          [receiver({ delay: 200, maxEmails: -1 }), receiver({ id: 'recv-pop', connection: 'conn-pop', delay: 200, maxEmails: -1 })],
        ),
        { ...credentials(imapUser), ...credentials(popUser, 'conn-pop') },
      );
      let handled = 0;
      // A flow that blocks for 3 s on every message: Node-RED's event loop is held the whole time.
      helper.getNode('out').on('input', () => {
        const until = Date.now() + 3000;
        while (Date.now() < until) {
          /* busy */
        }
        handled += 1;
      });
      await until(() => handled === 6, 40000, 'the slow flow to take all six');
      const pollsAfter = polls.total;
      await sleep(1000);
      assert.ok(polls.total > pollsAfter, 'the nodes keep polling');
      assert.equal(polls.max, 1, 'never two polls of one node at once');
      assert.equal(active.size, 2, 'both nodes polled');
      assert.equal(imapProxy.maxOpen, 1, 'never two IMAP connections at once');
      assert.equal(popProxy.maxOpen, 1, 'never two POP3 connections at once');
      assert.deepEqual(duplicates(watch.keys()), []);
      assert.equal(watch.keys('recv').length, 4);
      assert.equal(watch.keys('recv-pop').length, 2);
      assert.ok((await listMailbox(imapUser)).every((m) => m.seen));
      console.log(`polls: ${polls.total}, IMAP connections: ${imapProxy.total}, POP3 sessions: ${popProxy.total}`);
    } finally {
      [Imap.prototype.poll, Pop3.prototype.poll] = originals as [ImapMailbox['poll'], Pop3Maildrop['poll']];
    }
  });

  it('UIDVALIDITY: a folder deleted and recreated is read again from its oldest message, with a warning', async () => {
    watch = new Watch();
    const user = uniqueUser('uidv');
    await appendMessages(user, subjects('old order', 3).map((s) => message(s, 1)), { folder: 'Orders', create: true });
    await watch.load(flow([connection('imap')], [receiver({ folder: 'Orders', unseenOnly: false, delay: 200, maxEmails: -1 })]), credentials(user));
    await until(() => watch.keys().length === 3, 10000, 'the three old orders');
    const recv = watch.current();
    const admin = await adminClient(user);
    const validity = async (): Promise<string> => {
      const status = await admin.status('Orders', { uidValidity: true });
      return String(status && status.uidValidity);
    };
    let oldValidity: string;
    let newValidity: string;
    try {
      oldValidity = await validity();
      await admin.mailboxDelete('Orders');
      await admin.mailboxCreate('Orders');
      newValidity = await validity();
    } finally {
      await admin.logout().catch(() => undefined);
    }
    assert.notEqual(newValidity, oldValidity, 'Dovecot gave the new folder a new UIDVALIDITY');
    // Five new ones: UIDs 1..5, at and below the old folder's last UID (3).
    const fresh = subjects('new order', 5);
    await appendMessages(user, fresh.map((s) => message(s, 1)), { folder: 'Orders' });
    await until(() => watch.keys().length === 8, 15000, 'the five new orders');
    await sleep(600);
    assert.deepEqual(watch.allSent().slice(3).map((s) => s.msg.topic), fresh, 'every new one, oldest first, none skipped');
    assert.ok(watch.allSent().slice(3).every((s) => s.msg.email.key.includes(`/${newValidity}/`)));
    assert.deepEqual(duplicates(watch.keys()), []);
    assert.ok(recv.warnings.some((w) => w.text === 'mailwire-receive-email.errors.uidvalidity'), JSON.stringify(recv.warnings));
    const warned = watch.translated('errors.uidvalidity').at(-1);
    assert.deepEqual(warned?.values, { folder: 'Orders', old: oldValidity, new: newValidity });
    assert.ok((await listMailbox(user, 'Orders')).every((m) => !m.seen), 'Unseen Only off changes no flag');
  });
});
