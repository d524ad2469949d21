// Benchmark shared-3 (issue 11): the throughput of three real Node-RED processes sharing one
// mailbox (Receive Email with shared on) next to one process with shared on, and one with shared
// off for reference. Each row gets a fresh mailbox of the drain's 1,000 ~4 kB emails and a Done
// folder; the flow in every process is the one of test/faults/shared-instances.test.ts without its
// pacing: Receive Email (settle ack, move to Done after success) -> the subject into a file of its
// own (the work, and what tells which process took which email) -> Email Done (success).
//
// Timed from the deploy (the processes are started beforehand, one POST /flows to each at the same
// moment) until the server's Done folder holds every email (STATUS every 100 ms on a separate
// session). Checked afterwards: the INBOX is empty, Done holds each email once, and the files hold
// each email exactly once over all processes. Each process connects over plain IMAP through a
// proxy of its own that counts the commands it sends (bench/imap-commands.ts).
//
// With shared on, Maximum Emails bounds what one poll claims (with -1 the first instance would
// claim the whole mailbox), so the rows run with Maximum Emails 25 and a Delay of 100 ms (the
// node's shortest): the same for all three rows.
//
// Options: --shared-count=N (1000), --shared-max=N (Maximum Emails, 25), --shared-delay-ms=N
// (Delay, 100), --shared-timeout-s=N (per row, 180), --shared-repeat=N (runs per row, 1).
// Run with `npm run bench -- shared-3`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FaultProxy } from '../test/support/fault-proxy';
import { NodeRedProcess } from '../test/support/node-red-process';
import { adminClient, listMailbox, serverInfo, uniqueUser, writeMaildir } from '../test/support/servers';
import { commandsText, countCommands } from './imap-commands';
import type { CommandCount } from './imap-commands';
import { drainMessage } from './messages';
import { SHARED_OPTIONS } from './plans';
import { checkOptions, environmentLine, fmt, loadAverage, numberOption, sleep, table } from './report';
import { clock } from './smtp';

checkOptions(SHARED_OPTIONS);
const COUNT = Math.floor(numberOption('shared-count', 1000));
const MAX_EMAILS = Math.floor(numberOption('shared-max', 25));
const DELAY_MS = Math.floor(numberOption('shared-delay-ms', 100));
const TIMEOUT_MS = numberOption('shared-timeout-s', 180) * 1000;
const REPEAT = Math.floor(numberOption('shared-repeat', 1));

interface Setup {
  key: string;
  label: string;
  processes: number;
  shared: boolean;
}

const SETUPS: Setup[] = [
  { key: 'three', label: '3 processes, shared', processes: 3, shared: true },
  { key: 'one', label: '1 process, shared', processes: 1, shared: true },
  { key: 'plain', label: '1 process, shared off', processes: 1, shared: false },
];
/** The row the others are compared with. */
const REFERENCE = 'one';

interface Run {
  setup: Setup;
  ok: boolean;
  /** Deploy until Done held them all (or until giving up). */
  timeMs: number;
  /** Done's count when the run ended. */
  done: number;
  /** How many emails each process wrote to its file. */
  perProcess: number[];
  commands: CommandCount[];
  problems: string[];
  logLines: string[];
  loadBefore: string;
  loadAfter: string;
}

const numberOf = (subject: string): number => {
  const match = /^Bench (\d{5}):/.exec(subject);
  return match ? Number(match[1]) : -1;
};

function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}

function flows(setup: Setup, run: number, port: number, user: string, file: string): unknown[] {
  const id = `${setup.key}-${run}`;
  return [
    { id: `tab-${id}`, type: 'tab', label: 'shared-3' },
    {
      id: `conn-${id}`, type: 'mailwire-receive-connection', name: 'bench', description: '', protocol: 'imap',
      host: '127.0.0.1', port, security: 'none', certificate: '', credentials: { user, password: serverInfo().password },
    },
    {
      id: `recv-${id}`, type: 'mailwire-receive-email', z: `tab-${id}`, name: '', connection: `conn-${id}`, folder: '', unseenOnly: true,
      delay: DELAY_MS, delayUnit: 'ms', maxEmails: MAX_EMAILS, shared: setup.shared, settle: 'ack', onSuccess: 'move', successFolder: 'Done',
      wires: [[`subject-${id}`]],
    },
    { id: `subject-${id}`, type: 'change', z: `tab-${id}`, name: '', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'topic', tot: 'msg' }], wires: [[`write-${id}`]] },
    {
      id: `write-${id}`, type: 'file', z: `tab-${id}`, name: '', filename: file, filenameType: 'str', appendNewline: true, createDir: true,
      overwriteFile: 'false', encoding: 'none', wires: [[`done-${id}`]],
    },
    { id: `done-${id}`, type: 'mailwire-email-done', z: `tab-${id}`, name: '', result: 'success', wires: [] },
  ];
}

/** POST /flows with a token fetched beforehand, so the clock does not include the login. */
async function deploy(red: NodeRedProcess, token: string, body: unknown[]): Promise<void> {
  const res = await fetch(`${red.url}/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', authorization: `Bearer ${token}` },
    body: JSON.stringify({ flows: body }),
  });
  if (res.status !== 200) throw new Error(`deploy failed: ${res.status} ${await res.text()}`);
}

async function prepareMailbox(user: string, raws: Buffer[]): Promise<void> {
  writeMaildir(user, raws);
  const admin = await adminClient(user);
  try {
    // Lets Dovecot index the new files (and assign UIDs) before the clock starts.
    const status = await admin.status('INBOX', { messages: true });
    const messages = status ? status.messages : undefined;
    if (messages !== raws.length) throw new Error(`mailbox ${user} holds ${messages ?? '?'} messages, expected ${raws.length}`);
    await admin.mailboxCreate('Done');
  } finally {
    await admin.logout().catch(() => admin.close());
  }
}

async function runOnce(setup: Setup, run: number, reds: NodeRedProcess[], raws: Buffer[]): Promise<Run> {
  const info = serverInfo();
  const user = uniqueUser(`bench-shared-${setup.key}`);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-bench-shared-'));
  const used = reds.slice(0, setup.processes);
  const files = used.map((_, i) => path.join(out, `process-${i}.txt`));
  const proxies: FaultProxy[] = [];
  const problems: string[] = [];
  const logFrom = used.map((red) => red.log.length);
  const mailDir = path.join(info.stateDir, 'mail', user);
  const watcher = await prepareMailbox(user, raws).then(() => adminClient(user)).catch((err: unknown) => {
    fs.rmSync(mailDir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
    throw err;
  });
  try {
    for (let i = 0; i < used.length; i += 1) proxies.push(await FaultProxy.start(info.ports.imap));
    const tokens = await Promise.all(used.map((red) => red.token()));
    const loadBefore = loadAverage();
    const t0 = clock();
    await Promise.all(used.map((red, i) => deploy(red, tokens[i], flows(setup, run, proxies[i].port, user, files[i]))));
    let done = 0;
    let endedAt = 0;
    while (clock() - t0 < TIMEOUT_MS) {
      const status = await watcher.status('Done', { messages: true });
      done = (status ? status.messages : undefined) ?? 0;
      if (done >= COUNT) {
        endedAt = clock();
        break;
      }
      await sleep(100);
    }
    const timeMs = (endedAt || clock()) - t0;
    const loadAfter = loadAverage();
    if (!endedAt) problems.push(`timed out after ${Math.round(TIMEOUT_MS / 1000)} s with ${done}/${COUNT} in Done`);
    // A second processing of any email would show in the files now.
    await sleep(1500);
    // Every node closed (its LOGOUT) before the proxies go and the mailbox is listed.
    await Promise.all(used.map((red, i) => deploy(red, tokens[i], [])));
    for (const proxy of proxies) await proxy.close();

    const written = files.map(lines);
    const all = written.flat().map(numberOf);
    const distinct = new Set(all.filter((n) => n >= 0 && n < COUNT));
    if (all.length !== COUNT || distinct.size !== COUNT) {
      problems.push(`the processes wrote ${all.length} lines, ${distinct.size} distinct emails; expected each of ${COUNT} exactly once`);
    }
    const inbox = await listMailbox(user);
    if (inbox.length > 0) problems.push(`${inbox.length} left in the INBOX`);
    const inDone = await listMailbox(user, 'Done');
    const doneDistinct = new Set(inDone.map((m) => numberOf(m.subject)).filter((n) => n >= 0 && n < COUNT));
    if (inDone.length !== COUNT || doneDistinct.size !== COUNT) problems.push(`Done holds ${inDone.length} (${doneDistinct.size} distinct), expected ${COUNT}`);
    return {
      setup,
      ok: problems.length === 0,
      timeMs,
      done,
      perProcess: written.map((w) => w.length),
      commands: proxies.map(countCommands),
      problems,
      logLines: used.flatMap((red, i) => red.log.slice(logFrom[i]).split('\n').filter((l) => /\[(error|warn)\]/.test(l))),
      loadBefore,
      loadAfter,
    };
  } finally {
    await watcher.logout().catch(() => watcher.close());
    for (const proxy of proxies) await proxy.close().catch(() => undefined);
    fs.rmSync(out, { recursive: true, force: true });
    fs.rmSync(mailDir, { recursive: true, force: true });
  }
}

function sumCommands(counts: CommandCount[]): CommandCount {
  const byName = new Map<string, number>();
  for (const c of counts) for (const [name, n] of c.byName) byName.set(name, (byName.get(name) ?? 0) + n);
  return {
    total: counts.reduce((n, c) => n + c.total, 0),
    byName: [...byName.entries()].sort((a, b) => b[1] - a[1]),
    connections: counts.reduce((n, c) => n + c.connections, 0),
  };
}

async function main(): Promise<number> {
  process.stdout.write(
    `shared-3: ${COUNT} emails (the drain's ~4 kB messages), Receive Email (settle ack, move to Done) -> file -> Email Done; ` +
      `Maximum Emails ${MAX_EMAILS}, Delay ${DELAY_MS} ms; plain IMAP through counting proxies; ${REPEAT} run(s) per row\n`,
  );
  const raws = Array.from({ length: COUNT }, (_, i) => drainMessage(i).raw);
  const reds: NodeRedProcess[] = [];
  const runs = new Map<Setup, Run[]>(SETUPS.map((s) => [s, []]));
  try {
    const most = Math.max(...SETUPS.map((s) => s.processes));
    for (let i = 0; i < most; i += 1) reds.push(await NodeRedProcess.start());
    // The rows take turns, so a change in the machine's load spreads over all of them.
    for (let round = 1; round <= REPEAT; round += 1) {
      for (const setup of SETUPS) {
        process.stdout.write(`  ${setup.label.padEnd(24)} #${round} `);
        const one = await runOnce(setup, round, reds, raws);
        runs.get(setup)?.push(one);
        process.stdout.write(`${one.ok ? 'ok' : 'FAILED'}, ${fmt(one.timeMs)} ms, each took ${one.perProcess.join(' / ')}\n`);
        await sleep(500);
      }
    }
  } finally {
    await Promise.all(reds.map((red) => red.stop().catch(() => undefined)));
    for (const red of reds) fs.rmSync(red.userDir, { recursive: true, force: true });
  }

  // The row shows the run with the median time (of an even number, the lower middle one, as the
  // drain rows), or the first that failed.
  const shown = new Map<Setup, Run>();
  for (const setup of SETUPS) {
    const list = runs.get(setup) ?? [];
    const bad = list.find((r) => !r.ok);
    const byTime = [...list].sort((a, b) => a.timeMs - b.timeMs);
    const pick = bad ?? byTime[Math.floor((byTime.length - 1) / 2)];
    if (pick) shown.set(setup, pick);
  }
  const rate = (r: Run | undefined): number => (r && r.ok ? COUNT / (r.timeMs / 1000) : Number.NaN);
  const reference = shown.get(SETUPS.find((s) => s.key === REFERENCE) ?? SETUPS[0]);
  const header = ['setup', 'processes', 'result', 'runs', 'time ms', 'emails/s', 'ratio', 'each took', 'IMAP commands', 'per email', 'note'];
  const body = SETUPS.map((setup, i) => {
    const r = shown.get(setup);
    if (!r) return [setup.label, String(setup.processes), 'not run', '0', '-', '-', '-', '-', '-', '-', ''];
    const total = sumCommands(r.commands);
    const list = runs.get(setup) ?? [];
    return [
      setup.label,
      String(setup.processes),
      r.ok ? 'ok' : 'FAILED',
      String(list.length),
      fmt(r.timeMs),
      fmt(rate(r)),
      reference && reference !== r ? `${fmt(rate(r) / rate(reference), 2)}×` : '1.00×',
      r.perProcess.join(' / '),
      fmt(total.total),
      fmt(total.total / COUNT, 2),
      `[${i + 1}]`,
    ];
  });
  process.stdout.write(`\n${table(header, body, new Set([1, 3, 4, 5, 6, 8, 9]))}\n\n`);
  SETUPS.forEach((setup, i) => {
    const r = shown.get(setup);
    if (!r) return;
    const list = runs.get(setup) ?? [];
    const parts = [
      r.ok ? `each of ${COUNT} processed exactly once, INBOX empty, Done holds ${COUNT}` : r.problems.join('; '),
      `commands per process: ${r.commands.map(commandsText).join(' | ')}`,
      `load average ${r.loadBefore} before, ${r.loadAfter} after`,
    ];
    if (list.length > 1) parts.push(`times ${list.map((x) => `${fmt(x.timeMs)}${x.ok ? '' : ' (failed)'}`).join(' / ')} ms`);
    if (r.logLines.length > 0) parts.push(`${r.logLines.length} warn/error lines from Node-RED, e.g. ${r.logLines[0].slice(0, 200)}`);
    process.stdout.write(`[${i + 1}] ${setup.label}: ${parts.join('; ')}\n`);
  });
  process.stdout.write(
    `ratio: emails/s over the row "${reference?.setup.label ?? '-'}"; time from the deploy (one POST /flows to each process at once) until Done held all ${COUNT} (checked every 100 ms)\n${environmentLine()}\n`,
  );
  return [...shown.values()].some((r) => !r.ok) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`shared-3 failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
