// Benchmark idle-scale: what Receive Email nodes cost while no mail comes, and how that grows with
// their number. One real Node-RED process (test/support/node-red-process.ts, as the end-to-end
// tests start it) runs, one state after the other: no Receive Email node (the reference), 50 nodes
// polling every 5 s (push off, the default Delay) and 200 nodes polling; when asked for, N nodes
// with push on (Delay 60 s) after them. Between the reference and the first measured nodes, 50
// nodes poll for a few seconds unmeasured, so that no measured state pays for compiling the node's
// code (V8 compiles and optimises what runs often, on its first runs). Each node
// has its own receive connection and its own empty mailbox (a user of its own: Dovecot allows 10
// sessions per user and address), IMAPS to localhost with the certificate pinned. Each state is
// deployed; once Dovecot counts every node's session the state gets a short warm-up and a full
// garbage collection (Node-RED runs with --expose-gc), then is measured:
//   - CPU share of the Node-RED process: utime + stime from /proc/<pid>/stat over wall time, and
//     of it the main thread's (where the JavaScript runs) from /proc/<pid>/task/<pid>/stat;
//   - CPU of the private Dovecot over the same time: its imap processes (one per session, all of
//     them the bench users' since nothing else uses this instance), its imap-login processes
//     (with IMAPS each session's TLS runs in one) and all its processes alive at the end;
//   - established connections from the Node-RED process to the IMAPS port (its own sockets),
//     sampled every 5 s, and the sessions `doveadm who` counts for the state's users;
//   - VmRSS sampled every 5 s (the median is compared), VmHWM over the window (reset to the RSS
//     of the moment at the start, through clear_refs), and the live heap after the collection.
// Then the 200/50 growth of CPU and memory over the reference, against the linear 4: a verdict
// each; and the RSS per node added from 50 to 200, which needs no reference.
// After each measurement one email goes to each mailbox through Postfix: every node must emit
// its email exactly once (the bench exits 1 otherwise), so the figures are those of working nodes.
// Run with `npm run bench -- idle-scale` (idle-50, its former name, picks it too).
//
// Options: --idle-nodes=N (the large size, 200), --idle-small-nodes=N (50), --warmup-s=N (6, after
// the last session is up), --measure-s=N (25, the polling states'; the reference and push states
// get 20 s: see REFERENCE_MS and PUSH_MS), --idle-push-nodes=N (no push state unless given). The
// push state is left out by default for time and because Dovecot's IDLE takes one inotify instance
// per session from a per-user limit (fs.inotify.max_user_instances, 128 by default) that every
// Dovecot on the machine running as the same user shares: past it, sessions fall back to checking
// every 30 s, the bench's and anyone else's.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeRedProcess } from '../test/support/node-red-process';
import { certificatePem, serverInfo, simpleMessage, uniqueUser } from '../test/support/servers';
import { CLOCK_TICKS, dovecotSnapshot, dovecotTicks, dovecotTicksByName, memory, readStat, resetPeak, tcpConnections, threadTicks } from './proc';
import type { DovecotSnapshot } from './proc';
import { checkOptions, environmentLine, fmt, loadAverage, median, numberOption, sleep, table } from './report';
import { SmtpSession, clock } from './smtp';

checkOptions(['idle-nodes', 'idle-small-nodes', 'idle-push-nodes', 'warmup-s', 'measure-s']);
const LARGE = Math.floor(numberOption('idle-nodes', 200));
const SMALL = Math.floor(numberOption('idle-small-nodes', 50));
const PUSH_NODES = process.argv.some((a) => a.startsWith('--idle-push-nodes=')) ? Math.floor(numberOption('idle-push-nodes', 1)) : 0;
const WARMUP_MS = numberOption('warmup-s', 6) * 1000;
const POLL_DELAY_S = 5;
const PUSH_DELAY_S = 60;
// A whole number of poll cycles: the nodes of a state were deployed together and poll in step, so
// a window that is not a multiple of the cycle could hold one burst of polls more or less.
const MEASURE_MS = Math.max(1, Math.round(numberOption('measure-s', 25) / POLL_DELAY_S)) * POLL_DELAY_S * 1000;
// The runtime alone hardly changes from one second to the next; the push state holds one IDLE
// renewal per session (imapflow renews after 20 s of quiet) and none of its 60 s polls in 20 s.
const REFERENCE_MS = 20_000;
const PUSH_MS = 20_000;
const SAMPLE_EVERY_MS = 5000;
/** How long the sessions of a deployed state may take to come up before the bench gives up. */
const READY_TIMEOUT_MS = 90_000;
/** Up to this factor over the linear growth still counts as linear: a margin for one run's noise (bench/README.md gives the spread between runs). */
const LINEAR_TOLERANCE = 1.1;
const KiB_PER_MiB = 1024;

interface StateSpec {
  key: string;
  label: string;
  nodes: number;
  push: boolean;
  delayS: number;
  measureMs: number;
}

/** Not measured: runs the node's code before the first measured nodes do. */
const PREWARM: StateSpec = { key: 'prewarm', label: `${SMALL} polling, unmeasured`, nodes: SMALL, push: false, delayS: POLL_DELAY_S, measureMs: 0 };

const STATES: StateSpec[] = [
  { key: 'none', label: 'no Receive Email nodes', nodes: 0, push: false, delayS: POLL_DELAY_S, measureMs: REFERENCE_MS },
  { key: `poll${SMALL}`, label: `${SMALL} polling, Delay ${POLL_DELAY_S} s`, nodes: SMALL, push: false, delayS: POLL_DELAY_S, measureMs: MEASURE_MS },
  { key: `poll${LARGE}`, label: `${LARGE} polling, Delay ${POLL_DELAY_S} s`, nodes: LARGE, push: false, delayS: POLL_DELAY_S, measureMs: MEASURE_MS },
  ...(PUSH_NODES > 0
    ? [{ key: `push${PUSH_NODES}`, label: `${PUSH_NODES} push on, Delay ${PUSH_DELAY_S} s`, nodes: PUSH_NODES, push: true, delayS: PUSH_DELAY_S, measureMs: PUSH_MS }]
    : []),
];

/**
 * A request path answered inside Node-RED's admin server (settings' httpAdminMiddleware) with two
 * full collections and then process.memoryUsage(): the RSS compared between states is then what
 * each state holds, not what garbage the one before left behind, and the heap left after the
 * collections is what the nodes keep alive (V8's heap and the memory its objects hold outside it,
 * such as TLS buffers), without the slack V8 and malloc keep in RSS.
 */
const GC_PATH = '/mailwire-bench-gc';
const GC_SETTINGS = `httpAdminMiddleware: (req, res, next) => {
    if (req.path !== '${GC_PATH}') return next();
    if (typeof global.gc !== 'function') return res.status(501).end();
    global.gc();
    global.gc();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(process.memoryUsage()));
  },`;

/** Live memory after the collections: heapUsed + external, in KiB. */
async function collectGarbage(red: NodeRedProcess): Promise<number> {
  const res = await fetch(`${red.url}${GC_PATH}`);
  if (!res.ok) throw new Error(`garbage collection in Node-RED: HTTP ${res.status}`);
  const usage = (await res.json()) as { heapUsed: number; external: number };
  return (usage.heapUsed + usage.external) / 1024;
}

/** Deploys a state and waits until it runs: every node's session up; returns how long that took. */
async function deploy(red: NodeRedProcess, pid: number, state: StateSpec, users: string[], file: string): Promise<number> {
  const deployedAt = clock();
  const deployed = await red.api('POST', '/flows', { flows: flows(state, users, file) });
  if (deployed.status !== 200) throw new Error(`deploy failed: ${deployed.status} ${await deployed.text()}`);
  await sessionsUp(pid, new Set(users));
  return clock() - deployedAt;
}

interface Measured {
  state: StateSpec;
  /** From the deploy until Dovecot counted every node's session. */
  readyMs: number;
  /** heapUsed + external after two full collections just before the window, KiB. */
  liveKiB: number;
  wallMs: number;
  nodeRedTicks: number;
  /** Of nodeRedTicks: the main thread's (JavaScript) and the other threads'. */
  threads: { main: number; others: number };
  imap: { ticks: number; processes: number };
  imapLogin: { ticks: number; processes: number };
  dovecot: { ticks: number; processes: number };
  connections: number[];
  sessions: number[];
  /** VmRSS sampled every 5 s and at the end. */
  rss: number[];
  dovecotByName: Array<[string, number]>;
  hwmKiB: number;
  hwmSinceStart: boolean;
  loadBefore: string;
  loadAfter: string;
  /** The email sent to each mailbox afterwards: how many nodes emitted theirs, how many twice, how long the last took. */
  check: { emitted: number; twice: number; wrong: number; lastMs: number };
  logLines: string[];
}

function dovecotConf(): string {
  return path.join(serverInfo().stateDir, 'dovecot', 'dovecot.conf');
}

function dovecotMasterPid(): number {
  return Number(fs.readFileSync(path.join(serverInfo().stateDir, 'dovecot', 'run', 'master.pid'), 'utf8').trim());
}

/** IMAP sessions Dovecot has for these users (`doveadm who -1`). */
function sessionsOf(users: Set<string>): number {
  const out = execFileSync('doveadm', ['-c', dovecotConf(), 'who', '-1'], { encoding: 'utf8' });
  return out.split('\n').filter((line) => {
    const [user, proto] = line.trim().split(/\s+/);
    return users.has(user) && proto === 'imap';
  }).length;
}

/** N × (receive connection + Receive Email node), all wired to one change node (payload = subject) and one file node. */
function flows(state: StateSpec, users: string[], file: string): unknown[] {
  const info = serverInfo();
  const pem = certificatePem();
  return [
    { id: 'idle-tab', type: 'tab', label: 'idle-scale' },
    ...users.flatMap((user, i) => [
      {
        id: `${state.key}-conn-${i}`,
        type: 'mailwire-receive-connection',
        name: `${state.key} ${i}`,
        description: '',
        protocol: 'imap',
        host: 'localhost',
        port: info.ports.imaps,
        security: 'tls',
        certificate: pem,
        credentials: { user, password: info.password },
      },
      {
        id: `${state.key}-recv-${i}`,
        type: 'mailwire-receive-email',
        z: 'idle-tab',
        name: '',
        connection: `${state.key}-conn-${i}`,
        folder: '',
        unseenOnly: true,
        delay: state.delayS,
        delayUnit: 's',
        maxEmails: -1,
        push: state.push,
        x: 150,
        y: 40 + i * 20,
        wires: [['idle-topic']],
      },
    ]),
    { id: 'idle-topic', type: 'change', z: 'idle-tab', name: '', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'topic', tot: 'msg' }], x: 400, y: 40, wires: [['idle-file']] },
    { id: 'idle-file', type: 'file', z: 'idle-tab', name: '', filename: file, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', x: 600, y: 40, wires: [] },
  ];
}

function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}

/** One email to each mailbox; waits until each node has emitted its own (or 60 s). */
async function deliveryCheck(state: StateSpec, users: string[], file: string): Promise<Measured['check']> {
  if (users.length === 0) return { emitted: 0, twice: 0, wrong: 0, lastMs: Number.NaN };
  const prefix = `idle-scale check ${state.key} `;
  const subject = (i: number): string => `${prefix}${i}`;
  // Lines from before this state's emails (earlier states') are not its nodes' doing.
  const before = lines(file).length;
  const smtp = await SmtpSession.open(serverInfo().ports.smtp ?? 0);
  let lastAccepted = 0;
  try {
    for (const [i, user] of users.entries()) lastAccepted = (await smtp.send('sender@example.test', `${user}@example.test`, simpleMessage(subject(i)))).at;
  } finally {
    await smtp.quit();
  }
  const expected = new Set(users.map((_, i) => subject(i)));
  const fresh = (): string[] => lines(file).slice(before);
  const deadline = clock() + 60_000;
  let allAt = 0;
  while (clock() < deadline) {
    if (new Set(fresh().filter((l) => expected.has(l))).size >= users.length) {
      allAt = clock();
      break;
    }
    await sleep(50);
  }
  await sleep(1500); // a second emission of any of them would show now
  const got = fresh();
  const distinct = new Set(got.filter((l) => expected.has(l)));
  return {
    emitted: distinct.size,
    twice: got.filter((l) => expected.has(l)).length - distinct.size,
    wrong: got.filter((l) => !expected.has(l)).length,
    lastMs: allAt ? allAt - lastAccepted : Number.NaN,
  };
}

/** Waits until Dovecot counts a session for each user and the process holds as many connections. */
async function sessionsUp(pid: number, users: Set<string>): Promise<void> {
  const port = serverInfo().ports.imaps;
  const deadline = clock() + READY_TIMEOUT_MS;
  while (sessionsOf(users) < users.size || tcpConnections(pid, port) < users.size) {
    if (clock() > deadline) throw new Error(`only ${sessionsOf(users)} of ${users.size} sessions came up within ${READY_TIMEOUT_MS / 1000} s`);
    await sleep(250);
  }
}

async function measure(red: NodeRedProcess, pid: number, state: StateSpec, file: string): Promise<{ measured: Measured; users: string[] }> {
  const info = serverInfo();
  const users = Array.from({ length: state.nodes }, (_, i) => uniqueUser(`bench-scale-${state.key}-${i}`));
  const userSet = new Set(users);
  const logFrom = red.log.length;
  const readyMs = await deploy(red, pid, state, users, file);
  process.stdout.write(`  ${state.label}: ${state.nodes > 0 ? `all sessions up in ${fmt(readyMs / 1000, 1)} s, ` : ''}${WARMUP_MS / 1000} s warm-up`);
  await sleep(WARMUP_MS);
  const liveKiB = await collectGarbage(red);

  const master = dovecotMasterPid();
  const loadBefore = loadAverage();
  const hwmReset = resetPeak(pid);
  const startedAt = clock();
  const startTicks = readTicks(pid);
  const startThreads = threadTicks(pid);
  const startDovecot: DovecotSnapshot = dovecotSnapshot(master);
  const connections: number[] = [];
  const sessions: number[] = [];
  const rss: number[] = [];
  process.stdout.write(`, measuring ${state.measureMs / 1000} s `);
  for (let next = startedAt; next < startedAt + state.measureMs; next += SAMPLE_EVERY_MS) {
    await sleep(Math.max(0, next - clock()));
    connections.push(tcpConnections(pid, info.ports.imaps));
    sessions.push(sessionsOf(userSet));
    rss.push(memory(pid).rssKiB);
    process.stdout.write('.');
  }
  await sleep(Math.max(0, startedAt + state.measureMs - clock()));
  const endTicks = readTicks(pid);
  const endThreads = threadTicks(pid);
  const endDovecot = dovecotSnapshot(master);
  const wallMs = clock() - startedAt;
  const mem = memory(pid);
  const loadAfter = loadAverage();
  connections.push(tcpConnections(pid, info.ports.imaps));
  sessions.push(sessionsOf(userSet));
  rss.push(mem.rssKiB);
  if (users.length > 0) process.stdout.write(', one email to each mailbox');
  const check = await deliveryCheck(state, users, file);
  process.stdout.write(users.length > 0 ? ` (${check.emitted}/${users.length} emitted)\n` : '\n');
  const logLines = red.log.slice(logFrom).split('\n').filter((l) => /\[(error|warn)\]/.test(l));
  return {
    users,
    measured: {
      state,
      readyMs,
      liveKiB,
      wallMs,
      nodeRedTicks: endTicks - startTicks,
      threads: { main: endThreads.main - startThreads.main, others: endThreads.others - startThreads.others },
      imap: dovecotTicks(startDovecot, endDovecot, 'imap'),
      imapLogin: dovecotTicks(startDovecot, endDovecot, 'imap-login'),
      dovecot: dovecotTicks(startDovecot, endDovecot),
      connections,
      sessions,
      rss,
      dovecotByName: dovecotTicksByName(startDovecot, endDovecot),
      hwmKiB: mem.hwmKiB,
      hwmSinceStart: !hwmReset,
      loadBefore,
      loadAfter,
      check,
      logLines,
    },
  };
}

function readTicks(pid: number): number {
  const stat = readStat(pid);
  if (!stat) throw new Error(`process ${pid} (Node-RED) is gone`);
  return stat.ticks;
}

/** CPU in % of one CPU. */
const cpuPercent = (ticks: number, wallMs: number): number => (ticks / CLOCK_TICKS / (wallMs / 1000)) * 100;
const checkPassed = (r: Measured): boolean => r.check.emitted === r.state.nodes && r.check.twice === 0 && r.check.wrong === 0;
const checkText = (r: Measured): string => (r.state.nodes === 0 ? '-' : `${r.check.emitted}/${r.state.nodes} ${checkPassed(r) ? 'ok' : 'FAILED'}`);
const rssMedian = (r: Measured): number => median(r.rss);
const range = (values: number[]): string => {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? String(lo) : `${lo}–${hi}`;
};

/** What a state adds to the runtime alone: CPU in % of one CPU, RSS in KiB. */
function overReference(r: Measured, reference: Measured): { nodeRed: number; mainThread: number; dovecot: number; rssKiB: number; liveKiB: number } {
  return {
    mainThread: cpuPercent(r.threads.main, r.wallMs) - cpuPercent(reference.threads.main, reference.wallMs),
    liveKiB: r.liveKiB - reference.liveKiB,
    nodeRed: cpuPercent(r.nodeRedTicks, r.wallMs) - cpuPercent(reference.nodeRedTicks, reference.wallMs),
    dovecot: cpuPercent(r.dovecot.ticks, r.wallMs) - cpuPercent(reference.dovecot.ticks, reference.wallMs),
    rssKiB: rssMedian(r) - rssMedian(reference),
  };
}

function growthLine(what: string, small: number, large: number, unit: (v: number) => string): string {
  const linear = LARGE / SMALL;
  const ratio = large / small;
  const verdict = !(small > 0) ? 'no verdict (nothing over the reference at the small size)' : ratio <= linear * LINEAR_TOLERANCE ? 'linear or better' : 'worse than linear';
  const perNode = (v: number, n: number): string => unit(v / n);
  return `  ${what}: ${unit(small)} → ${unit(large)} over the runtime alone, ×${fmt(ratio, 2)} (linear ×${fmt(linear, 1)}); per node ${perNode(small, SMALL)} → ${perNode(large, LARGE)}: ${verdict}`;
}

async function main(): Promise<number> {
  const info = serverInfo();
  if (!(info as { smtp?: boolean }).smtp || !info.ports.smtp) throw new Error('Postfix is not running with the mail servers: idle-scale checks the nodes with an email through it');
  if (!(SMALL < LARGE)) throw new Error('--idle-small-nodes must be below --idle-nodes');
  process.stdout.write(
    `idle-scale: one Node-RED process; 0, ${SMALL} and ${LARGE} Receive Email nodes polling every ${POLL_DELAY_S} s${PUSH_NODES ? `, then ${PUSH_NODES} with push on` : ''} (each its own connection and mailbox, IMAPS), empty mailboxes; per state a ${WARMUP_MS / 1000} s warm-up once every session is up, then ${MEASURE_MS / 1000} s measured (${REFERENCE_MS / 1000} s for the reference${PUSH_NODES ? ' and push' : ''})\n`,
  );
  const startedAt = clock();
  // Set for the Node-RED process only: it inherits this process's environment when it starts.
  const nodeOptions = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `${nodeOptions ?? ''} --expose-gc`.trim();
  const red = await NodeRedProcess.start({ extraSettings: GC_SETTINGS }).finally(() => {
    if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = nodeOptions;
  });
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-bench-idle-'));
  const file = path.join(out, 'emitted.txt');
  const pid = red.pid;
  const results: Measured[] = [];
  const allUsers: string[] = [];
  try {
    if (!pid) throw new Error('Node-RED has no process id');
    for (const state of STATES) {
      const { measured, users } = await measure(red, pid, state, file);
      results.push(measured);
      allUsers.push(...users);
      if (state.nodes > 0) continue;
      // After the reference, which is the runtime just started (as a deployment's starts).
      const prewarmUsers = Array.from({ length: PREWARM.nodes }, (_, i) => uniqueUser(`bench-scale-${PREWARM.key}-${i}`));
      allUsers.push(...prewarmUsers);
      const prewarmMs = await deploy(red, pid, PREWARM, prewarmUsers, file);
      process.stdout.write(`  ${PREWARM.label}: all sessions up in ${fmt(prewarmMs / 1000, 1)} s, then ${WARMUP_MS / 1000} s\n`);
      await sleep(WARMUP_MS);
    }
    // Every node closed (its LOGOUT) before the mailboxes go.
    await red.api('POST', '/flows', { flows: [] });
  } finally {
    await red.stop();
    fs.rmSync(red.userDir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
    for (const user of allUsers) fs.rmSync(path.join(info.stateDir, 'mail', user), { recursive: true, force: true });
  }

  const [reference] = results;
  const header = [
    'state', 'nodes', 'Node-RED CPU %', 'per node over ref. %', 'Dovecot all CPU %', 'imap CPU %', 'imap-login CPU %', 'IMAPS conns', 'doveadm who',
    'VmRSS MiB (median)', 'per node over ref. KiB', 'VmHWM MiB', 'live heap MiB', 'per node over ref. KiB', 'sessions up s', 'check', 'load avg before → after',
  ];
  const body = results.map((r) => {
    const over = overReference(r, reference);
    const n = r.state.nodes;
    return [
      r.state.label,
      String(n),
      fmt(cpuPercent(r.nodeRedTicks, r.wallMs), 2),
      n > 0 ? fmt(over.nodeRed / n, 4) : '-',
      fmt(cpuPercent(r.dovecot.ticks, r.wallMs), 2),
      fmt(cpuPercent(r.imap.ticks, r.wallMs), 2),
      fmt(cpuPercent(r.imapLogin.ticks, r.wallMs), 2),
      range(r.connections),
      range(r.sessions),
      fmt(rssMedian(r) / KiB_PER_MiB, 1),
      n > 0 ? fmt(over.rssKiB / n, 0) : '-',
      fmt(r.hwmKiB / KiB_PER_MiB, 1) + (r.hwmSinceStart ? '*' : ''),
      fmt(r.liveKiB / KiB_PER_MiB, 1),
      n > 0 ? fmt(over.liveKiB / n, 0) : '-',
      n > 0 ? fmt(r.readyMs / 1000, 1) : '-',
      checkText(r),
      `${r.loadBefore} → ${r.loadAfter}`,
    ];
  });
  process.stdout.write(`\n${table(header, body, new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]))}\n\n`);

  const small = results.find((r) => r.state.key === `poll${SMALL}`);
  const large = results.find((r) => r.state.key === `poll${LARGE}`);
  if (small && large) {
    const s = overReference(small, reference);
    const l = overReference(large, reference);
    const pct = (v: number): string => `${fmt(v, 3)} %`;
    const kib = (v: number): string => (Math.abs(v) >= 10 * KiB_PER_MiB ? `${fmt(v / KiB_PER_MiB, 1)} MiB` : `${fmt(v, 0)} KiB`);
    // One poll of one node: the CPU over the runtime alone spread over the polls in the window.
    const pollMs = (over: number, r: Measured): number => (over / 100) * r.wallMs / (r.state.nodes * (r.wallMs / (POLL_DELAY_S * 1000)));
    process.stdout.write(
      [
        `Scale, polling ${LARGE} against ${SMALL} (within ×${LINEAR_TOLERANCE} of linear counts as linear):`,
        growthLine('Node-RED CPU', s.nodeRed, l.nodeRed, pct),
        growthLine('  of it the main thread', s.mainThread, l.mainThread, pct),
        growthLine('Dovecot CPU', s.dovecot, l.dovecot, pct),
        growthLine('Node-RED RSS', s.rssKiB, l.rssKiB, kib),
        // The reference's RSS holds whatever V8 and malloc kept from starting up, which a full
        // collection does not give back: the slope between the two sizes does without it.
        `  Node-RED RSS per node added from ${SMALL} to ${LARGE}: ${kib((rssMedian(large) - rssMedian(small)) / (LARGE - SMALL))} (live heap ${kib((large.liveKiB - small.liveKiB) / (LARGE - SMALL))})`,
        growthLine('Node-RED live heap', s.liveKiB, l.liveKiB, kib),
        `  Node-RED CPU per poll of one node (over the runtime alone, one poll per ${POLL_DELAY_S} s): ${fmt(pollMs(s.nodeRed, small), 2)} ms at ${SMALL}, ${fmt(pollMs(l.nodeRed, large), 2)} ms at ${LARGE}; Dovecot ${fmt(pollMs(s.dovecot, small), 2)} ms and ${fmt(pollMs(l.dovecot, large), 2)} ms`,
      ].join('\n') + '\n\n',
    );
  }
  for (const r of results) {
    const parts = [
      `${fmt(r.wallMs / 1000, 1)} s measured`,
      `Node-RED's main thread ${fmt(cpuPercent(r.threads.main, r.wallMs), 2)} %, its other threads ${fmt(cpuPercent(r.threads.others, r.wallMs), 2)} %`,
      `${r.imap.processes} imap and ${r.imapLogin.processes} imap-login processes at the end`,
      `VmRSS every 5 s ${r.rss.map((kib) => fmt(kib / KiB_PER_MiB, 1)).join(', ')} MiB`,
      `Dovecot CPU by process: ${r.dovecotByName.map(([name, ticks]) => `${name} ${fmt(cpuPercent(ticks, r.wallMs), 2)} %`).join(', ') || 'none'}`,
    ];
    if (r.state.nodes > 0) {
      parts.push(
        `the email sent to each mailbox afterwards: ${r.check.emitted}/${r.state.nodes} emitted${r.check.twice ? `, ${r.check.twice} twice` : ''}${r.check.wrong ? `, ${r.check.wrong} unexpected` : ''}, the last ${fmt(r.check.lastMs)} ms after the last 250`,
      );
    }
    if (r.logLines.length > 0) parts.push(`${r.logLines.length} warn/error lines from Node-RED, e.g. ${r.logLines[0].slice(0, 200)}`);
    process.stdout.write(`${r.state.label}: ${parts.join('; ')}\n`);
  }
  process.stdout.write(
    `CPU %: of one CPU; per node over ref. = (state − no nodes) / nodes; live heap = heapUsed + external after two full collections before the window; Dovecot all = every process of the private instance alive at the end (the bench is its only user). ` +
      `${PUSH_NODES ? `Push: ${PUSH_MS / 1000} s hold one IDLE renewal per session and none of the ${PUSH_DELAY_S} s polls.` : ''}` +
      `${results.some((r) => r.hwmSinceStart) ? ' * VmHWM since the process started (clear_refs not allowed).' : ''}\n` +
      `idle-scale took ${fmt((clock() - startedAt) / 1000, 0)} s\n${environmentLine()}\n`,
  );
  const failed = results.some((r) => !checkPassed(r));
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`idle-scale failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
