// One benchmark run (one scenario × one implementation) in a process of its own. Started by
// drain.ts with the job as JSON in argv[2]; reports back over the IPC channel and exits. A bare
// loop runs here, so this process's peak RSS is its own; our node runs in a real Node-RED process
// this one starts (node-red-drain.ts), and the figures are that process's. The settle runs keep
// our node in node-red-node-test-helper inside this process. Everything a run does not need is
// loaded lazily, so a bare run does not carry the Node-RED runtime in its memory figures.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SimpleParserOptions } from 'mailparser';
import type { Node, NodeMessage, NodeStatus } from 'node-red';
import type { NodeInitializer } from '../test/support/flows';
import type { Report } from './node-red-reporter';
import { memory, resetPeak } from './proc';
import type { ChildMessage, JobSpec, Outcome, RunResult } from './protocol';
import { verdictOf } from './verdict';
import type { ReceivedAttachment, Verdict } from './verdict';

const spec = JSON.parse(process.argv[2] ?? '{}') as JobSpec;

/** The options our node passes to simpleParser, used on the bare side too so both parse alike. */
const PARSER_OPTIONS: SimpleParserOptions = { skipImageLinks: true, skipTextToHtml: true };

// ---- measurement --------------------------------------------------------------------------

let peakHeapExternal = 0;
function sampleMemory(): void {
  const m = process.memoryUsage();
  peakHeapExternal = Math.max(peakHeapExternal, m.heapUsed + m.external);
}
const sampler = setInterval(sampleMemory, 20);

let t0 = 0;
let endedAt = 0;
const elapsed = (): number => (t0 === 0 ? 0 : (endedAt || performance.now()) - t0);

/** The process whose memory the run reports: this one, or the Node-RED process it started. */
let measuredPid = process.pid;
let rssAtStartKiB = 0;
let peakReset = false;
let startupMs: number | undefined;

// ---- checking what arrived ----------------------------------------------------------------

const isDrainLike = spec.scenario === 'drain' || spec.scenario === 'backlog' || spec.scenario === 'settle-emit' || spec.scenario === 'settle-ack';

const check = {
  count: 0,
  firstMs: undefined as number | undefined,
  problems: [] as string[],
  seen: new Set<number>(),
  problem(text: string): void {
    if (this.problems.length < 3) this.problems.push(text);
  },
  /** One received and parsed message, parsed here. */
  add(subject: string | undefined, text: string | undefined, attachments: ReceivedAttachment[]): void {
    this.record(verdictOf(subject, text, attachments), elapsed());
  },
  /** One received message, checked where it arrived (verdict.ts); `atMs` on the run's clock. */
  record(verdict: Verdict, atMs: number): void {
    this.count += 1;
    if (this.firstMs === undefined) this.firstMs = atMs;
    if (isDrainLike) {
      const index = verdict.index;
      if (index < 0 || !verdict.subjectOk) this.problem(`unexpected subject (message ${index})`);
      else if (this.seen.has(index)) this.problem(`message ${index} twice`);
      else if (!verdict.markerOk) this.problem(`message ${index}: text part lost its marker`);
      this.seen.add(index);
    } else if (spec.scenario === 'attachment' && spec.expect.attachment) {
      const want = spec.expect.attachment;
      const got = verdict.attachments.find((a) => a.filename === want.filename);
      if (!got) {
        this.problem(`attachment ${want.filename} missing (${verdict.attachments.length} attachments)`);
      } else if (got.size !== want.size || got.sha256 !== want.sha256) {
        this.problem(`attachment differs: ${got.size} bytes, sha256 ${got.sha256.slice(0, 12)}…`);
      }
    }
  },
  verified(): boolean {
    return this.problems.length === 0 && this.count === spec.expect.count;
  },
  summary(): string {
    if (this.problems.length > 0) return this.problems.join('; ');
    if (spec.scenario === 'attachment' && this.count === 1) return 'attachment intact (size + sha256)';
    if (spec.scenario !== 'idle') return `${this.count}/${spec.expect.count} distinct, bodies intact`;
    return '';
  },
};

// ---- finishing ----------------------------------------------------------------------------

interface Ending {
  outcome: Outcome;
  detail: string;
}

/** VmHWM of the measured process (see RunResult.peakRssKiB), KiB; 0 when it is gone. */
function peakRssKiB(): number {
  try {
    return memory(measuredPid).hwmKiB;
  } catch {
    return 0;
  }
}

let finished = false;
/** What finish() tidies up when not told otherwise (our node's temporary user directory). */
let standingCleanup: (() => Promise<void>) | undefined;
/** Reports once, with the peak memory as of now, then leaves `cleanup` at most 3 s and exits. */
function finish(ending: Ending, cleanup = standingCleanup): void {
  if (finished) return;
  finished = true;
  if (!endedAt) endedAt = performance.now();
  clearInterval(sampler);
  sampleMemory();
  const result: RunResult = {
    outcome: ending.outcome,
    detail: ending.detail,
    count: check.count,
    timeMs: elapsed(),
    firstMs: check.firstMs,
    verified: ending.outcome === 'ok' && check.verified(),
    rssAtStartKiB,
    peakReset,
    peakRssKiB: peakRssKiB(),
    rusageMaxRssKiB: measuredPid === process.pid ? process.resourceUsage().maxRSS : 0,
    peakHeapExternalBytes: measuredPid === process.pid ? peakHeapExternal : 0,
    startupMs,
  };
  const exit = (): void => {
    const message: ChildMessage = { type: 'result', result };
    if (process.send) process.send(message, () => process.exit(0));
    else {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
    }
  };
  if (!cleanup) {
    exit();
    return;
  }
  Promise.race([cleanup().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 3000).unref())]).finally(exit);
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown; eventName?: unknown }).code ?? (err as Error & { eventName?: unknown }).eventName;
    return `${code ? `${String(code)}: ` : ''}${err.message}`.slice(0, 200);
  }
  return String(err).slice(0, 200);
}

process.on('uncaughtException', (err) => finish({ outcome: 'failed', detail: `uncaught: ${errorText(err)}` }));
process.on('unhandledRejection', (err) => finish({ outcome: 'failed', detail: `unhandled rejection: ${errorText(err)}` }));

// Progress goes to the parent a few times a second, so it can say how far a killed run got.
let reported = -1;
let reportedPid = process.pid;
const progress = setInterval(() => {
  if ((check.count !== reported || measuredPid !== reportedPid) && process.send) {
    reported = check.count;
    reportedPid = measuredPid;
    const message: ChildMessage = { type: 'progress', count: check.count, ...(measuredPid !== process.pid ? { measuredPid } : {}) };
    process.send(message);
  }
}, 200);
progress.unref();

/**
 * Starts the clock and the overall deadline, and the memory measurement of `pid`: its VmHWM set
 * back to its RSS of this moment, so the peak afterwards is the run's.
 */
function startClock(pid = process.pid): void {
  measuredPid = pid;
  peakReset = resetPeak(pid);
  rssAtStartKiB = memory(pid).rssKiB;
  t0 = performance.now();
  setTimeout(() => finish({ outcome: 'timeout', detail: `timed out after ${Math.round(spec.timeoutMs / 1000)} s with ${check.count}/${spec.expect.count} messages` }), spec.timeoutMs).unref();
}

function done(extra = ''): Ending {
  if (check.verified()) return { outcome: 'ok', detail: [check.summary(), extra].filter(Boolean).join('; ') };
  return { outcome: 'failed', detail: [`${check.count}/${spec.expect.count} messages`, check.summary(), extra].filter(Boolean).join('; ') };
}

// ---- our node in a real Node-RED process ---------------------------------------------------

async function runNodeRed(): Promise<void> {
  const { NodeRedDrain, drainFlow } = await import('./node-red-drain');
  const red = await NodeRedDrain.start();
  startupMs = red.startupMs;
  const cleanup = (): Promise<void> => red.stop();
  standingCleanup = cleanup;
  if (!red.pid) throw new Error('Node-RED has no process id');
  const flow = drainFlow(spec);
  // The reporter stamps on the shared wall clock; this turns a stamp into this process's clock.
  const local = (at: number): number => at - performance.timeOrigin;
  let lastEmailAt = 0;
  let pollEndedAt = 0;
  let pollFailed = '';
  let lastStatus = '';
  const errors: string[] = [];
  red.onReport((report: Report) => {
    if (report.kind === 'email') {
      lastEmailAt = local(report.at);
      check.record(report.verdict, lastEmailAt - t0);
    } else if (report.kind === 'status') {
      lastStatus = report.text;
      if (report.fill === 'green' && !pollEndedAt) pollEndedAt = local(report.at);
      if (report.fill === 'red' && !pollFailed) pollFailed = report.text || 'red status';
    } else if (errors.length < 3) {
      errors.push(report.message.slice(0, 200));
    }
  });
  // Node-RED has just started: a moment for its start-up work to settle before the clock.
  await new Promise((r) => setTimeout(r, 300));
  startClock(red.pid);
  const deployStartedAt = performance.now();
  await red.deploy(flow);
  const deployMs = performance.now() - deployStartedAt;

  // The poll has ended once the status turns green; the last emails may still be on their way
  // through the function node then: allow them a moment.
  while (!pollEndedAt && !pollFailed && !finished) await new Promise((r) => setTimeout(r, 20));
  const graceUntil = performance.now() + 1000;
  while (check.count < spec.expect.count && !pollFailed && !finished && performance.now() < graceUntil) await new Promise((r) => setTimeout(r, 20));
  if (finished) return;
  endedAt = Math.max(pollEndedAt, lastEmailAt) || performance.now();

  const notes = [`Node-RED up in ${(red.startupMs / 1000).toFixed(1)} s, ${red.userDirNote()}, deploy answered in ${Math.round(deployMs)} ms`];
  if (pollFailed) {
    finish({ outcome: 'failed', detail: [pollFailed, ...errors, ...red.problems()].join('; ') }, cleanup);
  } else if (check.count < spec.expect.count && errors.some((e) => /over the limit/.test(e))) {
    const limit = spec.sizeLimitMiB ? `its Size limit of ${spec.sizeLimitMiB} MiB` : `its default Size limit of ${spec.defaultSizeLimitMiB ?? '?'} MiB`;
    finish({ outcome: 'skipped', detail: `reported as too large and not downloaded by the node (${limit}); status "${lastStatus}"` }, cleanup);
  } else {
    const limitNote = spec.sizeLimitMiB ? `Size limit set to ${spec.sizeLimitMiB} MiB (default ${spec.defaultSizeLimitMiB ?? '?'} MiB)` : '';
    finish(done([limitNote, ...errors, ...notes].filter(Boolean).join('; ')), cleanup);
  }
}

// ---- our node in node-red-node-test-helper (settle runs) -----------------------------------

type FlowsModule = typeof import('../test/support/flows');
type Flow = Parameters<FlowsModule['helper']['load']>[1];

interface EmailMsg extends NodeMessage {
  topic?: string;
  /** Set by Email Done once it has settled the email. */
  email?: { key?: string; settled?: { result?: string; action?: string; ok?: boolean } };
  payload?: unknown;
  attachments?: ReceivedAttachment[];
}

interface SpiedMethod {
  /** Set by sinon on its spies: the method it wraps. */
  wrappedMethod?: unknown;
}

/**
 * node-red-node-test-helper wraps Node.prototype.send in a sinon spy, which keeps every message
 * ever sent (attachments included) for assertions. Real Node-RED has no such spy; the node gets
 * the unwrapped send as an own property so the spy's memory does not count against it.
 */
function bypassSendSpy(node: Node): boolean {
  const spied = (node as unknown as { send: SpiedMethod }).send;
  if (typeof spied.wrappedMethod !== 'function') return false;
  Object.defineProperty(node, 'send', { value: spied.wrappedMethod, configurable: true, writable: true });
  return true;
}

async function runNodeHelper(): Promise<void> {
  const flows: FlowsModule = await import('../test/support/flows');
  const { repoRoot } = await import('../test/support/servers');
  const { helper } = flows;
  const userDir = flows.useTempUserDir();
  const cleanup = async (): Promise<void> => {
    await helper.unload().catch(() => undefined);
    await flows.stopServer().catch(() => undefined);
    fs.rmSync(userDir, { recursive: true, force: true });
  };
  standingCleanup = cleanup;
  await flows.startServer();

  // The limit that applies when the node's Size limit setting is left empty.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DEFAULT_SIZE_LIMIT } = require(path.join(repoRoot, 'dist', 'lib', 'mail-source.js')) as { DEFAULT_SIZE_LIMIT: number };

  // settle-ack: Receive Email (settle ack, move to Done after success) -> Email Done (success) ->
  // the helper node, which therefore sees each email once the server has confirmed its move.
  const ack = spec.scenario === 'settle-ack';
  const settle = ack
    ? { settle: 'ack', onSuccess: 'move', successFolder: 'Done' }
    : spec.scenario === 'settle-emit' ? { settle: 'emit' } : {};
  const security = spec.security ?? 'tls';
  const nodes = [
    flows.nodeModule('receive-connection'), flows.nodeModule('receive-email'), flows.coreNode('common/25-catch.js'),
    ...(ack ? [flows.nodeModule('email-done')] : []),
  ] as unknown as NodeInitializer;
  const flow = [
    { id: 'tab', type: 'tab' },
    { id: 'conn', type: 'mailwire-receive-connection', name: 'bench', protocol: spec.protocol, host: spec.host, port: spec.port, security, certificate: security === 'tls' ? spec.certificatePem : '' },
    {
      id: 'recv', type: 'mailwire-receive-email', z: 'tab', connection: 'conn', folder: '', unseenOnly: true, delay: 1, delayUnit: 'h', maxEmails: -1,
      ...(spec.sizeLimitMiB ? { sizeLimit: spec.sizeLimitMiB } : {}),
      ...settle,
      wires: [[ack ? 'done' : 'out']],
    },
    ...(ack ? [{ id: 'done', type: 'mailwire-email-done', z: 'tab', name: '', result: 'success', wires: [['out']] }] : []),
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ] as unknown as Flow;

  let lastMessageAt = 0;
  let pollEndedAt = 0;
  let pollFailed = '';
  const errors: string[] = [];

  startClock();
  await helper.load(nodes, flow, { conn: { user: spec.user, password: spec.password } });
  const recv = helper.getNode('recv');
  const bypassed = bypassSendSpy(recv);
  // The poll is started by a timer and needs a TLS handshake and a login before it reports
  // anything, so hooking status and the output here, after load, misses nothing.
  const originalStatus = recv.status.bind(recv);
  recv.status = (status: string | NodeStatus): void => {
    originalStatus(status);
    if (typeof status !== 'object') return;
    if (status.fill === 'green' && !pollEndedAt) pollEndedAt = performance.now();
    if (status.fill === 'red' && !pollFailed) pollFailed = String(status.text ?? 'red status');
  };
  let notConfirmed = 0;
  helper.getNode('out').on('input', (msg: EmailMsg) => {
    lastMessageAt = performance.now();
    if (ack && msg.email?.settled?.ok !== true) notConfirmed += 1;
    check.add(msg.topic, typeof msg.payload === 'string' ? msg.payload : undefined, msg.attachments ?? []);
  });
  // Node-RED replaces msg.error with { message, source }: the node's message (an i18n key under
  // the test helper) is what is left to tell a skip from a failure.
  helper.getNode('caught').on('input', (msg: NodeMessage & { error?: { message?: string } }) => {
    errors.push(msg.error?.message ?? 'error');
  });

  // The poll has ended once the status turns green; Node-RED hands messages on asynchronously, so
  // the last ones may still be on their way then: allow them a moment.
  while (!pollEndedAt && !pollFailed && !finished) await new Promise((r) => setTimeout(r, 2));
  if (ack) {
    // With ack the poll ends (green) once everything is emitted; the last email is settled when
    // Email Done passes it on, after the server confirmed its MOVE. The overall deadline applies.
    while (check.count < spec.expect.count && !pollFailed && !finished) await new Promise((r) => setTimeout(r, 2));
  }
  const graceUntil = performance.now() + 1000;
  while (check.count < spec.expect.count && !pollFailed && performance.now() < graceUntil) await new Promise((r) => setTimeout(r, 2));
  if (finished) return;
  endedAt = Math.max(pollEndedAt, lastMessageAt) || performance.now();
  if (notConfirmed > 0) check.problem(`${notConfirmed} emails passed on by Email Done without the server's confirmation (settled.ok)`);

  const spyNote = bypassed ? '' : 'test-helper send spy still active';
  if (pollFailed) {
    finish({ outcome: 'failed', detail: [pollFailed, ...errors].join('; ') }, cleanup);
  } else if (check.count < spec.expect.count && errors.some((e) => /too-large/.test(e))) {
    const limit = spec.sizeLimitMiB ? `its Size limit of ${spec.sizeLimitMiB} MiB` : `its default Size limit of ${DEFAULT_SIZE_LIMIT / (1024 * 1024)} MiB`;
    finish({ outcome: 'skipped', detail: `reported as too large and not downloaded by the node (${limit})` }, cleanup);
  } else {
    const limitNote = spec.sizeLimitMiB ? `Size limit set to ${spec.sizeLimitMiB} MiB (default ${DEFAULT_SIZE_LIMIT / (1024 * 1024)} MiB)` : '';
    const ending = done([limitNote, spyNote, ...errors].filter(Boolean).join('; '));
    finish(ending, cleanup);
  }
}

// ---- imapflow + mailparser ----------------------------------------------------------------

async function runImapflow(): Promise<void> {
  const { ImapFlow } = await import('imapflow');
  const { simpleParser } = await import('mailparser');
  let socketError = '';
  startClock();
  const plain = spec.security === 'none';
  const client = new ImapFlow({
    host: spec.host,
    port: spec.port,
    secure: !plain,
    ...(plain ? { doSTARTTLS: false } : { tls: { ca: spec.certificatePem, servername: 'localhost' } }),
    auth: { user: spec.user, pass: spec.password },
    logger: false,
  });
  client.on('error', (err: unknown) => {
    socketError = errorText(err);
  });
  await client.connect();
  await client.mailboxOpen('INBOX');
  const uids = (await client.search({ seen: false }, { uid: true })) || [];
  if (uids.length > 0) {
    for await (const message of client.fetch(uids, { uid: true, source: true }, { uid: true })) {
      const parsed = await simpleParser(message.source ?? Buffer.alloc(0), PARSER_OPTIONS);
      check.add(parsed.subject, parsed.text, parsed.attachments);
    }
    // settle-ack: the whole batch moved into Done in one UID MOVE once parsed (the bare
    // equivalent of "handled, then moved"); otherwise marked \Seen in one UID STORE.
    if (spec.scenario === 'settle-ack') await client.messageMove(uids, 'Done', { uid: true });
    else await client.messageFlagsAdd(uids, ['\\Seen'], { uid: true });
  }
  await client.logout();
  endedAt = performance.now();
  finish(done(socketError));
}

// ---- node-pop3 + mailparser ---------------------------------------------------------------

async function runNodePop3(): Promise<void> {
  const { default: Pop3Command } = await import('node-pop3');
  const { simpleParser } = await import('mailparser');
  let lateError = '';
  let due = '';
  let lastByteAt = 0;
  const watched = new WeakSet<object>();
  /** The ends of the last few chunks read, to show where a stalled reply stopped. */
  const tails: string[] = [];

  startClock();
  lastByteAt = performance.now();
  const pop3 = new Pop3Command({
    host: spec.host,
    port: spec.port,
    user: spec.user,
    password: spec.password,
    tls: true,
    // node-pop3 hands `servername` to tls.connect itself; its tlsOptions type has no such field.
    servername: 'localhost',
    tlsOptions: { ca: spec.certificatePem },
  });
  // node-pop3 emits 'error' while a RETR streams with no listener of its own; without this one
  // the process would die instead of the run reporting it.
  pop3.on('error', (err: unknown) => {
    lateError = errorText(err);
  });
  // Stall watch: a reply is due and not one byte has come for stallMs.
  const watch = setInterval(() => {
    const socket = pop3._socket;
    if (socket && !watched.has(socket)) {
      watched.add(socket);
      // node-pop3 ignores a connection that ends while a reply streams: say so instead of "stalled".
      socket.once('close', () => {
        if (!due || finished) return;
        endedAt = performance.now();
        finish({ outcome: 'failed', detail: `connection closed by the server while ${due} was due, after ${check.count} messages (node-pop3 would have waited for ever)${lateError ? `; ${lateError}` : ''}` });
      });
      socket.on('data', (chunk: Buffer) => {
        lastByteAt = performance.now();
        tails.push(`${chunk.length} B …${JSON.stringify(chunk.subarray(-6).toString('latin1'))}`);
        if (tails.length > 3) tails.shift();
      });
    }
    const silentMs = performance.now() - lastByteAt;
    if (due && silentMs > spec.stallMs) {
      endedAt = lastByteAt;
      finish({
        outcome: 'stalled',
        detail: `stalled after ${check.count} messages: ${due} got no byte for ${Math.round(silentMs / 1000)} s; ` +
          `last chunks read: ${tails.join(', ')}${lateError ? `; ${lateError}` : ''}`,
      });
    }
  }, 100);
  watch.unref();

  const command = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
    due = label;
    lastByteAt = performance.now();
    try {
      return await run();
    } finally {
      due = '';
    }
  };

  const listing: Array<string[] | string> = await command('UIDL', () => pop3.UIDL());
  for (const row of listing) {
    const number = Number(Array.isArray(row) ? row[0] : row);
    const raw = await command(`RETR ${number}`, () => pop3.RETR(number));
    if (finished) return;
    const parsed = await simpleParser(raw, PARSER_OPTIONS);
    check.add(parsed.subject, parsed.text, parsed.attachments);
  }
  await command('QUIT', () => pop3.QUIT());
  clearInterval(watch);
  endedAt = performance.now();
  finish(done(lateError));
}

// ---- our own RETR loop + mailparser -------------------------------------------------------

async function runPop3Bare(): Promise<void> {
  const { Pop3Client } = await import('./pop3-bare');
  const { simpleParser } = await import('mailparser');
  startClock();
  const pop3 = await Pop3Client.connect({ host: spec.host, port: spec.port, servername: 'localhost', ca: spec.certificatePem });
  await pop3.login(spec.user, spec.password);
  for (const { number } of await pop3.uidl()) {
    const raw = await pop3.retr(number);
    const parsed = await simpleParser(raw, PARSER_OPTIONS);
    check.add(parsed.subject, parsed.text, parsed.attachments);
  }
  await pop3.quit();
  endedAt = performance.now();
  finish(done());
}

// ---- main ---------------------------------------------------------------------------------

const runs: Record<JobSpec['implementation'], () => Promise<void>> = {
  node: spec.scenario === 'settle-emit' || spec.scenario === 'settle-ack' ? runNodeHelper : runNodeRed,
  imapflow: runImapflow,
  'pop3-bare': runPop3Bare,
  'node-pop3': runNodePop3,
};

runs[spec.implementation]().catch((err: unknown) => {
  endedAt = performance.now();
  finish({ outcome: 'failed', detail: errorText(err) });
});
