// Send benchmark (run id `send`): bulk sending through one Send Email node in a real Node-RED
// process, started the way a user starts it (red.js, a settings file, our package in the user
// directory; test/support/node-red-process.ts), next to nodemailer alone with the same pool size,
// against the private Postfix (submissions: implicit TLS + AUTH, the certificate pinned).
//
// Each round deploys a fresh flow (so the connection's pool starts cold, as nodemailer's does):
// inject -> function (emits the N messages) -> Send Email -> function (checks msg.sent), and a
// Catch node for failures. The clock runs inside Node-RED, from the moment the function node
// starts emitting until the last result (msg out or Catch), through a small recorder the settings
// file puts in functionGlobalContext; nodemailer is timed from its first sendMail() to the last
// one settled. Rounds take turns (ours first, then nodemailer first, ...), each to a new mailbox.
//
// Every run is checked: each of our messages came out with the server's 250 and one accepted
// recipient, none reached Catch, and the recipient's mailbox holds exactly the N subjects, each
// once (IMAP on the plain port, after the run). Then one run of the soak count through our node
// with the Node-RED process's RSS sampled: start, peak, end, and after 1,000 vs after all sent.
//
// Exit code 1 when our node failed a message or mail went missing; nodemailer's own failures are
// reported, not counted against us. MAILWIRE_SEND_COUNT (500), MAILWIRE_SEND_ROUNDS (3),
// MAILWIRE_SEND_SOAK_COUNT (5000; 0 leaves the soak out).
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { DEFAULT_SENDER_OPTIONS } from '../src/lib/smtp/smtp-sender';
import { NodeRedProcess } from '../test/support/node-red-process';
import { adminClient, certificatePem, serverInfo, uniqueUser } from '../test/support/servers';
import { CLOCK_TICKS, memory, readStat } from './proc';
import { environmentLine, fmt, loadAverage, median, sleep, table } from './report';

const COUNT = Number(process.env.MAILWIRE_SEND_COUNT ?? 500);
const ROUNDS = Number(process.env.MAILWIRE_SEND_ROUNDS ?? 3);
const SOAK_COUNT = Number(process.env.MAILWIRE_SEND_SOAK_COUNT ?? 5000);
const POOL = DEFAULT_SENDER_OPTIONS.maxConnections;
const FROM = 'bench@example.test';
/** Where the recorder's lines start in Node-RED's output. */
const MARK = 'MAILWIRE-SEND-BENCH ';

/** One subject per message, so the mailbox check can see a duplicate or a gap. */
const subjectOf = (run: string, i: number): string => `${run} ${i}`;
const textOf = (i: number): string => `Message ${i} of the send benchmark.\n`.repeat(20);

// The recorder lives in the settings file: function nodes reach it through global.get(), and it
// writes one line per event to stdout, where the bench reads Node-RED's output. Memory readings
// are taken in the process itself at each 1,000 results.
const RECORDER = `functionGlobalContext: {
    sendBench: (() => {
      let run;
      const line = (o) => process.stdout.write(${JSON.stringify(MARK)} + JSON.stringify(o) + '\\n');
      const settled = () => {
        const n = run.ok + run.bad + run.failed;
        if (n % 1000 === 0) line({ kind: 'progress', run: run.id, n, rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed });
        if (n === run.count) line({ kind: 'end', run: run.id, ms: performance.now() - run.started, ok: run.ok, bad: run.bad, failed: run.failed, errors: run.errors });
      };
      return {
        start(id, count) { run = { id, count, ok: 0, bad: 0, failed: 0, errors: [], started: performance.now() }; },
        result(good, why) { if (good) run.ok += 1; else { run.bad += 1; if (run.errors.length < 5) run.errors.push(String(why)); } settled(); },
        failure(text) { run.failed += 1; if (run.errors.length < 5) run.errors.push(String(text)); settled(); },
      };
    })(),
  },`;

const EMIT = `const bench = global.get('sendBench');
const { run, count } = msg.payload;
const out = [];
for (let i = 0; i < count; i += 1) out.push({ subject: run + ' ' + i, payload: ('Message ' + i + ' of the send benchmark.\\n').repeat(20) });
bench.start(run, count);
return [out];`;

const CHECK = `const s = msg.sent;
const good = !!s && /^250[ -]/.test(s.response) && s.accepted.length === 1 && s.rejected.length === 0 && typeof s.messageId === 'string';
global.get('sendBench').result(good, good ? '' : 'unexpected msg.sent ' + JSON.stringify(s));
return null;`;

const FAILED = `global.get('sendBench').failure(msg.error && msg.error.message);
return null;`;

function flow(run: string, count: number, rcpt: string): unknown[] {
  const info = serverInfo();
  return [
    { id: 'bench-tab', type: 'tab', label: 'send bench' },
    {
      id: 'bench-conn',
      type: 'mailwire-send-connection',
      description: '',
      host: 'localhost',
      port: info.ports.submissions,
      security: 'tls',
      certificate: certificatePem(),
      credentials: { user: 'bench', password: info.password },
    },
    { id: 'bench-go', type: 'inject', z: 'bench-tab', props: [{ p: 'payload' }], payload: JSON.stringify({ run, count }), payloadType: 'json', repeat: '', once: false, wires: [['bench-emit']] },
    { id: 'bench-emit', type: 'function', z: 'bench-tab', func: EMIT, outputs: 1, wires: [['bench-send']] },
    { id: 'bench-send', type: 'mailwire-send-email', z: 'bench-tab', connection: 'bench-conn', from: FROM, to: `${rcpt}@example.test`, cc: '', bcc: '', subject: '', text: '', priority: 'consumed', wires: [['bench-check']] },
    { id: 'bench-check', type: 'function', z: 'bench-tab', func: CHECK, outputs: 1, wires: [[]] },
    { id: 'bench-catch', type: 'catch', z: 'bench-tab', scope: ['bench-send'], uncaught: false, wires: [['bench-failed']] },
    { id: 'bench-failed', type: 'function', z: 'bench-tab', func: FAILED, outputs: 1, wires: [[]] },
  ];
}

interface RunResult {
  ms: number;
  /** CPU time of the process that sent (Node-RED, or this one for nodemailer) during the run. */
  cpuMs: number;
  /** Our node: messages without a good msg.sent, or caught; nodemailer: rejected sendMail(). */
  failed: number;
  errors: string[];
  delivered: string;
  lost: boolean;
}

interface RecorderLine {
  kind: 'progress' | 'end';
  run: string;
  n?: number;
  rss?: number;
  heapUsed?: number;
  ms?: number;
  ok?: number;
  bad?: number;
  failed?: number;
  errors?: string[];
}

function recorderLines(red: NodeRedProcess, run: string): RecorderLine[] {
  return red.log
    .split('\n')
    .filter((l) => l.startsWith(MARK))
    .map((l) => JSON.parse(l.slice(MARK.length)) as RecorderLine)
    .filter((l) => l.run === run);
}

/**
 * Waits until the mailbox holds `count` messages, then checks that it holds exactly the subjects
 * sent, each once. Postfix hands mail to Dovecot on its own time, so this is after the clock.
 */
async function checkMailbox(user: string, run: string, count: number): Promise<{ text: string; ok: boolean }> {
  const client = await adminClient(user);
  try {
    const deadline = Date.now() + 120000;
    let messages = 0;
    for (;;) {
      const status = await client.status('INBOX', { messages: true });
      messages = status ? (status.messages ?? 0) : 0;
      if (messages >= count || Date.now() > deadline) break;
      await sleep(200);
    }
    // A moment more, so a duplicate still in Postfix's queue would show.
    await sleep(500);
    const lock = await client.getMailboxLock('INBOX', { readOnly: true });
    const seen = new Map<string, number>();
    try {
      if (typeof client.mailbox === 'object' && client.mailbox.exists > 0) {
        for await (const m of client.fetch('1:*', { envelope: true })) seen.set(m.envelope?.subject ?? '', (seen.get(m.envelope?.subject ?? '') ?? 0) + 1);
      }
    } finally {
      lock.release();
    }
    let missing = 0;
    for (let i = 0; i < count; i += 1) if (!seen.has(subjectOf(run, i))) missing += 1;
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    const duplicates = total - seen.size;
    const ok = missing === 0 && duplicates === 0 && total === count;
    return { ok, text: ok ? `${count}/${count}` : `${total} in mailbox, ${missing} missing, ${duplicates} duplicated` };
  } finally {
    await client.logout().catch(() => client.close());
    fs.rmSync(path.join(serverInfo().stateDir, 'mail', user), { recursive: true, force: true });
  }
}

async function deploy(red: NodeRedProcess, body: unknown[]): Promise<void> {
  const res = await red.api('POST', '/flows', { flows: body });
  if (res.status !== 200) throw new Error(`deploy failed: ${res.status} ${await res.text()}`);
}

async function ourNode(red: NodeRedProcess, run: string, count: number, onProgress?: (line: RecorderLine) => void): Promise<RunResult> {
  const user = uniqueUser('send-node');
  await deploy(red, flow(run, count, user));
  const pid = red.pid ?? 0;
  const ticksBefore = readStat(pid)?.ticks ?? Number.NaN;
  const res = await red.api('POST', '/inject/bench-go');
  if (res.status !== 200) throw new Error(`inject failed: ${res.status} ${await res.text()}`);
  const deadline = Date.now() + 300000;
  let end: RecorderLine | undefined;
  const reported = new Set<number>();
  while (!end) {
    const lines = recorderLines(red, run);
    for (const l of lines) if (l.kind === 'progress' && l.n !== undefined && !reported.has(l.n)) (reported.add(l.n), onProgress?.(l));
    end = lines.find((l) => l.kind === 'end');
    if (!end && Date.now() > deadline) throw new Error(`our node: no result for ${run} after 300 s`);
    if (!end) await sleep(20);
  }
  const cpuMs = (((readStat(pid)?.ticks ?? Number.NaN) - ticksBefore) * 1000) / CLOCK_TICKS;
  const mailbox = await checkMailbox(user, run, count);
  return { ms: end.ms ?? Number.NaN, cpuMs, failed: (end.bad ?? 0) + (end.failed ?? 0), errors: end.errors ?? [], delivered: mailbox.text, lost: !mailbox.ok };
}

async function bareNodemailer(run: string, count: number): Promise<RunResult> {
  const info = serverInfo();
  const user = uniqueUser('send-nm');
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: POOL,
    maxMessages: Infinity,
    host: 'localhost',
    port: info.ports.submissions ?? 0,
    secure: true,
    auth: { user: 'bench', pass: info.password },
    tls: { ca: certificatePem(), servername: 'localhost' },
  });
  transport.on('error', () => undefined);
  let failed = 0;
  const errors: string[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      transport.sendMail({ from: FROM, to: `${user}@example.test`, subject: subjectOf(run, i), text: textOf(i) }).catch((err: unknown) => {
        failed += 1;
        if (errors.length < 5) errors.push(String(err));
      }),
    ),
  );
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  transport.close();
  const mailbox = await checkMailbox(user, run, count);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, failed, errors, delivered: mailbox.text, lost: !mailbox.ok };
}

interface Soak {
  ms: number;
  failed: number;
  delivered: string;
  lost: boolean;
  startMiB: number;
  peakMiB: number;
  endMiB: number;
  at: Array<{ n: number; rssMiB: number; heapMiB: number }>;
}

async function soak(red: NodeRedProcess, pid: number): Promise<Soak> {
  const mib = (kib: number): number => kib / 1024;
  await deploy(red, []);
  await sleep(1000);
  const startMiB = mib(memory(pid).rssKiB);
  let peakKiB = 0;
  const sampler = setInterval(() => (peakKiB = Math.max(peakKiB, memory(pid).rssKiB)), 100);
  const at: Soak['at'] = [];
  try {
    const result = await ourNode(red, `soak-${Date.now().toString(36)}`, SOAK_COUNT, (l) => at.push({ n: l.n ?? 0, rssMiB: (l.rss ?? 0) / 1048576, heapMiB: (l.heapUsed ?? 0) / 1048576 }));
    const endMiB = mib(memory(pid).rssKiB);
    return { ms: result.ms, failed: result.failed, delivered: result.delivered, lost: result.lost, startMiB, peakMiB: mib(Math.max(peakKiB, memory(pid).rssKiB)), endMiB, at };
  } finally {
    clearInterval(sampler);
  }
}

async function main(): Promise<number> {
  const red = await NodeRedProcess.start({ extraSettings: RECORDER });
  const pid = red.pid ?? 0;
  const ours: RunResult[] = [];
  const bare: RunResult[] = [];
  let soakResult: Soak | undefined;
  const loadBefore = loadAverage();
  try {
    const stamp = Date.now().toString(36);
    for (let round = 0; round < ROUNDS; round += 1) {
      // Who goes first alternates, so a change in machine load spreads over both.
      const pair = [() => ourNode(red, `node-${stamp}-${round}`, COUNT).then((r) => ours.push(r)), () => bareNodemailer(`nm-${stamp}-${round}`, COUNT).then((r) => bare.push(r))];
      if (round % 2 === 1) pair.reverse();
      for (const step of pair) await step();
    }
    if (SOAK_COUNT > 0) soakResult = await soak(red, pid);
  } finally {
    await red.stop();
  }

  const oursMs = median(ours.map((r) => r.ms));
  const bareMs = median(bare.map((r) => r.ms));
  const row = (label: string, runs: RunResult[], ms: number): string[] => [
    label,
    String(runs.length),
    fmt(ms),
    fmt((COUNT / ms) * 1000),
    `${(ms / bareMs).toFixed(2)}x`,
    fmt(median(runs.map((r) => r.cpuMs))),
    String(runs.reduce((a, r) => a + r.failed, 0)),
    runs.every((r) => !r.lost) ? `${COUNT}/${COUNT} each run` : runs.map((r) => r.delivered).join('; '),
    runs.map((r) => fmt(r.ms)).join(' / '),
  ];
  process.stdout.write(`\nSend ${fmt(COUNT)} messages to Postfix (submissions: implicit TLS + AUTH), pool of ${POOL} connections on both sides, median of ${ROUNDS}\n`);
  process.stdout.write(
    `${table(
      ['implementation', 'runs', 'median ms', 'msg/s', 'ratio', 'CPU ms', 'failed', 'delivered (mailbox)', 'times ms'],
      [row(`mailwire Send Email node (real Node-RED, pool ${POOL})`, ours, oursMs), row(`nodemailer alone (pool ${POOL})`, bare, bareMs)],
      new Set([1, 2, 3, 4, 5, 6]),
    )}\n`,
  );
  for (const r of [...ours, ...bare]) if (r.errors.length > 0) process.stdout.write(`  errors: ${r.errors.join(' | ')}\n`);
  if (soakResult) {
    const s = soakResult;
    const first = s.at.find((a) => a.n === 1000);
    const last = s.at.find((a) => a.n === SOAK_COUNT);
    process.stdout.write(`\nSoak: ${fmt(SOAK_COUNT)} messages through our node in one burst (Node-RED process RSS; heap as the process saw it)\n`);
    process.stdout.write(
      `${table(
        ['messages', 'time ms', 'msg/s', 'failed', 'delivered', 'RSS start MiB', 'RSS peak MiB', 'RSS end MiB', 'RSS after 1,000', `RSS after ${fmt(SOAK_COUNT)}`, 'heap after 1,000', `heap after ${fmt(SOAK_COUNT)}`],
        [[fmt(SOAK_COUNT), fmt(s.ms), fmt((SOAK_COUNT / s.ms) * 1000), String(s.failed), s.delivered, fmt(s.startMiB, 1), fmt(s.peakMiB, 1), fmt(s.endMiB, 1), fmt(first?.rssMiB, 1), fmt(last?.rssMiB, 1), fmt(first?.heapMiB, 1), fmt(last?.heapMiB, 1)]],
        new Set([0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11]),
      )}\n`,
    );
    process.stdout.write(`  RSS / heap at each 1,000: ${s.at.map((a) => `${fmt(a.n)}: ${fmt(a.rssMiB, 1)} / ${fmt(a.heapMiB, 1)}`).join(', ')}\n`);
  }
  process.stdout.write(
    `ratio: median time over nodemailer's median; our time is measured inside Node-RED from the first message emitted to the last result; CPU ms: median CPU time (user + system) of the sending process during the run: Node-RED (our node, Node-RED's routing and the two function nodes) or the bench process (nodemailer alone)\n`,
  );
  process.stdout.write(`load average ${loadBefore} at the start, ${loadAverage()} at the end\n${environmentLine()}\n`);

  const oursBroken = ours.some((r) => r.failed > 0 || r.lost) || (soakResult !== undefined && (soakResult.failed > 0 || soakResult.lost));
  return oursBroken ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
