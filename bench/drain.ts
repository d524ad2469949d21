// Benchmark: our Receive Email node, in a real Node-RED process, against the bare libraries doing
// the same work, over IMAPS and POP3S against the private Dovecot: draining 1,000 waiting ~4 kB
// messages, draining a backlog of 10,000, and fetching one message with a 20 MiB attachment. Each
// run gets a fresh mailbox, filled and indexed before its clock starts, and a child process of its
// own (run-one.ts), which runs a bare loop itself or starts the Node-RED process for ours. Prints
// one table, each of our rows with ratios to the bare row of its scenario. Run with `npm run bench`
// (see bench/README.md).
//
// Options: --count=N (drain size, 1000), --backlog-count=N (10000), --attachment-mib=N (20),
// --timeout-s=N (per run, 180), --repeat=N (runs per row, 3; the row shows medians),
// --backlog-repeat=N (runs per backlog row, 1), --backlog-timeout-s=N (per backlog run, 420),
// --stall-s=N (node-pop3 silence that counts as a stall, 15), --json=FILE (also write the rows as
// JSON); other words pick runs whose id contains one of them, e.g. `npm run bench -- pop3-drain`.
import { execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ImapFlow } from 'imapflow';
import Pop3Command from 'node-pop3';
import { FaultProxy } from '../test/support/fault-proxy';
import { adminClient, certificatePem, listMailbox, repoRoot, serverInfo, uniqueUser, writeMaildir } from '../test/support/servers';
import { commandsText, countCommands } from './imap-commands';
import type { CommandCount } from './imap-commands';
import { attachmentMessage, drainMessage } from './messages';
import { DRAIN_OPTIONS, PLANS } from './plans';
import type { Plan } from './plans';
import type { ChildMessage, JobSpec, RunResult, Scenario } from './protocol';

// ---- options ------------------------------------------------------------------------------

const OPTIONS = DRAIN_OPTIONS;
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('--') && !OPTIONS.some((name) => arg.startsWith(`--${name}=`))) {
    process.stderr.write(`unknown option ${arg}; options: ${OPTIONS.map((name) => `--${name}=…`).join(' ')}\n`);
    process.exit(2);
  }
}

function numberOption(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = arg ? Number(arg.slice(name.length + 3)) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

const COUNT = Math.floor(numberOption('count', 1000));
const BACKLOG_COUNT = Math.floor(numberOption('backlog-count', 10_000));
const BACKLOG_REPEAT = Math.floor(numberOption('backlog-repeat', 1));
/** Ten times the drain needs more than the drain's limit on a busy machine (166 s seen at load 10). */
const BACKLOG_TIMEOUT_MS = numberOption('backlog-timeout-s', 420) * 1000;
const ATTACHMENT_MIB = numberOption('attachment-mib', 20);
const TIMEOUT_MS = numberOption('timeout-s', 180) * 1000;
const STALL_MS = numberOption('stall-s', 15) * 1000;
const REPEAT = Math.floor(numberOption('repeat', 3));
/**
 * A run that takes longer than this is not repeated: one 90-second data point (node-pop3 on the
 * attachment) is enough. High enough that a busy machine's 1,000 drain (up to 21 s seen) keeps
 * its 3 runs and its median.
 */
const REPEAT_ONLY_BELOW_MS = 60_000;
const FILTERS = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const MiB = 1024 * 1024;
/** The node's default Size limit, bytes, read from the build the runs load (in main). */
let defaultSizeLimit = 0;

// ---- the runs -----------------------------------------------------------------------------

function scenarioLabel(plan: Plan): string {
  const proto = plan.protocol.toUpperCase();
  if (plan.scenario === 'idle') return `${proto} empty mailbox`;
  if (plan.scenario === 'drain') return `${proto} drain ${COUNT.toLocaleString('en-US')}`;
  if (plan.scenario === 'backlog') return `${proto} backlog ${BACKLOG_COUNT.toLocaleString('en-US')}`;
  if (plan.scenario === 'settle-emit') return `settle emit (\\Seen), ${COUNT.toLocaleString('en-US')}`;
  if (plan.scenario === 'settle-ack') return `settle ack (move to Done), ${COUNT.toLocaleString('en-US')}`;
  return `${proto} ${ATTACHMENT_MIB} MiB attachment`;
}

// ---- mailboxes ----------------------------------------------------------------------------

interface Mailbox {
  raws: Buffer[];
  bytes: number;
  expect: JobSpec['expect'];
}

let drainSet: Mailbox | undefined;
let backlogSet: Mailbox | undefined;
let attachmentSet: Mailbox | undefined;
/** Drain messages generated so far: message i is the same in every set, so the sets share them. */
const generated: Buffer[] = [];

function drainRaws(count: number): Buffer[] {
  for (let i = generated.length; i < count; i += 1) generated.push(drainMessage(i).raw);
  return generated.slice(0, count);
}

function contentFor(scenario: Scenario): Mailbox {
  if (scenario === 'idle') return { raws: [], bytes: 0, expect: { count: 0 } };
  if (scenario === 'drain' || scenario === 'settle-emit' || scenario === 'settle-ack') {
    if (!drainSet) {
      const raws = drainRaws(COUNT);
      drainSet = { raws, bytes: raws.reduce((n, r) => n + r.length, 0), expect: { count: COUNT } };
    }
    return drainSet;
  }
  if (scenario === 'backlog') {
    if (!backlogSet) {
      const raws = drainRaws(BACKLOG_COUNT);
      backlogSet = { raws, bytes: raws.reduce((n, r) => n + r.length, 0), expect: { count: BACKLOG_COUNT } };
    }
    return backlogSet;
  }
  if (!attachmentSet) {
    const message = attachmentMessage(Math.round(ATTACHMENT_MIB * MiB));
    attachmentSet = { raws: [message.raw], bytes: message.raw.length, expect: { count: 1, attachment: message.attachment } };
  }
  return attachmentSet;
}

async function withTimeout<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
    })]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Lets Dovecot find and index the new Maildir files (and assign UIDs) before any clock starts. */
async function indexImap(user: string): Promise<number> {
  const info = serverInfo();
  const client = new ImapFlow({ host: '127.0.0.1', port: info.ports.imap, secure: false, doSTARTTLS: false, auth: { user, pass: info.password }, logger: false });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const status = await client.status('INBOX', { messages: true, unseen: true });
    return status ? status.messages ?? -1 : -1;
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/** A POP3 session (STAT, QUIT) so Dovecot has worked out the POP3 sizes and UIDLs before timing. */
async function indexPop3(user: string): Promise<void> {
  const info = serverInfo();
  const pop3 = new Pop3Command({ host: '127.0.0.1', port: info.ports.pop3, user, password: info.password });
  pop3.on('error', () => undefined);
  await pop3.STAT();
  await pop3.QUIT();
}

function removeMailbox(user: string): void {
  fs.rmSync(path.join(serverInfo().stateDir, 'mail', user), { recursive: true, force: true });
}

// ---- one child per run --------------------------------------------------------------------

const CHILD = path.join(__dirname, 'run-one.js');

function peakRssOf(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

function parentOf(pid: number): number {
  try {
    return Number(/PPid:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function runChild(spec: JobSpec): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = fork(CHILD, [JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-2000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let result: RunResult | undefined;
    let progress = 0;
    let measuredPid = 0;
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') {
        progress = message.count;
        measuredPid = message.measuredPid ?? measuredPid;
      } else result = message.result;
    });
    // The child has its own deadline; this one is for a child that cannot even run its timers.
    // The Node-RED process it started goes too: killed, the child could not stop it.
    const started = Date.now();
    let killedPeak = 0;
    const hardKill = setTimeout(() => {
      killedPeak = peakRssOf(measuredPid || (child.pid ?? 0));
      // Only while it is still the child's own: a pid can be reused once its process is gone.
      if (measuredPid && parentOf(measuredPid) === child.pid) {
        try {
          process.kill(measuredPid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      child.kill('SIGKILL');
    }, spec.timeoutMs + 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(hardKill);
      if (result) {
        resolve(result);
        return;
      }
      resolve({
        rssAtStartKiB: 0,
        peakReset: false,
        outcome: killedPeak ? 'timeout' : 'failed',
        detail: killedPeak
          ? `killed after ${Math.round((Date.now() - started) / 1000)} s with ${progress} messages`
          : `child exited (${signal ?? code}) without a result: ${output.trim().split('\n').slice(-3).join(' | ')}`,
        count: progress,
        timeMs: Date.now() - started,
        verified: false,
        peakRssKiB: killedPeak,
        rusageMaxRssKiB: 0,
        peakHeapExternalBytes: 0,
      });
    });
  });
}

/** Dovecot's master pid: if it changes during a run, someone restarted the servers under it. */
function dovecotPid(): string {
  try {
    return fs.readFileSync(path.join(serverInfo().stateDir, 'dovecot', 'run', 'master.pid'), 'utf8').trim();
  } catch {
    return '';
  }
}

async function waitForImapPort(ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(serverInfo().ports.imap, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * attempt(), again (at most twice) when the mail server was restarted under it or could not be
 * reached while the mailbox was prepared: others run tests against the same servers.
 */
async function attemptUndisturbed(plan: Plan, box: Mailbox, pem: string): Promise<Attempt> {
  for (let tries = 1; ; tries += 1) {
    const before = dovecotPid();
    let one: Attempt;
    try {
      one = await attempt(plan, box, pem);
    } catch (err) {
      if (tries === 3) throw err;
      process.stdout.write(`(mail server unreachable: ${err instanceof Error ? err.message : String(err)}; again) `);
      await new Promise((r) => setTimeout(r, 2000));
      await waitForImapPort(30_000);
      continue;
    }
    if (dovecotPid() === before) return one;
    if (tries === 3) {
      one.notes.push('Dovecot was restarted during this run (by someone else): the numbers are not valid');
      return one;
    }
    process.stdout.write('(Dovecot was restarted meanwhile; again) ');
    await new Promise((r) => setTimeout(r, 2000));
    await waitForImapPort(30_000);
  }
}

interface Attempt {
  result: RunResult;
  notes: string[];
  /** settle runs: the IMAP commands the run sent, counted by the proxy. */
  commands?: CommandCount;
  /** Filling the mailbox before the clock: writing the Maildir files, Dovecot indexing them. */
  preparation: { writeMs: number; indexMs: number };
}

const isSettle = (scenario: Scenario): boolean => scenario === 'settle-emit' || scenario === 'settle-ack';

/** Outside the timing: settle-emit must leave the INBOX all \Seen; settle-ack an empty INBOX and every email in Done, once. */
async function checkSettled(plan: Plan, user: string, result: RunResult): Promise<string[]> {
  if (result.outcome !== 'ok') return [];
  const inbox = await withTimeout('IMAP listing', 60_000, listMailbox(user));
  if (plan.scenario === 'settle-emit') {
    const seen = inbox.filter((m) => m.seen).length;
    return seen === COUNT && inbox.length === COUNT ? [] : [`INBOX holds ${inbox.length}, ${seen} \\Seen; expected ${COUNT}, all \\Seen`];
  }
  const done = await withTimeout('IMAP listing', 60_000, listMailbox(user, 'Done'));
  // Each drain message's subject starts with its number (drainSubject).
  const numbers = done.map((m) => /^Bench (\d{5}):/.exec(m.subject)?.[1]).filter((n) => n !== undefined && Number(n) < COUNT);
  const distinct = new Set(numbers);
  const problems: string[] = [];
  if (inbox.length > 0) problems.push(`${inbox.length} left in the INBOX`);
  if (done.length !== COUNT || distinct.size !== COUNT) {
    problems.push(`Done holds ${done.length} (${distinct.size} distinct of the expected subjects), expected ${COUNT}`);
  }
  return problems;
}

/** One run of a plan: a fresh mailbox, filled and indexed, the child, then the checks. */
async function attempt(plan: Plan, box: Mailbox, pem: string): Promise<Attempt> {
  const info = serverInfo();
  const user = uniqueUser(`bench-${plan.id}`);
  const notes: string[] = [];
  let proxy: FaultProxy | undefined;
  try {
    const prepareStart = performance.now();
    writeMaildir(user, box.raws);
    const writtenAt = performance.now();
    const indexed = await withTimeout('IMAP STATUS', 120_000, indexImap(user));
    if (indexed !== box.raws.length) throw new Error(`mailbox ${user} holds ${indexed} messages, expected ${box.raws.length}`);
    if (plan.protocol === 'pop3') await withTimeout('POP3 STAT', 60_000, indexPop3(user));
    const preparation = { writeMs: writtenAt - prepareStart, indexMs: performance.now() - writtenAt };
    if (plan.scenario === 'settle-ack') {
      const admin = await adminClient(user);
      await admin.mailboxCreate('Done');
      await admin.logout();
    }
    // settle runs go over plain IMAP through a proxy that keeps what the client sent, to count its commands.
    if (isSettle(plan.scenario)) proxy = await FaultProxy.start(info.ports.imap);
    const result = await runChild({
      id: plan.id,
      scenario: plan.scenario,
      protocol: plan.protocol,
      implementation: plan.implementation,
      sizeLimitMiB: plan.sizeLimitMiB,
      defaultSizeLimitMiB: defaultSizeLimit / MiB,
      user,
      password: info.password,
      host: proxy ? '127.0.0.1' : 'localhost',
      port: proxy ? proxy.port : plan.protocol === 'imap' ? info.ports.imaps : info.ports.pop3s,
      security: proxy ? 'none' : 'tls',
      certificatePem: pem,
      expect: box.expect,
      timeoutMs: plan.scenario === 'backlog' ? BACKLOG_TIMEOUT_MS : TIMEOUT_MS,
      stallMs: STALL_MS,
    });
    let commands: CommandCount | undefined;
    if (proxy) {
      await proxy.close();
      commands = countCommands(proxy);
      notes.push(commandsText(commands));
      const problems = await checkSettled(plan, user, result);
      if (problems.length > 0) {
        notes.push(...problems);
        result.verified = false;
      }
    } else if (plan.protocol === 'imap' && plan.scenario !== 'idle') {
      // Outside the timing: did the run leave exactly what it handed on marked \Seen? (An ok run
      // handed on each message exactly once, so all \Seen is exactly those.)
      const listed = await withTimeout('IMAP listing', 120_000, listMailbox(user));
      const seen = listed.filter((m) => m.seen).length;
      const expected = result.outcome === 'ok' ? box.raws.length : result.outcome === 'skipped' ? 0 : -1;
      if (expected >= 0 && (seen !== expected || listed.length !== box.raws.length)) {
        notes.push(`${seen} of ${listed.length} messages \\Seen afterwards, expected ${expected} of ${box.raws.length}`);
        result.verified = false;
      } else if (expected >= 0) {
        notes.push(`server: ${seen} of ${listed.length} \\Seen afterwards, as expected`);
      }
    }
    return { result, notes, commands, preparation };
  } finally {
    if (proxy) await proxy.close().catch(() => undefined);
    removeMailbox(user);
  }
}

// ---- report -------------------------------------------------------------------------------

interface Row {
  plan: Plan;
  /** How many of the attempts ended ok and verified. */
  okRuns: number;
  /** The attempt the row shows: the one with the median time, or the first that did not end well. */
  result: RunResult;
  /** Every attempt's time, in order. */
  times: number[];
  /** Medians over the attempts that ended ok (over all when none did): time, RSS at the clock start, peak RSS, growth (KiB). */
  medianTimeMs: number;
  medianRssAtStartKiB: number;
  medianPeakRssKiB: number;
  medianGrowthKiB: number;
  /** Highest peak RSS (KiB) and heap + external (bytes) over the attempts. */
  peakRssKiB: number;
  peakHeapExternalBytes: number;
  bytes: number;
  notes: string[];
  /** settle rows: the commands of the attempt shown. */
  commands?: CommandCount;
}

function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function outcomeText(r: RunResult): string {
  switch (r.outcome) {
    case 'ok':
      return r.verified ? 'ok' : 'ok, NOT VERIFIED';
    case 'stalled':
      return `stalled after ${r.count}`;
    case 'timeout':
      return `timed out (${r.count} done)`;
    case 'skipped':
      return 'skipped: too large';
    default:
      return 'FAILED';
  }
}

const isBare = (plan: Plan): boolean => plan.implementation === 'imapflow' || plan.implementation === 'pop3-bare';
const complete = (row: Row | undefined): row is Row => row !== undefined && row.result.outcome === 'ok' && row.result.verified;
const growthKiB = (r: RunResult): number => r.peakRssKiB - r.rssAtStartKiB;

/** The bare row our row is compared with: same scenario and protocol. */
function bareOf(row: Row, rows: Row[]): Row | undefined {
  return rows.find((r) => r.plan.scenario === row.plan.scenario && r.plan.protocol === row.plan.protocol && isBare(r.plan));
}

function table(rows: Row[]): string {
  const header = [
    'scenario', 'implementation', 'result', 'runs', 'time ms', 'ms/email', 'MiB/s', 'time ratio',
    'RSS at start MiB', 'peak RSS MiB', 'RSS growth MiB', 'growth ratio', 'note',
  ];
  const body = rows.map((row, i) => {
    const r = row.result;
    const seconds = row.medianTimeMs / 1000;
    const perEmail = row.plan.scenario === 'drain' || row.plan.scenario === 'backlog';
    const bare = bareOf(row, rows);
    const compared = row.plan.implementation === 'node' && complete(row) && complete(bare);
    return [
      scenarioLabel(row.plan),
      row.plan.implementationLabel,
      outcomeText(r) + (r.outcome !== 'ok' && row.okRuns > 0 ? ` (${row.okRuns} of ${row.times.length} runs ok)` : ''),
      String(row.times.length),
      fmt(row.medianTimeMs),
      complete(row) && perEmail ? fmt(row.medianTimeMs / r.count, 2) : '-',
      complete(row) && row.bytes > 0 ? fmt(row.bytes / MiB / seconds, 1) : '-',
      compared && bare ? `${fmt(row.medianTimeMs / bare.medianTimeMs, 2)}×` : complete(row) && isBare(row.plan) ? '1.00×' : '-',
      fmt(row.medianRssAtStartKiB / 1024, 1),
      fmt(row.medianPeakRssKiB / 1024, 1),
      fmt(row.medianGrowthKiB / 1024, 1),
      compared && bare ? `${fmt(row.medianGrowthKiB / bare.medianGrowthKiB, 2)}×` : complete(row) && isBare(row.plan) ? '1.00×' : '-',
      row.notes.length > 0 ? `[${i + 1}]` : '',
    ];
  });
  const numeric = new Set([3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((cells) => cells[c].length)));
  const line = (cells: string[]): string => cells.map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

/** The issue's backlog criteria: peak RSS with 10,000 waiting within 20 % of 1,000, time per email flat. */
function backlogLines(rows: Row[]): string[] {
  const out: string[] = [];
  for (const backlog of rows.filter((r) => r.plan.scenario === 'backlog')) {
    const drain = rows.find((r) => r.plan.scenario === 'drain' && r.plan.protocol === backlog.plan.protocol && r.plan.implementation === backlog.plan.implementation);
    const who = `${backlog.plan.protocol.toUpperCase()} ${backlog.plan.implementationLabel}`;
    if (!complete(backlog) || !complete(drain)) {
      out.push(`backlog, ${who}: needs both the ${fmt(BACKLOG_COUNT)} and the ${fmt(COUNT)} drain rows ok in this run${drain ? '' : ' (the drain row was not picked)'}`);
      continue;
    }
    const peakChange = (backlog.medianPeakRssKiB / drain.medianPeakRssKiB - 1) * 100;
    const perBacklog = backlog.medianTimeMs / backlog.result.count;
    const perDrain = drain.medianTimeMs / drain.result.count;
    out.push(
      `backlog, ${who}: ${fmt(BACKLOG_COUNT)} vs ${fmt(COUNT)} emails: peak RSS ${fmt(backlog.medianPeakRssKiB / 1024, 1)} vs ${fmt(drain.medianPeakRssKiB / 1024, 1)} MiB ` +
      `(${peakChange >= 0 ? '+' : ''}${fmt(peakChange, 0)} %; within 20 %: ${Math.abs(peakChange) <= 20 ? 'yes' : 'NO'}), ` +
      `RSS growth ${fmt(backlog.medianGrowthKiB / 1024, 1)} vs ${fmt(drain.medianGrowthKiB / 1024, 1)} MiB; ` +
      `time per email ${fmt(perBacklog, 2)} vs ${fmt(perDrain, 2)} ms (${fmt(perBacklog / perDrain, 2)}×)`,
    );
  }
  return out;
}

/** The settle rows: ours next to the bare imapflow loop of the same scenario, with the commands sent. */
function settleTable(rows: Row[]): string {
  const header = ['scenario', 'implementation', 'result', 'runs', 'time ms', 'msg/s', 'time ratio', 'IMAP commands', 'per email', 'cmd ratio', 'max RSS MiB', 'note'];
  const reference = (row: Row): Row | undefined => rows.find((r) => r.plan.scenario === row.plan.scenario && r.plan.implementation === 'imapflow');
  const body = rows.map((row, i) => {
    const r = row.result;
    const ref = reference(row);
    const ok = (x: Row | undefined): boolean => x !== undefined && x.result.outcome === 'ok' && x.result.verified;
    const mine = row.plan.implementation === 'node' && ok(row) && ok(ref) && ref !== undefined;
    return [
      scenarioLabel(row.plan),
      row.plan.implementationLabel,
      outcomeText(r) + (r.outcome !== 'ok' && row.okRuns > 0 ? ` (${row.okRuns} of ${row.times.length} runs ok)` : ''),
      String(row.times.length),
      fmt(r.timeMs),
      r.outcome === 'ok' ? fmt(r.count / (r.timeMs / 1000)) : '-',
      mine && ref ? `${fmt(r.timeMs / ref.result.timeMs, 2)}×` : row === ref ? '1.00×' : '-',
      row.commands ? fmt(row.commands.total) : '-',
      row.commands && r.count > 0 ? fmt(row.commands.total / r.count, 2) : '-',
      mine && ref?.commands && row.commands ? `${fmt(row.commands.total / ref.commands.total, 1)}×` : row === ref ? '1.0×' : '-',
      fmt(row.peakRssKiB / 1024, 1),
      row.notes.length > 0 ? `[s${i + 1}]` : '',
    ];
  });
  const numeric = new Set([3, 4, 5, 6, 7, 8, 9, 10]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((cells) => cells[c].length)));
  const line = (cells: string[]): string => cells.map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

function environmentLine(): string {
  const cpus = os.cpus();
  let dovecot = 'unknown';
  try {
    dovecot = execFileSync('dovecot', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // Only for the footer.
  }
  return `Node.js ${process.version}, ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), ${os.platform()} ${os.arch()}, Dovecot ${dovecot}, ${new Date().toISOString()}`;
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<number> {
  const pem = certificatePem();
  // The node's default Size limit, from the same build the runs load.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  defaultSizeLimit = (require(path.join(repoRoot, 'dist', 'lib', 'mail-source.js')) as { DEFAULT_SIZE_LIMIT: number }).DEFAULT_SIZE_LIMIT;
  const defaultLimit = defaultSizeLimit;
  const selected = PLANS.filter((p) => (FILTERS.length === 0 ? !p.optIn : FILTERS.some((f) => p.id.includes(f) && (!p.namedBy || f.includes(p.namedBy)))));
  const attachmentBytes = selected.some((p) => p.scenario === 'attachment') ? contentFor('attachment').bytes : 0;
  const raisedMiB = Math.ceil((attachmentBytes * 1.1) / MiB);
  const plans = selected
    .filter((p) => p.sizeLimitMiB !== -1 || attachmentBytes > defaultLimit)
    .map((p) => (p.sizeLimitMiB === -1 ? { ...p, sizeLimitMiB: raisedMiB, implementationLabel: `mailwire node, Size limit ${raisedMiB} MiB` } : p));
  if (plans.length === 0) {
    process.stderr.write(`no run matches ${FILTERS.join(' ')}; ids: ${PLANS.map((p) => p.id).join(', ')}\n`);
    return 2;
  }
  process.stdout.write(
    `mailwire receive benchmark: ${plans.length} runs × up to ${REPEAT}, drain ${COUNT} messages, ` +
    `backlog ${BACKLOG_COUNT} (× up to ${BACKLOG_REPEAT}), ${ATTACHMENT_MIB} MiB attachment, at most ${TIMEOUT_MS / 1000} s per run\n`,
  );
  const loadAtStart = os.loadavg()[0];
  // The runs of one scenario take turns (A B A B ...), so a change in machine load while they run
  // spreads over all implementations instead of landing on one of them.
  const attemptsOf = new Map<Plan, Attempt[]>(plans.map((p) => [p, []]));
  const groups: Plan[][] = [];
  for (const plan of plans) {
    const last = groups[groups.length - 1];
    if (last && last[0].scenario === plan.scenario && last[0].protocol === plan.protocol) last.push(plan);
    else groups.push([plan]);
  }
  for (const group of groups) {
    const generateStart = performance.now();
    const box = contentFor(group[0].scenario);
    process.stdout.write(
      `  ${scenarioLabel(group[0])}: ${box.raws.length} message(s), ${fmt(box.bytes / MiB, 1)} MiB each run ` +
      `(generated in ${fmt((performance.now() - generateStart) / 1000, 1)} s)\n`,
    );
    const rounds = group[0].scenario === 'backlog' ? BACKLOG_REPEAT : REPEAT;
    for (let round = 1; round <= rounds; round += 1) {
      for (const plan of group) {
        const attempts = attemptsOf.get(plan) ?? [];
        const previous = attempts[attempts.length - 1]?.result;
        // Not again after something worth reporting happened, or when once took long enough.
        if (previous && (previous.outcome !== 'ok' || !previous.verified || previous.timeMs > REPEAT_ONLY_BELOW_MS)) continue;
        process.stdout.write(`    ${plan.id.padEnd(28)} #${round} `);
        const one = await attemptUndisturbed(plan, box, pem);
        attempts.push(one);
        process.stdout.write(`${outcomeText(one.result)}, ${fmt(one.result.timeMs)} ms, peak RSS ${fmt(one.result.peakRssKiB / 1024, 1)} MiB\n`);
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  }
  const loadAtEnd = os.loadavg()[0];

  const rows: Row[] = plans.map((plan) => {
    const box = contentFor(plan.scenario);
    const attempts = attemptsOf.get(plan) ?? [];
    const bad = attempts.find((a) => a.result.outcome !== 'ok' || !a.result.verified);
    const byTime = [...attempts].sort((a, b) => a.result.timeMs - b.result.timeMs);
    const shown = bad ?? byTime[Math.floor((byTime.length - 1) / 2)];
    const good = attempts.filter((a) => a.result.outcome === 'ok' && a.result.verified);
    const counted = (good.length > 0 ? good : attempts).map((a) => a.result);
    const notes = [...new Set([shown.result.detail, ...attempts.flatMap((a) => a.notes)].filter(Boolean))];
    if (shown.result.outcome === 'skipped') notes.push(`the message is ${box.bytes} bytes (${fmt(box.bytes / MiB, 2)} MiB) on the server`);
    if (attempts.length > 1) {
      const each = attempts.map((a) => `${fmt(a.result.timeMs)}${a.result.outcome === 'ok' ? '' : ` (${outcomeText(a.result)})`}`);
      notes.push(`times ${each.join(' / ')} ms; RSS growth ${attempts.map((a) => fmt(growthKiB(a.result) / 1024, 1)).join(' / ')} MiB`);
    }
    if (attempts.some((a) => !a.result.peakReset)) notes.push('VmHWM could not be reset: peak since the process started');
    // How long before anything arrives: a poll's set-up (search, sizes, journal) shows here.
    const firsts = counted.map((r) => r.firstMs).filter((ms): ms is number => ms !== undefined);
    if (firsts.length > 0 && plan.scenario !== 'idle') notes.push(`first email after ${fmt(median(firsts))} ms (median)`);
    if (plan.scenario === 'backlog') {
      notes.push(`mailbox prepared outside the clock in ${attempts.map((a) => `${fmt((a.preparation.writeMs + a.preparation.indexMs) / 1000, 1)} s (files ${fmt(a.preparation.writeMs / 1000, 1)} s, index ${fmt(a.preparation.indexMs / 1000, 1)} s)`).join(' / ')}`);
    }
    return {
      plan,
      okRuns: good.length,
      result: shown.result,
      times: attempts.map((a) => a.result.timeMs),
      medianTimeMs: median(counted.map((r) => r.timeMs)),
      medianRssAtStartKiB: median(counted.map((r) => r.rssAtStartKiB)),
      medianPeakRssKiB: median(counted.map((r) => r.peakRssKiB)),
      medianGrowthKiB: median(counted.map(growthKiB)),
      peakRssKiB: Math.max(...attempts.map((a) => a.result.peakRssKiB)),
      peakHeapExternalBytes: Math.max(...attempts.map((a) => a.result.peakHeapExternalBytes)),
      bytes: box.bytes,
      // The commands are the same from run to run; the note has the shown run's breakdown.
      notes: shown.commands ? [commandsText(shown.commands), ...notes.filter((n) => !n.includes(' commands on '))] : notes,
      commands: shown.commands,
    };
  });

  const mainRows = rows.filter((row) => !isSettle(row.plan.scenario));
  const settleRows = rows.filter((row) => isSettle(row.plan.scenario));
  if (mainRows.length > 0) {
    process.stdout.write(`\n${table(mainRows)}\n\n`);
    mainRows.forEach((row, i) => {
      if (row.notes.length > 0) process.stdout.write(`[${i + 1}] ${row.plan.id}: ${row.notes.join('; ')}\n`);
    });
    for (const line of backlogLines(mainRows)) process.stdout.write(`${line}\n`);
    process.stdout.write(
      'medians over the runs; time: from the deploy request (ours, a real Node-RED started beforehand with no flow) or the client\'s creation (bare) ' +
      'to the later of the last email and the poll\'s end (\\Seen stored, logout); RSS growth: VmHWM (reset at the clock start) minus VmRSS at the clock start, ' +
      'of the Node-RED process (ours) or the bare loop\'s own process; ratios: ours over the bare row of the same scenario\n',
    );
  }
  if (settleRows.length > 0) {
    process.stdout.write(`\n${settleTable(settleRows)}\n\n`);
    settleRows.forEach((row, i) => {
      if (row.notes.length > 0) process.stdout.write(`[s${i + 1}] ${row.plan.id}: ${row.notes.join('; ')}\n`);
    });
    process.stdout.write('settle: plain IMAP to 127.0.0.1 through a counting proxy (tagged commands the client sent); time from deploy / new ImapFlow to the last email settled (emit: \\Seen stored and the poll ended; ack: the last email passed on by Email Done after its MOVE was confirmed); INBOX and Done listed afterwards\n');
  }
  const cpus = os.cpus().length;
  const load = `load average (1 min) ${loadAtStart.toFixed(2)} at the start, ${loadAtEnd.toFixed(2)} at the end`;
  process.stdout.write(`\n${environmentLine()}\n${load}${Math.max(loadAtStart, loadAtEnd) > cpus * 0.75 ? ` - the machine was busy with other work: take the times with caution` : ''}\n`);
  const json = process.argv.find((a) => a.startsWith('--json='));
  if (json) fs.writeFileSync(path.resolve(json.slice('--json='.length)), JSON.stringify({ environment: environmentLine(), load, rows }, null, 2));
  // A bare library that stalls is a finding; our node failing or delivering wrong mail is not.
  const failed = rows.filter((row) => row.plan.implementation === 'node' && (row.result.outcome === 'failed' || (row.result.outcome === 'ok' && !row.result.verified)));
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`benchmark failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
