// The receive core's small parts, each alone, without a server: the emission window, failure
// streaks, the poller's wake, the exclusive queue, where a node starts, the POP3 maildrop state,
// the IMAP "find new" and ledger stages over a stand-in client, and the Receiver over a stand-in
// mailbox (push wake, allowance, status, closing).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';
import { findNew } from '../../src/lib/imap/poll/find-new';
import { floorUid, startingProgress } from '../../src/lib/imap/poll/folder-progress';
import { owe, owedOf } from '../../src/lib/imap/poll/ledger';
import { MailError } from '../../src/lib/mail-error';
import type { PollJob, PollResult, SettleJob, SettleOutcome } from '../../src/lib/mail-source';
import { Poller } from '../../src/lib/poller';
import { MaildropState } from '../../src/lib/pop3/poll/maildrop-state';
import type { FolderProgress, MaildropProgress, ProgressStore } from '../../src/lib/progress-store';
import { EmissionWindow } from '../../src/lib/receive/emission-window';
import { Exclusive } from '../../src/lib/receive/exclusive';
import { FailureStreak, TEMPORARY_GRACE_MS } from '../../src/lib/receive/failure-streak';
import type { Mailbox, MailboxSubscriber, ReceiveMode } from '../../src/lib/receive/mailbox';
import { Receiver } from '../../src/lib/receive/receiver';
import { actionName, policyProblem, resultOf, settlePolicy } from '../../src/lib/settle/policy';
import type { ReceiverEvents, ReceiverStatus } from '../../src/lib/receive/receiver';
import { sleep, until } from '../support/wait';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('EmissionWindow: Maximum Emails per Delay', () => {
  it('allows what is left of the maximum within the last window, and all of it once the window has passed', () => {
    const c = clock();
    const w = new EmissionWindow(5, 5000, c.now);
    assert.equal(w.allowance(), 5);
    for (let i = 0; i < 3; i += 1) w.record();
    assert.equal(w.allowance(), 2);
    c.advance(4000);
    w.record();
    w.record();
    assert.equal(w.allowance(), 0);
    c.advance(1000); // the first three are exactly one window old
    assert.equal(w.allowance(), 3);
    c.advance(4000);
    assert.equal(w.allowance(), 5);
  });
  it('-1 means no limit', () => {
    const w = new EmissionWindow(-1, 5000);
    for (let i = 0; i < 100; i += 1) w.record();
    assert.equal(w.allowance(), -1);
  });
});

describe('FailureStreak', () => {
  it('reports a failure once per streak of the same code, again when the code changes', () => {
    const s = new FailureStreak();
    assert.equal(s.next(new MailError('refused', 'x')), 'error');
    assert.equal(s.next(new MailError('refused', 'x')), null);
    assert.equal(s.next(new MailError('auth', 'x')), 'error');
    s.clear();
    assert.equal(s.next(new MailError('auth', 'x')), 'error');
  });
  it('a temporary failure is a warning, and an error once it has lasted the grace time', () => {
    const c = clock();
    const s = new FailureStreak(c.now);
    assert.equal(s.next(new MailError('in-use', 'x')), 'warning');
    c.advance(TEMPORARY_GRACE_MS - 1);
    assert.equal(s.next(new MailError('in-use', 'x')), null);
    c.advance(1);
    assert.equal(s.next(new MailError('in-use', 'x')), 'error');
    c.advance(TEMPORARY_GRACE_MS);
    assert.equal(s.next(new MailError('in-use', 'x')), null, 'escalated once');
  });
});

describe('Poller.wake', () => {
  it('runs at once when idle, right after the current run when asked during one (if allowed), never two at once', async () => {
    let running = 0;
    let most = 0;
    const starts: number[] = [];
    let release: (() => void) | undefined;
    const poller = new Poller({
      intervalMs: 60_000,
      maxBackoffMs: 60_000,
      onFailure: () => undefined,
      run: async () => {
        running += 1;
        most = Math.max(most, running);
        starts.push(Date.now());
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        running -= 1;
      },
    });
    poller.start();
    await until(() => starts.length === 1, 1000, 'the first run');
    poller.wake(); // during the run
    poller.wake();
    release?.();
    await until(() => starts.length === 2, 1000, 'the run asked for during the first');
    release?.();
    await sleep(50);
    assert.equal(starts.length, 2, 'two wakes during one run make one more run');
    poller.wake(); // idle, waiting a minute: runs now
    await until(() => starts.length === 3, 1000, 'the woken run');
    release?.();
    await poller.stop(100);
    assert.equal(most, 1);
  });
  it('a wake during a run waits for its turn when mayRunEarly says no', async () => {
    const starts: number[] = [];
    const poller = new Poller({ intervalMs: 60_000, maxBackoffMs: 60_000, onFailure: () => undefined, mayRunEarly: () => false, run: async () => {
      starts.push(Date.now());
      if (starts.length === 1) poller.wake();
    } });
    poller.start();
    await sleep(100);
    await poller.stop(100);
    assert.equal(starts.length, 1);
  });
});

describe('Exclusive', () => {
  it('runs tasks one at a time in order, counts what is pending, and goes on after a failure', async () => {
    const q = new Exclusive();
    const order: string[] = [];
    const a = q.run(async () => {
      await sleep(20);
      order.push('a');
    });
    const b = q.run(async () => {
      order.push('b');
      throw new Error('b failed');
    });
    const c = q.run(async () => {
      order.push('c');
      return q.pending;
    });
    assert.equal(q.pending, 3);
    await a;
    await assert.rejects(b, /b failed/);
    assert.equal(await c, 1, 'c counts itself while it runs');
    assert.deepEqual(order, ['a', 'b', 'c']);
    assert.equal(q.pending, 0);
  });
});

describe('where a node starts in an IMAP folder', () => {
  it('"all" before the oldest message, "new" at UIDNEXT', () => {
    const selected = { path: 'INBOX', uidValidity: '7', uidNext: 42 };
    assert.deepEqual(startingProgress(selected, 'all'), { uidValidity: '7', lastUid: 0, skipped: [] });
    const fresh = startingProgress(selected, 'new');
    assert.deepEqual(fresh, { uidValidity: '7', lastUid: 41, skipped: [], startUid: 42 });
    assert.equal(floorUid(fresh), 42);
    assert.equal(floorUid({ uidValidity: '7', lastUid: 50, skipped: [], startUid: 42 }), 51);
    assert.equal(floorUid(startingProgress({ ...selected, uidNext: 0 }, 'new')), 1, 'a server without UIDNEXT: from the start');
  });
});

describe('MaildropState (POP3 progress)', () => {
  it('first run "new" sets everything listed aside; "all" takes everything', () => {
    const fresh = MaildropState.open(undefined, ['a', 'b'], 'new');
    assert.equal(fresh.changed, true);
    assert.equal(fresh.isNew('a'), false);
    assert.equal(fresh.isNew('c'), true);
    assert.deepEqual(fresh.progress, { emitted: [], skipped: [], preexisting: ['a', 'b'] });
    assert.equal(MaildropState.open(undefined, ['a'], 'all').isNew('a'), true);
  });
  it('forgets UIDLs the server no longer lists, and says so; "start" no longer matters once there is progress', () => {
    const stored: MaildropProgress = { emitted: ['a', 'gone'], skipped: ['s'], preexisting: ['p', 'gone2'] };
    const state = MaildropState.open(stored, ['a', 's', 'p', 'x'], 'new');
    assert.equal(state.changed, true);
    assert.deepEqual(state.progress, { emitted: ['a'], skipped: ['s'], preexisting: ['p'] });
    assert.deepEqual(['a', 's', 'p', 'x'].filter((u) => state.isNew(u)), ['x']);
    assert.equal(MaildropState.open({ emitted: ['a'], skipped: [] }, ['a'], 'new').changed, false);
  });
});

/** The part of imapflow the stages below use, answering from fixed data. */
function stubClient(answers: { search?: number[] | false; store?: boolean }): { client: ImapFlow; searches: unknown[]; stores: number[][] } {
  const searches: unknown[] = [];
  const stores: number[][] = [];
  const client = {
    search: async (query: unknown) => {
      searches.push(query);
      return answers.search ?? [];
    },
    messageFlagsAdd: async (uids: number[]) => {
      stores.push(uids);
      return answers.store ?? true;
    },
  } as unknown as ImapFlow;
  return { client, searches, stores };
}

describe('IMAP stages over a stand-in client', () => {
  const progress = (over: Partial<FolderProgress> = {}): FolderProgress => ({ uidValidity: '1', lastUid: 0, skipped: [], ...over });

  it('find new: unread at or above the start, skipped ones left out, oldest first', async () => {
    const { client, searches } = stubClient({ search: [30, 5, 12, 40, 9] });
    assert.deepEqual(await findNew(client, progress({ skipped: [12], startUid: 9, lastUid: 8 }), true), [9, 30, 40]);
    assert.deepEqual(searches, [{ seen: false, deleted: false, uid: '9:*' }]);
  });
  it('find new, Unseen Only off: above the last emitted ("n:*" also matches a lower highest UID, which is dropped)', async () => {
    const { client, searches } = stubClient({ search: [7] });
    assert.deepEqual(await findNew(client, progress({ lastUid: 7 }), false), []);
    assert.deepEqual(searches, [{ deleted: false, uid: '8:*' }]);
    const all = stubClient({ search: [2, 1] });
    assert.deepEqual(await findNew(all.client, progress(), false), [1, 2]);
    assert.deepEqual(all.searches, [{ deleted: false }]);
  });
  it('find new: a refused search is an error, not "nothing new"', async () => {
    const { client } = stubClient({ search: false });
    await assert.rejects(findNew(client, progress(), true), (err: unknown) => err instanceof MailError && err.code === 'protocol');
  });
  it('ledger: one action owed per message (a later one replaces an earlier one), and \\Seen stores an earlier version wrote down are owed too', () => {
    const p = progress({ pendingSeen: [3, 4] });
    assert.deepEqual(owedOf(p).map((o) => [o.uid, o.action.kind]), [[3, 'seen'], [4, 'seen']]);
    owe(p, [{ uid: 4, action: { kind: 'move', folder: 'Done' } }, { uid: 9, action: { kind: 'flag', flag: '$Done' } }]);
    assert.equal(p.pendingSeen, undefined, 'the old field is folded into the ledger');
    assert.deepEqual(owedOf(p), [
      { uid: 3, action: { kind: 'seen' } },
      { uid: 4, action: { kind: 'move', folder: 'Done' } },
      { uid: 9, action: { kind: 'flag', flag: '$Done' } },
    ]);
  });
});

/** A mailbox that answers each poll from a script, for the Receiver alone. */
class ScriptedMailbox implements Mailbox {
  readonly jobs: PollJob[] = [];
  subscriber: MailboxSubscriber | undefined;
  constructor(private readonly answer: (job: PollJob) => Promise<PollResult>) {}
  get subscriberCount(): number {
    return this.subscriber ? 1 : 0;
  }
  subscribe(s: MailboxSubscriber): () => void {
    this.subscriber = s;
    return () => {
      this.subscriber = undefined;
    };
  }
  poll(job: PollJob): Promise<PollResult> {
    this.jobs.push(job);
    return this.answer(job);
  }
  readonly settled: SettleJob[] = [];
  async settle(jobs: SettleJob[]): Promise<SettleOutcome[]> {
    this.settled.push(...jobs);
    return jobs.map((j) => ({ action: actionName(j.result === 'success' ? j.policy.onSuccess : j.policy.onFailure), ok: true }));
  }
  mode(): ReceiveMode {
    return 'push';
  }
  reset(): void {}
  async close(): Promise<void> {}
}

function memoryStore(): ProgressStore & { removed: boolean } {
  const scopes = new Map<string, FolderProgress | MaildropProgress>();
  return {
    removed: false,
    folder: (s) => scopes.get(s) as FolderProgress | undefined,
    maildrop: (s) => scopes.get(s) as MaildropProgress | undefined,
    set: (s, v) => void scopes.set(s, v),
    flush: () => undefined,
    close: () => undefined,
    remove() {
      this.removed = true;
      scopes.clear();
    },
  };
}

function recorder(): ReceiverEvents & { statuses: ReceiverStatus[]; problems: Array<[string, string]>; emitted: number } {
  const r = {
    statuses: [] as ReceiverStatus[],
    problems: [] as Array<[string, string]>,
    emitted: 0,
    emit: () => void (r.emitted += 1),
    skip: () => undefined,
    folderReset: () => undefined,
    status: (s: ReceiverStatus) => void r.statuses.push(s),
    problem: (e: MailError, level: string) => void r.problems.push([e.code, level]),
    ackTimedOut: () => undefined,
  };
  return r;
}

const fakeEmail = (): Parameters<ReceiverEvents['emit']>[0] => ({ payload: '', topic: '', from: '', to: '', cc: '', date: undefined, html: undefined, headers: {}, attachments: [], email: { uidl: 'u', messageId: undefined, connection: 'c', key: 'c/u' } });

describe('Receiver over a stand-in mailbox', () => {
  it('push wakes a poll at once; the allowance of Maximum Emails per Delay bounds it; a spent allowance ignores wakes', async () => {
    const mailbox = new ScriptedMailbox(async (job) => {
      const n = job.request.maxEmails < 0 ? 3 : Math.min(3, job.request.maxEmails);
      for (let i = 0; i < n; i += 1) job.listener.emit(fakeEmail());
      return { emitted: n, skipped: 0 };
    });
    const events = recorder();
    const receiver = new Receiver(mailbox, memoryStore(), 'c', { request: { folder: '', unseenOnly: true, maxEmails: 5, start: 'all' }, intervalMs: 60_000, push: true, sizeLimit: 1, policy: settlePolicy({}, 'imap') }, events);
    await until(() => mailbox.jobs.length === 1, 1000, 'the first poll');
    assert.equal(mailbox.jobs[0].request.maxEmails, 5);
    await until(() => events.statuses.some((s) => s.kind === 'heard'), 1000, 'a status');
    mailbox.subscriber?.newMail();
    await until(() => mailbox.jobs.length === 2, 1000, 'the pushed poll');
    assert.equal(mailbox.jobs[1].request.maxEmails, 2, 'what is left of 5 after 3');
    await sleep(50);
    mailbox.subscriber?.newMail();
    await sleep(100);
    assert.equal(mailbox.jobs.length, 2, 'the allowance is spent: the wake waits for the next turn');
    assert.equal(events.emitted, 5);
    const heard = events.statuses.filter((s) => s.kind === 'heard').at(-1);
    assert.ok(heard && heard.kind === 'heard' && heard.mode === 'push' && heard.emitted === 2);
    await receiver.close(false);
    assert.equal(mailbox.subscriber, undefined, 'it left the mailbox');
  });

  it('failures: status retrying every time, a problem once per streak; after close the stages are told to stop, and removed forgets progress', async () => {
    let fail = true;
    const mailbox = new ScriptedMailbox(async () => {
      if (fail) throw new MailError('refused', 'down');
      return { emitted: 0, skipped: 0 };
    });
    const events = recorder();
    const store = memoryStore();
    const receiver = new Receiver(mailbox, store, 'c', { request: { folder: '', unseenOnly: true, maxEmails: -1, start: 'all' }, intervalMs: 10, push: false, sizeLimit: 1, policy: settlePolicy({}, 'imap') }, events);
    await until(() => events.statuses.filter((s) => s.kind === 'retrying').length >= 2, 5000, 'two failures');
    assert.deepEqual(events.problems, [['refused', 'error']]);
    fail = false;
    await until(() => events.statuses.at(-1)?.kind === 'heard', 5000, 'a good poll');
    const polls = mailbox.jobs.length;
    await receiver.close(true);
    // A poll still running would now stop before its next email (the stages ask isActive).
    assert.equal(mailbox.jobs.at(-1)!.listener.isActive(), false);
    assert.equal(store.removed, true);
    await sleep(50);
    assert.equal(mailbox.jobs.length, polls, 'no poll after close');
  });
});

describe('settle policy from the flow-file properties', () => {
  it('absent properties mean what older flows did', () => {
    assert.deepEqual(settlePolicy({}, 'imap'), { mode: 'emit', onSuccess: { kind: 'seen' }, onFailure: { kind: 'retry' }, ackTimeoutMs: 300_000 });
    assert.deepEqual(settlePolicy({ unseenOnly: false }, 'imap').onSuccess, { kind: 'none' });
    assert.deepEqual(settlePolicy({ pop3Delete: true }, 'pop3').onSuccess, { kind: 'delete' });
    assert.deepEqual(settlePolicy({}, 'pop3').onSuccess, { kind: 'none' });
    assert.deepEqual(settlePolicy({ pop3Delete: true, onSuccess: 'none' }, 'pop3').onSuccess, { kind: 'none' }, 'onSuccess wins over pop3Delete');
  });
  it('reads every action with its folder or flag, and the timeout', () => {
    const p = settlePolicy({ settle: 'ack', onSuccess: 'move', successFolder: ' Done ', onFailure: 'flag', failureFlag: '$Failed', ackTimeout: '7' }, 'imap');
    assert.deepEqual(p, { mode: 'ack', onSuccess: { kind: 'move', folder: 'Done' }, onFailure: { kind: 'flag', flag: '$Failed' }, ackTimeoutMs: 7000 });
  });
  it('refuses what the connection cannot do, and does not hold After failure against settle emit', () => {
    assert.equal(policyProblem(settlePolicy({ onSuccess: 'move' }, 'imap'), 'imap'), 'success-folder');
    assert.equal(policyProblem(settlePolicy({ settle: 'ack', onFailure: 'move' }, 'imap'), 'imap'), 'failure-folder');
    assert.equal(policyProblem(settlePolicy({ onFailure: 'move' }, 'imap'), 'imap'), null);
    assert.equal(policyProblem(settlePolicy({ settle: 'ack', onSuccess: 'flag', successFlag: 'two words' }, 'imap'), 'imap'), 'success-flag');
    assert.equal(policyProblem(settlePolicy({ settle: 'ack', onSuccess: 'flag', successFlag: '\\Flagged' }, 'imap'), 'imap'), null);
    assert.equal(policyProblem(settlePolicy({ settle: 'ack', onSuccess: 'move', successFolder: 'Done' }, 'pop3'), 'pop3'), 'pop3-action');
    assert.equal(policyProblem(settlePolicy({ settle: 'ack', onSuccess: 'delete' }, 'pop3'), 'pop3'), null);
  });
  it('Email Done result: fixed, or failure when a Catch node set msg.error', () => {
    assert.equal(resultOf(undefined, {}), 'success');
    assert.equal(resultOf('auto', { error: { message: 'x' } }), 'failure');
    assert.equal(resultOf('success', { error: { message: 'x' } }), 'success');
    assert.equal(resultOf('failure', {}), 'failure');
  });
});
