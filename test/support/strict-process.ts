// Fault tests break connections on purpose; the one thing that must never follow is an error that
// escapes to the process (an 'error' event without a listener, a rejected promise nobody awaits),
// because in Node-RED that takes down every flow. Call strictProcess() once at the top level of a
// test file: every uncaughtException and unhandledRejection from then on is recorded, and the test
// during which it happened fails (in an afterEach), or, when it happened after the last test, the
// file fails (in an after hook).
import { after, afterEach, beforeEach } from 'node:test';

export interface ProcessProblem {
  kind: 'uncaughtException' | 'unhandledRejection';
  error: unknown;
  /** The test that was running, when one was. */
  test: string | undefined;
  at: number;
}

const problems: ProcessProblem[] = [];
let installed = false;
let currentTest: string | undefined;

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

function report(list: ProcessProblem[]): Error {
  const text = list.map((p) => `${p.kind}${p.test ? ` during "${p.test}"` : ''}: ${describeError(p.error)}`).join('\n');
  return new Error(`${list.length} error(s) escaped to the process:\n${text}`);
}

/** Installs the recorder and the hooks; later calls do nothing. */
export function strictProcess(): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtException', (error) => {
    problems.push({ kind: 'uncaughtException', error, test: currentTest, at: Date.now() });
  });
  process.on('unhandledRejection', (error) => {
    problems.push({ kind: 'unhandledRejection', error, test: currentTest, at: Date.now() });
  });
  beforeEach((t) => {
    currentTest = t.name;
  });
  afterEach(async () => {
    // Let rejections of the test's last promises surface (they are reported after a microtask turn).
    await new Promise((resolve) => setImmediate(resolve));
    currentTest = undefined;
    if (problems.length > 0) throw report(problems.splice(0));
  });
  after(() => {
    if (problems.length > 0) throw report(problems.splice(0));
  });
}

/** What was recorded and not yet reported, for a test that wants to assert on it itself. */
export function processProblems(): readonly ProcessProblem[] {
  return problems;
}

/** Fails now when anything was recorded (and clears the record). */
export function assertNoProcessProblems(): void {
  if (problems.length > 0) throw report(problems.splice(0));
}
