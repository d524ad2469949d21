// Loaded into the Node-RED process under test through its settings file
// (functionGlobalContext.mailwireBench), and called by the bench flow's function nodes: checks
// each email there (verdict.ts) and prints one short line per event on stdout, which the bench
// reads. Each line carries the moment it happened on the shared wall clock
// (performance.timeOrigin + performance.now()), so the pipe's delay does not count.
import { performance } from 'node:perf_hooks';
import { verdictOf } from './verdict';
import type { ReceivedAttachment, Verdict } from './verdict';

/** Starts every line the reporter prints; nothing Node-RED logs starts this way. */
export const REPORT_PREFIX = '@@mailwire-bench ';

export type Report =
  | { kind: 'email'; at: number; verdict: Verdict }
  | { kind: 'status'; at: number; fill: string; text: string }
  | { kind: 'caught'; at: number; message: string };

interface FlowMessage {
  topic?: unknown;
  payload?: unknown;
  attachments?: ReceivedAttachment[];
  status?: { fill?: string; text?: string };
  error?: { message?: string };
}

const now = (): number => performance.timeOrigin + performance.now();

/** Lines not written yet: one write per 50 ms, not one per email (the bare loops write nothing per email either). */
let pending: string[] = [];
let flushTimer: NodeJS.Timeout | undefined;

function flush(): void {
  flushTimer = undefined;
  const text = pending.join('');
  pending = [];
  process.stdout.write(text);
}

function print(report: Report): void {
  // Escapes keep the line ASCII, so a chunk boundary can never split a character.
  const line = JSON.stringify(report).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  pending.push(`${REPORT_PREFIX}${line}\n`);
  // Each line carries its own moment, so writing it a little later changes no figure.
  flushTimer ??= setTimeout(flush, 50);
}

export function email(msg: FlowMessage): void {
  print({ kind: 'email', at: now(), verdict: verdictOf(msg.topic, msg.payload, msg.attachments) });
}

export function status(msg: FlowMessage): void {
  print({ kind: 'status', at: now(), fill: msg.status?.fill ?? '', text: String(msg.status?.text ?? '') });
}

export function caught(msg: FlowMessage): void {
  print({ kind: 'caught', at: now(), message: String(msg.error?.message ?? 'error') });
}
