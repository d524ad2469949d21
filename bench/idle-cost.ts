// Benchmark idle-50: what 50 Receive Email nodes cost while no mail comes. One real Node-RED
// process (test/support/node-red-process.ts, as the end-to-end tests start it) runs 50 nodes, each
// with its own receive connection and mailbox (50 users: Dovecot allows 10 sessions per user and
// address), IMAPS to localhost with the certificate pinned. First the process with no such node
// (the reference), then all 50 with push on (Delay 60 s), then all polling (push off, Delay 5 s,
// the default); each state is deployed, left 15 s to settle, then measured for 60 s with empty
// mailboxes:
//   - CPU share of the Node-RED process: utime + stime from /proc/<pid>/stat over wall time;
//   - CPU of the private Dovecot over the same time: its imap processes (one per session, all of
//     them the bench users' since nothing else uses this instance), its imap-login processes
//     (with IMAPS each session's TLS runs in one) and all its processes alive at the end;
//   - established connections from the Node-RED process to the IMAPS port (its own sockets),
//     sampled every 5 s, and the sessions `doveadm who` counts for the 50 users;
//   - VmRSS sampled every 5 s (lowest–highest) and VmHWM over the 60 s (reset to the RSS of the
//     moment at the start, through clear_refs).
// After each measurement one email goes to each mailbox through Postfix: every node must emit
// its email once (the bench exits 1 otherwise), so the figures are those of working nodes.
// Run with `npm run bench -- idle-50`.
//
// Options: --idle-nodes=N (50), --warmup-s=N (15), --measure-s=N (60).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeRedProcess } from '../test/support/node-red-process';
import { certificatePem, serverInfo, simpleMessage, uniqueUser } from '../test/support/servers';
import { CLOCK_TICKS, dovecotSnapshot, dovecotTicks, dovecotTicksByName, memory, readStat, resetPeak, tcpConnections } from './proc';
import type { DovecotSnapshot } from './proc';
import { checkOptions, environmentLine, fmt, loadAverage, numberOption, sleep, table } from './report';
import { SmtpSession, clock } from './smtp';

checkOptions(['idle-nodes', 'warmup-s', 'measure-s']);
const NODES = Math.floor(numberOption('idle-nodes', 50));
const WARMUP_MS = numberOption('warmup-s', 15) * 1000;
const MEASURE_MS = numberOption('measure-s', 60) * 1000;
const SAMPLE_EVERY_MS = 5000;
const KiB_PER_MiB = 1024;

interface StateSpec {
  key: string;
  label: string;
  nodes: number;
  push: boolean;
  delayS: number;
}

const STATES: StateSpec[] = [
  // What the Node-RED process costs by itself: the reference for the two states after it.
  { key: 'none', label: 'no Receive Email nodes', nodes: 0, push: false, delayS: 5 },
  { key: 'push', label: 'push on, Delay 60 s', nodes: NODES, push: true, delayS: 60 },
  { key: 'poll', label: 'push off (polling), Delay 5 s', nodes: NODES, push: false, delayS: 5 },
];

interface Measured {
  state: StateSpec;
  wallMs: number;
  nodeRedTicks: number;
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

/** 50 × (receive connection + Receive Email node), all wired to one change node (payload = subject) and one file node. */
function flows(state: StateSpec, users: string[], file: string): unknown[] {
  const info = serverInfo();
  const pem = certificatePem();
  return [
    { id: 'idle-tab', type: 'tab', label: 'idle-50' },
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
  const subject = (i: number): string => `idle-50 check ${state.key} ${i}`;
  const smtp = await SmtpSession.open(serverInfo().ports.smtp ?? 0);
  let lastAccepted = 0;
  try {
    for (const [i, user] of users.entries()) lastAccepted = (await smtp.send('sender@example.test', `${user}@example.test`, simpleMessage(subject(i)))).at;
  } finally {
    await smtp.quit();
  }
  const mine = (): string[] => lines(file).filter((l) => l.startsWith(`idle-50 check ${state.key} `));
  const deadline = clock() + 60_000;
  let allAt = 0;
  while (clock() < deadline) {
    if (new Set(mine()).size >= users.length) {
      allAt = clock();
      break;
    }
    await sleep(20);
  }
  await sleep(1500); // a second emission of any of them would show now
  const got = mine();
  const expected = new Set(users.map((_, i) => subject(i)));
  const distinct = new Set(got.filter((l) => expected.has(l)));
  return {
    emitted: distinct.size,
    twice: got.filter((l) => expected.has(l)).length - distinct.size,
    wrong: got.filter((l) => !expected.has(l)).length,
    lastMs: allAt ? allAt - lastAccepted : Number.NaN,
  };
}

async function measure(red: NodeRedProcess, pid: number, state: StateSpec, file: string): Promise<{ measured: Measured; users: string[] }> {
  const info = serverInfo();
  const users = Array.from({ length: state.nodes }, (_, i) => uniqueUser(`bench-idle-${state.key}${i}`));
  const userSet = new Set(users);
  const logFrom = red.log.length;
  const deployed = await red.api('POST', '/flows', { flows: flows(state, users, file) });
  if (deployed.status !== 200) throw new Error(`deploy failed: ${deployed.status} ${await deployed.text()}`);
  process.stdout.write(`  ${state.label}: deployed, ${WARMUP_MS / 1000} s warm-up`);
  await sleep(WARMUP_MS);

  const master = dovecotMasterPid();
  const loadBefore = loadAverage();
  const hwmReset = resetPeak(pid);
  const startedAt = clock();
  const startTicks = readTicks(pid);
  const startDovecot: DovecotSnapshot = dovecotSnapshot(master);
  const connections: number[] = [];
  const sessions: number[] = [];
  const rss: number[] = [];
  process.stdout.write(`, measuring ${MEASURE_MS / 1000} s `);
  for (let next = startedAt; next < startedAt + MEASURE_MS; next += SAMPLE_EVERY_MS) {
    await sleep(Math.max(0, next - clock()));
    connections.push(tcpConnections(pid, info.ports.imaps));
    sessions.push(sessionsOf(userSet));
    rss.push(memory(pid).rssKiB);
    process.stdout.write('.');
  }
  await sleep(Math.max(0, startedAt + MEASURE_MS - clock()));
  const endTicks = readTicks(pid);
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
      wallMs,
      nodeRedTicks: endTicks - startTicks,
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

const checkPassed = (r: Measured): boolean => r.check.emitted === r.state.nodes && r.check.twice === 0 && r.check.wrong === 0;
const checkText = (r: Measured): string => (r.state.nodes === 0 ? '-' : `${r.check.emitted}/${r.state.nodes} ${checkPassed(r) ? 'ok' : 'FAILED'}`);
const rangeMiB = (kib: number[]): string => {
  const lo = fmt(Math.min(...kib) / KiB_PER_MiB, 1);
  const hi = fmt(Math.max(...kib) / KiB_PER_MiB, 1);
  return lo === hi ? lo : `${lo}–${hi}`;
};
const share = (ticks: number, wallMs: number): string => fmt((ticks / CLOCK_TICKS / (wallMs / 1000)) * 100, 2);
const range = (values: number[]): string => {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? String(lo) : `${lo}–${hi}`;
};

async function main(): Promise<number> {
  const info = serverInfo();
  if (!(info as { smtp?: boolean }).smtp || !info.ports.smtp) throw new Error('Postfix is not running with the mail servers: idle-50 checks the nodes with an email through it');
  process.stdout.write(
    `idle-50: one Node-RED process, ${NODES} Receive Email nodes (each its own connection and mailbox, IMAPS), empty mailboxes; per state ${WARMUP_MS / 1000} s warm-up, ${MEASURE_MS / 1000} s measured\n`,
  );
  const red = await NodeRedProcess.start();
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
    }
    // Every node closed (its LOGOUT) before the mailboxes go.
    await red.api('POST', '/flows', { flows: [] });
  } finally {
    await red.stop();
    fs.rmSync(red.userDir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
    for (const user of allUsers) fs.rmSync(path.join(info.stateDir, 'mail', user), { recursive: true, force: true });
  }

  const header = [
    'state', 'nodes', 'Node-RED CPU %', 'Dovecot imap CPU %', 'imap-login CPU %', 'Dovecot all CPU %', 'IMAPS connections', 'doveadm who',
    'VmRSS MiB', 'VmHWM MiB', 'check', 'load avg before → after',
  ];
  const body = results.map((r) => [
    r.state.label,
    String(r.state.nodes),
    share(r.nodeRedTicks, r.wallMs),
    share(r.imap.ticks, r.wallMs),
    share(r.imapLogin.ticks, r.wallMs),
    share(r.dovecot.ticks, r.wallMs),
    range(r.connections),
    range(r.sessions),
    rangeMiB(r.rss),
    fmt(r.hwmKiB / KiB_PER_MiB, 1) + (r.hwmSinceStart ? '*' : ''),
    checkText(r),
    `${r.loadBefore} → ${r.loadAfter}`,
  ]);
  process.stdout.write(`\n${table(header, body, new Set([1, 2, 3, 4, 5, 6, 7, 8, 9]))}\n\n`);
  for (const r of results) {
    const parts = [
      `${fmt(r.wallMs / 1000, 1)} s measured`,
      `${r.imap.processes} imap and ${r.imapLogin.processes} imap-login processes at the end`,
      `Dovecot CPU by process: ${r.dovecotByName.map(([name, ticks]) => `${name} ${share(ticks, r.wallMs)} %`).join(', ') || 'none'}`,
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
    `CPU %: of one CPU; Dovecot all = every process of the private instance alive at the end (the bench is its only user).` +
      `${results.some((r) => r.hwmSinceStart) ? ' * VmHWM since the process started (clear_refs not allowed).' : ''}\n${environmentLine()}\n`,
  );
  const failed = results.some((r) => !checkPassed(r));
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`idle-50 failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
