// Benchmark push-latency: how soon after a mail server has accepted an email does the Receive
// Email node emit it? Emails go one at a time through the private Postfix over SMTP to
// <user>@example.test, which delivers them over LMTP to Dovecot, as real mail arrives. For each,
// from the server's 250 reply to the end of DATA (t0) to:
//   - our node emitting it (a Node-RED runtime with the Receive Email node: push on, Unseen Only,
//     Delay 60 s, Maximum Emails -1, IMAPS with the pinned certificate);
//   - a bare imapflow session holding IDLE on the same INBOX, which on EXISTS fetches the new
//     message and parses it (the floor), on the same messages at the same time;
//   - the EXISTS reaching that bare session (Dovecot's announcement) and the message file
//     appearing in the Maildir (Postfix and LMTP);
// and, as the baseline without push, our node polling every 5 s (push off).
// Each side runs in its own process (push-child.ts). The two phases run at the same time, each on
// its own mailbox: they take about as long as each other (an email per 1.6 s with push, per 6 s
// polling), so the part takes the time of one, and what one does cannot reach the other's
// sessions (Dovecot notifies per mailbox); they share the CPUs, as everything on the machine does.
// Prints one table; exits 1 only when our node lost, duplicated or corrupted an email. Run with
// `npm run bench -- push-latency`.
//
// Options: --push-count=N (emails with push, 30), --poll-count=N (emails while polling, 8),
// --poll-delay-s=N (the polling node's Delay, 5).
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { certificatePem, listMailbox, serverInfo, uniqueUser } from '../test/support/servers';
import { drainMessage } from './messages';
import type { PushChildMessage, PushJob, PushParentMessage } from './push-child';
import { checkOptions, environmentLine, fmt, loadAverage, median, numberOption, percentile, sleep, table } from './report';
import { SmtpSession, clock } from './smtp';

checkOptions(['push-count', 'poll-count', 'poll-delay-s']);
const PUSH_COUNT = Math.floor(numberOption('push-count', 30));
const POLL_COUNT = Math.floor(numberOption('poll-count', 8));
const POLL_DELAY_S = numberOption('poll-delay-s', 5);
const PUSH_DELAY_S = 60;
/**
 * Quiet between one email being handed on and the next being sent. Dovecot 2.3 holds change
 * notices for 0.5 s after the first change, then sends what came meanwhile; the node's \Seen store
 * would start that clock early for the bare session if the next email followed it too closely.
 */
const QUIET_MS = 1000;
/** The golden ratio's fraction: spreads the polling run's send times evenly over the Delay. */
const PHI = (Math.sqrt(5) - 1) / 2;

interface PhaseSpec {
  key: string;
  label: string;
  push: boolean;
  delayS: number;
  count: number;
  /** Extra wait after email i was handed on, on top of QUIET_MS. */
  extraGapMs: (i: number) => number;
  /** How long to wait for one email on each side before going on without it. */
  waitMs: number;
}

// ---- one side (a child process) ---------------------------------------------------------

class Side {
  /** clock() of each time the email with this index was handed on. */
  readonly handed = new Map<number, number[]>();
  readonly exists: Array<{ count: number; at: number }> = [];
  readonly problems: string[] = [];
  broken = 0;
  strangers = 0;
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  private exited = false;

  constructor(readonly job: PushJob) {
    this.child = fork(path.join(__dirname, 'push-child.js'), [JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-2000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (message: PushChildMessage) => {
        switch (message.type) {
          case 'ready':
            resolve();
            return;
          case 'message':
            if (message.index < 0) this.strangers += 1;
            else {
              if (!message.intact) this.broken += 1;
              this.handed.set(message.index, [...(this.handed.get(message.index) ?? []), message.at]);
            }
            return;
          case 'exists':
            this.exists.push({ count: message.count, at: message.at });
            return;
          case 'problem':
            if (this.problems.length < 5) this.problems.push(message.text);
        }
      });
      this.child.on('exit', (code, signal) => {
        this.exited = true;
        reject(new Error(`the ${job.side} process exited (${signal ?? code}) before it was ready: ${this.problems.join('; ')} ${output.trim().split('\n').slice(-3).join(' | ')}`));
      });
    });
    this.ready.catch(() => undefined);
  }

  first(index: number): number | undefined {
    return this.handed.get(index)?.[0];
  }

  /** When the server announced a mailbox of at least `count` messages (floor only). */
  announced(count: number): number | undefined {
    return this.exists.find((e) => e.count >= count)?.at;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const message: PushParentMessage = { type: 'stop' };
    this.child.send(message);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}

// ---- the Maildir: when Postfix's LMTP delivery put the file there --------------------------

/** Times new message files appear in the user's Maildir (new/ or cur/), by file name before the flags. */
function watchMaildir(user: string): { arrivals: number[]; close(): void } {
  const dir = path.join(serverInfo().stateDir, 'mail', user, 'Maildir');
  const names = new Set<string>();
  const arrivals: number[] = [];
  const watchers = ['new', 'cur'].map((sub) =>
    fs.watch(path.join(dir, sub), (_event, name) => {
      if (!name) return;
      const base = String(name).split(':')[0];
      if (names.has(base)) return;
      names.add(base);
      arrivals.push(clock());
    }),
  );
  return { arrivals, close: () => watchers.forEach((w) => w.close()) };
}

async function until(predicate: () => boolean, ms: number): Promise<boolean> {
  const deadline = clock() + ms;
  while (!predicate()) {
    if (clock() > deadline) return false;
    await sleep(2);
  }
  return true;
}

// ---- one phase: a fresh mailbox, our node and the floor on it, emails one at a time -------

interface PhaseResult {
  spec: PhaseSpec;
  node: Side;
  floor: Side;
  /** Per email: the 250's time, the time the send began. */
  t0: number[];
  sentAt: number[];
  delivered: Array<number | undefined>;
  /** The mailbox afterwards: messages, and how many \Seen. */
  listed: number;
  seen: number;
  loadBefore: string;
  loadAfter: string;
}

async function runPhase(spec: PhaseSpec, pem: string): Promise<PhaseResult> {
  const info = serverInfo();
  const user = uniqueUser(`bench-${spec.key}`);
  const base = { user, password: info.password, host: 'localhost', port: info.ports.imaps, certificatePem: pem, push: spec.push, delayS: spec.delayS };
  const loadBefore = loadAverage();
  const node = new Side({ ...base, side: 'node' });
  const floor = new Side({ ...base, side: 'floor' });
  const t0: number[] = [];
  const sentAt: number[] = [];
  let watcher: ReturnType<typeof watchMaildir> | undefined;
  let smtp: SmtpSession | undefined;
  try {
    await Promise.all([node.ready, floor.ready]);
    watcher = watchMaildir(user);
    smtp = await SmtpSession.open(info.ports.smtp ?? 0);
    await sleep(QUIET_MS);
    for (let i = 0; i < spec.count; i += 1) {
      const raw = drainMessage(i).raw;
      sentAt.push(clock());
      const accepted = await smtp.send('sender@example.test', `${user}@example.test`, raw);
      t0.push(accepted.at);
      await until(() => node.first(i) !== undefined && floor.first(i) !== undefined, spec.waitMs);
      await sleep(QUIET_MS + spec.extraGapMs(i));
    }
    // Late ones, then a moment in which a second emission of anything would show.
    await until(() => node.handed.size >= spec.count && floor.handed.size >= spec.count, spec.waitMs);
    await sleep(1500);
  } finally {
    await smtp?.quit();
    watcher?.close();
    await Promise.all([node.stop(), floor.stop()]);
  }
  const listing = await listMailbox(user);
  fs.rmSync(path.join(info.stateDir, 'mail', user), { recursive: true, force: true });
  const arrivals = watcher?.arrivals ?? [];
  const delivered = sentAt.map((start, i) => arrivals.find((at) => at >= start && (i + 1 >= sentAt.length || at < sentAt[i + 1])));
  return { spec, node, floor, t0, sentAt, delivered, listed: listing.length, seen: listing.filter((m) => m.seen).length, loadBefore, loadAfter: loadAverage() };
}

// ---- report -------------------------------------------------------------------------------

interface Verdict {
  ok: boolean;
  text: string;
  details: string[];
}

/** Our node's delivery: every email once, intact, and exactly those \Seen on the server. */
function nodeVerdict(r: PhaseResult): Verdict {
  const n = r.spec.count;
  const got = [...r.node.handed.keys()].filter((i) => i < n).length;
  const twice = [...r.node.handed.values()].reduce((sum, times) => sum + times.length - 1, 0);
  const details: string[] = [];
  if (got < n) details.push(`${n - got} never emitted`);
  if (twice > 0) details.push(`${twice} emitted twice`);
  if (r.node.broken > 0) details.push(`${r.node.broken} with a wrong subject or text`);
  if (r.node.strangers > 0) details.push(`${r.node.strangers} unknown emails`);
  if (r.listed === n && r.seen !== got) details.push(`${r.seen} \\Seen on the server, ${got} emitted`);
  const ok = details.length === 0;
  return { ok, text: ok ? 'ok' : 'FAILED', details };
}

function floorVerdict(r: PhaseResult): Verdict {
  const n = r.spec.count;
  const got = [...r.floor.handed.keys()].filter((i) => i < n).length;
  const details: string[] = [];
  if (got < n) details.push(`${n - got} never parsed`);
  if (r.floor.broken + r.floor.strangers > 0) details.push(`${r.floor.broken + r.floor.strangers} wrong`);
  return { ok: details.length === 0, text: details.length === 0 ? 'ok' : 'incomplete', details };
}

function latencies(r: PhaseResult, at: (i: number) => number | undefined): number[] {
  const out: number[] = [];
  r.t0.forEach((t, i) => {
    const when = at(i);
    if (when !== undefined) out.push(when - t);
  });
  return out;
}

function statCells(values: number[]): string[] {
  return [fmt(median(values)), fmt(percentile(values, 95)), fmt(values.length ? Math.max(...values) : Number.NaN)];
}

async function main(): Promise<number> {
  const info = serverInfo();
  if (!(info as { smtp?: boolean }).smtp || !info.ports.smtp) throw new Error('Postfix is not running with the mail servers: push-latency sends its emails through it');
  const pem = certificatePem();
  const phases: PhaseSpec[] = [
    {
      key: 'push',
      label: `push on, Delay ${PUSH_DELAY_S} s`,
      push: true,
      delayS: PUSH_DELAY_S,
      count: PUSH_COUNT,
      extraGapMs: () => 0,
      waitMs: 15_000,
    },
    {
      key: 'poll',
      label: `push off, Delay ${POLL_DELAY_S} s`,
      push: false,
      delayS: POLL_DELAY_S,
      count: POLL_COUNT,
      // Sent at times spread evenly over the poll cycle, or every email would wait the same.
      extraGapMs: (i) => (((i + 1) * PHI) % 1) * POLL_DELAY_S * 1000,
      waitMs: POLL_DELAY_S * 1000 + 15_000,
    },
  ];
  process.stdout.write(
    `push-latency: ${PUSH_COUNT} emails with push and, at the same time on another mailbox, ${POLL_COUNT} polled every ${POLL_DELAY_S} s; one at a time through Postfix (SMTP, then LMTP to Dovecot), ${QUIET_MS} ms quiet between them\n`,
  );
  const started = clock();
  const results: PhaseResult[] = await Promise.all(
    phases.map(async (spec) => {
      const result = await runPhase(spec, pem);
      process.stdout.write(`  ${spec.label}: ${spec.count} emails done after ${fmt((clock() - started) / 1000, 1)} s\n`);
      return result;
    }),
  );

  const [push, poll] = results;
  const header = ['scenario', 'measured, from the SMTP 250 (end of DATA) to …', 'result', 'emails', 'median ms', 'p95 ms', 'max ms', 'note'];
  const notes: string[] = [];
  const note = (text: string): string => {
    notes.push(text);
    return `[${notes.length}]`;
  };
  const rows: string[][] = [];
  const pushNode = nodeVerdict(push);
  const pushFloor = floorVerdict(push);
  const nodeLat = latencies(push, (i) => push.node.first(i));
  const floorLat = latencies(push, (i) => push.floor.first(i));
  const announced = latencies(push, (i) => push.floor.announced(i + 1));
  const delivered = latencies(push, (i) => push.delivered[i]);
  const paired = push.t0.flatMap((_, i) => {
    const a = push.node.first(i);
    const b = push.floor.first(i);
    return a !== undefined && b !== undefined ? [a - b] : [];
  });
  const nodeNote = [...pushNode.details, `${push.seen}/${push.listed} \\Seen afterwards`, ...push.node.problems, `load average ${push.loadBefore} before, ${push.loadAfter} after`];
  rows.push([push.spec.label, 'mailwire receive-email node: emitted', pushNode.text, `${nodeLat.length}/${push.spec.count}`, ...statCells(nodeLat), note(`node, ${push.spec.label}: ${nodeNote.join('; ')}`)]);
  const floorNotes = [...pushFloor.details, ...push.floor.problems];
  rows.push([push.spec.label, 'imapflow IDLE + UID FETCH + mailparser (floor): parsed', pushFloor.text, `${floorLat.length}/${push.spec.count}`, ...statCells(floorLat), floorNotes.length ? note(`floor: ${floorNotes.join('; ')}`) : '']);
  rows.push(['  same emails', "EXISTS at the floor's session (Dovecot's announcement)", '', String(announced.length), ...statCells(announced), '']);
  rows.push(['  same emails', 'message file in the Maildir (Postfix + LMTP)', '', String(delivered.length), ...statCells(delivered), '']);
  rows.push(['  same emails', 'node minus floor, per email', '', String(paired.length), ...statCells(paired), '']);
  const pollNode = nodeVerdict(poll);
  const pollLat = latencies(poll, (i) => poll.node.first(i));
  const pollAnnounced = latencies(poll, (i) => poll.floor.announced(i + 1));
  const pollNote = [
    ...pollNode.details,
    `${poll.seen}/${poll.listed} \\Seen afterwards`,
    ...poll.node.problems,
    `sent at times spread evenly over the ${POLL_DELAY_S} s cycle`,
    `EXISTS at the floor: median ${fmt(median(pollAnnounced))} ms`,
    `load average ${poll.loadBefore} before, ${poll.loadAfter} after`,
  ];
  rows.push([poll.spec.label, 'mailwire receive-email node: emitted', pollNode.text, `${pollLat.length}/${poll.spec.count}`, ...statCells(pollLat), note(`node, ${poll.spec.label}: ${pollNote.join('; ')}`)]);

  process.stdout.write(`\n${table(header, rows, new Set([3, 4, 5, 6]))}\n\n`);
  notes.forEach((text, i) => process.stdout.write(`[${i + 1}] ${text}\n`));
  process.stdout.write(
    `\nBoth sides ran at the same time on the same emails (one t0), the two phases at the same time on two mailboxes, in ${fmt((clock() - started) / 1000, 1)} s; IMAPS to localhost, certificate pinned; load average (1, 5, 15 min) ${loadAverage()} at the end\n${environmentLine()}\n`,
  );
  return pushNode.ok && pollNode.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`push-latency failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
