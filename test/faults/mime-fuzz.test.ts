// Property-based fuzzing of the parse path (parseEmail: mailparser's simpleParser, then the
// mapping onto the Node-RED message). Thousands of generated and mutated messages, each of
// which must give either a message with the contract's shape or a structured failure
// `{ reason }`, never an escaped exception, each within 2 s, with memory bounded over the run.
// The seed is fixed and printed; MAILWIRE_FUZZ_SEED=<n> reproduces or varies a run.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import fc from 'fast-check';
import { isParseFailure, parseEmail } from '../../src/lib/mail-mapper';
import type { EmailMessage, ImapOrigin, ParseFailure, Pop3Origin } from '../../src/lib/mail-mapper';
import { SEEDS, headerMessage, mutatedMessage, randomMessage, treeMessage } from './mime/generators';
import { MiB, collectGarbage, deltaMib, mib, settle } from './mime/memory';
import type { Sample } from './mime/memory';
import { strictProcess } from '../support/strict-process';

// Any uncaughtException / unhandledRejection fails the test during which it happened.
strictProcess();

const SEED = Number(process.env.MAILWIRE_FUZZ_SEED ?? 20251126);
/** The guarantee: every message is parsed (or refused) within this. */
const PARSE_BOUND_MS = 2000;
/** A parse still pending after this is taken as hung, so the test fails instead of stalling. */
const HANG_MS = 10_000;
const RSS_BOUND = 200 * MiB;
const GC_EVERY = 25;

const RUNS = { headers: 600, trees: 600, random: 400, mutations: 800 };

const imapOrigin: ImapOrigin = { folder: 'INBOX', uid: 7, uidValidity: '1234', messageId: undefined, connection: 'conn', key: 'conn/INBOX/1234/7' };
const pop3Origin: Pop3Origin = { uidl: 'UIDL-1', messageId: undefined, connection: 'conn', key: 'conn/UIDL-1' };

interface Stats {
  cases: number;
  messages: number;
  failures: number;
  reasons: Map<string, number>;
  maxMs: number;
  maxBytes: number;
  slowest: string;
  peakRss: number;
}

const stats: Stats = { cases: 0, messages: 0, failures: 0, reasons: new Map(), maxMs: 0, maxBytes: 0, slowest: '', peakRss: 0 };
let baseline: Sample;

/** The output message of SPEC "The flow-file contract", or a structured failure. */
function assertContract(result: EmailMessage | ParseFailure, origin: ImapOrigin | Pop3Origin): void {
  assert.ok(result !== null && typeof result === 'object', 'an object');
  if (isParseFailure(result)) {
    assert.deepEqual(Object.keys(result), ['reason']);
    assert.equal(typeof result.reason, 'string');
    assert.ok(result.reason.length > 0, 'a reason that says something');
    return;
  }
  for (const field of ['payload', 'topic', 'from', 'to', 'cc'] as const) assert.equal(typeof result[field], 'string', field);
  assert.ok(result.date === undefined || result.date instanceof Date, 'date');
  assert.ok(result.html === undefined || typeof result.html === 'string', 'html');
  assert.ok(result.headers !== null && typeof result.headers === 'object' && !Array.isArray(result.headers), 'headers object');
  for (const name of Object.keys(result.headers)) assert.equal(name, name.toLowerCase(), `header name ${JSON.stringify(name)} lower-case`);
  assert.ok(Array.isArray(result.attachments), 'attachments array');
  for (const a of result.attachments) {
    assert.ok(a.filename === undefined || typeof a.filename === 'string', 'attachment filename');
    assert.equal(typeof a.contentType, 'string', 'attachment contentType');
    assert.ok(Buffer.isBuffer(a.content), 'attachment content is a Buffer');
    assert.ok(Number.isInteger(a.size) && a.size >= 0, 'attachment size');
    assert.equal(a.size, a.content.length, 'attachment size matches its content');
    assert.deepEqual(Object.keys(a).sort(), ['content', 'contentType', 'filename', 'size']);
  }
  assert.ok(result.email.messageId === undefined || typeof result.email.messageId === 'string', 'messageId');
  assert.deepEqual(result.email, { ...origin, messageId: result.email.messageId });
}

/** Where failing inputs are saved (at most a few, shrinking tries many), to replay by hand. */
let saved = 0;
function saveFailing(raw: Buffer, kind: string): string {
  if (saved >= 5) return '(not saved: enough saved already)';
  saved += 1;
  const file = path.join(os.tmpdir(), `mailwire-fuzz-${SEED}-${kind}-${createHash('sha256').update(raw).digest('hex').slice(0, 12)}.eml`);
  fs.writeFileSync(file, raw);
  return file;
}

async function parseTimed(raw: Buffer, origin: ImapOrigin | Pop3Origin): Promise<{ result: EmailMessage | ParseFailure; ms: number }> {
  let timer: NodeJS.Timeout | undefined;
  const started = performance.now();
  try {
    const result = await Promise.race([
      parseEmail(raw, origin),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`parseEmail still pending after ${HANG_MS} ms`)), HANG_MS);
      }),
    ]);
    return { result, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** One case: parse, time it, check the shape; any failure goes to fast-check with the seed. */
async function check(raw: Buffer, kind: string): Promise<void> {
  const origin = stats.cases % 2 === 0 ? imapOrigin : pop3Origin;
  // V8 lets garbage pile up before it collects; a collection every so often keeps RSS about
  // what is live (a leak still shows) while the peak still catches each parse's own spike.
  if (stats.cases % GC_EVERY === 0) collectGarbage();
  stats.cases += 1;
  try {
    let timed: { result: EmailMessage | ParseFailure; ms: number };
    try {
      timed = await parseTimed(raw, origin);
    } catch (err) {
      throw new Error(`parseEmail rejected: ${(err as Error).stack ?? String(err)}`);
    }
    const { result, ms } = timed;
    if (ms > stats.maxMs) {
      stats.maxMs = ms;
      stats.slowest = `${kind}, ${raw.length} bytes`;
    }
    stats.maxBytes = Math.max(stats.maxBytes, raw.length);
    stats.peakRss = Math.max(stats.peakRss, process.memoryUsage.rss());
    assert.ok(ms <= PARSE_BOUND_MS, `parse took ${ms.toFixed(0)} ms`);
    assertContract(result, origin);
    if (isParseFailure(result)) {
      stats.failures += 1;
      // Reasons without the parts that vary (numbers), so the tally stays short.
      const reason = result.reason.replace(/\d+/g, 'N').slice(0, 80);
      stats.reasons.set(reason, (stats.reasons.get(reason) ?? 0) + 1);
    } else {
      stats.messages += 1;
    }
  } catch (err) {
    const where = `seed ${SEED}, ${kind}, ${raw.length} bytes, input saved as ${saveFailing(raw, kind)}`;
    throw new Error(`${(err as Error).message} (${where})`, { cause: err });
  }
}

/** Inputs shown short in fast-check's report (a counterexample can be megabytes). */
function described(arbitrary: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return arbitrary.map((raw) => Object.assign(raw, {
    [fc.toStringMethod]: () => `<${raw.length} bytes: ${JSON.stringify(raw.subarray(0, 160).toString('latin1'))}${raw.length > 160 ? '…' : ''}>`,
  }));
}

async function fuzz(t: TestContext, kind: keyof typeof RUNS, arbitrary: fc.Arbitrary<Buffer>): Promise<void> {
  const before = stats.cases;
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(described(arbitrary), (raw) => check(raw, kind)),
    { seed: SEED, numRuns: RUNS[kind], verbose: 1 },
  );
  t.diagnostic(`${kind}: ${stats.cases - before} cases in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${SEED})`);
}

describe('MIME fuzzing of the parse path', () => {
  before(async () => {
    baseline = await settle(100);
  });

  it(`seeds parse to messages (seed ${SEED})`, async (t: TestContext) => {
    t.diagnostic(`fast-check seed ${SEED}; reproduce with MAILWIRE_FUZZ_SEED=${SEED}`);
    for (const [name, raw] of Object.entries(SEEDS)) {
      const result = await parseEmail(raw, imapOrigin);
      assert.ok(!isParseFailure(result), `${name}: ${JSON.stringify(result)}`);
      assertContract(result, imapOrigin);
    }
    const jp = await parseEmail(SEEDS.japanese, imapOrigin) as EmailMessage;
    assert.match(jp.topic, /日本語のメール、テスト件名/);
    assert.match(jp.payload, /日本語のメール/);
    assert.equal(jp.attachments[0].content.toString('hex'), '93fa967b8cea82cc8381815b838b81418365835883678c8f96bc');
  });

  it('random header lines: encoded words in many charsets, broken base64/qp, folding', async (t) => fuzz(t, 'headers', headerMessage));
  it('random MIME trees: depth, boundaries, missing closings, nested message/rfc822', async (t) => fuzz(t, 'trees', treeMessage));
  it('random bytes', async (t) => fuzz(t, 'random', randomMessage));
  it('mutated seeds: bit flips, truncation, duplicated/removed lines, huge header lines', async (t) => fuzz(t, 'mutations', mutatedMessage));

  it('fixed extremes: each within the bound, no escape', async (t: TestContext) => {
    const head = 'From: a@example.test\r\nTo: b@example.test\r\nSubject: extreme\r\nMIME-Version: 1.0\r\n';
    const nested = (depth: number): string => {
      let s = '';
      for (let i = 0; i < depth; i += 1) s += `Content-Type: multipart/mixed; boundary=n${i}\r\n\r\n--n${i}\r\n`;
      s += 'Content-Type: text/plain\r\n\r\ndeep\r\n';
      for (let i = depth - 1; i >= 0; i -= 1) s += `--n${i}--\r\n`;
      return s;
    };
    const parts = (n: number): string => {
      let s = 'Content-Type: multipart/mixed; boundary=p\r\n\r\n';
      for (let i = 0; i < n; i += 1) s += `--p\r\nContent-Type: text/plain\r\n\r\n${i}\r\n`;
      return `${s}--p--\r\n`;
    };
    const extremes: Record<string, () => Buffer> = {
      'header line of 4 MiB': () => Buffer.from(`X-Long: ${'a'.repeat(4 * MiB)}\r\n${head}\r\nbody`),
      'subject of 100,000 encoded words': () => Buffer.from(`${head.replace('Subject: extreme', `Subject: ${'=?UTF-8?B?5pel?= '.repeat(100000)}`)}\r\nbody`),
      '50,000 header lines': () => Buffer.from(`${'X-H: v\r\n'.repeat(50000)}${head}\r\nbody`),
      'To with 20,000 addresses': () => Buffer.from(`${head}To: ${Array.from({ length: 20000 }, (_, i) => `u${i}@example.test`).join(', ')}\r\n\r\nbody`),
      'multipart nested 400 deep': () => Buffer.from(head + nested(400)),
      '999 parts': () => Buffer.from(head + parts(999)),
      '1,001 parts': () => Buffer.from(head + parts(1001)),
      '5,000 parts': () => Buffer.from(head + parts(5000)),
      'body of 8 MiB without a line break': () => Buffer.from(`${head}Content-Type: text/plain\r\n\r\n${'x'.repeat(8 * MiB)}`),
      'base64 body of 4 MiB of "="': () => Buffer.from(`${head}Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${'='.repeat(4 * MiB)}`),
      'qp body of 4 MiB of soft breaks': () => Buffer.from(`${head}Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${'=\r\n'.repeat(1400000)}`),
      'html only, nested 5,000 deep': () => Buffer.from(`${head}Content-Type: text/html\r\n\r\n${'<div>'.repeat(5000)}x${'</div>'.repeat(5000)}`),
      'html only, 2 MiB of entities': () => Buffer.from(`${head}Content-Type: text/html\r\n\r\n<p>${'&amp;&#x1F600;&nbsp;'.repeat(100000)}</p>`),
      'message/rfc822 nested 300 deep': () => Buffer.from(head + 'Content-Type: message/rfc822\r\n\r\nSubject: in\r\n'.repeat(300) + '\r\nend'),
      'ISO-2022-JP text of 2 MiB with broken escapes': () => Buffer.concat([Buffer.from(`${head}Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n`), Buffer.alloc(2 * MiB, Buffer.from('1b24421b2842467c1b', 'hex'))]),
      'empty': () => Buffer.alloc(0),
    };
    for (const [name, make] of Object.entries(extremes)) {
      const started = performance.now();
      await check(make(), `extreme: ${name}`);
      t.diagnostic(`${name}: ${(performance.now() - started).toFixed(0)} ms`);
    }
  });

  it(`memory stays bounded over the whole run (RSS growth < ${RSS_BOUND / MiB} MiB)`, async (t: TestContext) => {
    const end = await settle(200);
    const total = Object.values(RUNS).reduce((a, b) => a + b, 0);
    t.diagnostic(`cases ${stats.cases} (property runs ${total}), messages ${stats.messages}, structured failures ${stats.failures}; max parse ${stats.maxMs.toFixed(1)} ms (${stats.slowest}); largest input ${mib(stats.maxBytes)}`);
    t.diagnostic(`rss: baseline ${mib(baseline.rss)}, peak ${deltaMib(stats.peakRss - baseline.rss)}, end ${deltaMib(end.rss - baseline.rss)}; heapUsed: baseline ${mib(baseline.heapUsed)}, end ${deltaMib(end.heapUsed - baseline.heapUsed)}`);
    for (const [reason, n] of [...stats.reasons.entries()].sort((a, b) => b[1] - a[1])) t.diagnostic(`failure reason ${n}× ${reason}`);
    assert.ok(stats.cases >= 2000, `${stats.cases} cases`);
    assert.ok(stats.peakRss - baseline.rss < RSS_BOUND, `peak RSS grew by ${mib(stats.peakRss - baseline.rss)}`);
    assert.ok(end.rss - baseline.rss < RSS_BOUND, `RSS grew by ${mib(end.rss - baseline.rss)}`);
  });
});
