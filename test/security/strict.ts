// Makes a test file fail on any uncaughtException or unhandledRejection in the test process: the
// handlers record them, and an afterEach asserts that none happened during the test that just ran.
// (Our own small helper: test/support/strict-process.ts did not exist when this folder was written.)
import assert from 'node:assert/strict';
import { afterEach } from 'node:test';

const problems: string[] = [];
let installed = false;

function describeProblem(kind: string, err: unknown): string {
  return `${kind}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`;
}

/** Call once at the top of a test file. */
export function failOnUncaught(): void {
  if (!installed) {
    installed = true;
    process.on('uncaughtException', (err) => problems.push(describeProblem('uncaughtException', err)));
    process.on('unhandledRejection', (reason) => problems.push(describeProblem('unhandledRejection', reason)));
  }
  afterEach(async () => {
    // Let rejections of the test's last promises surface (they are reported after a microtask turn).
    await new Promise((resolve) => setImmediate(resolve));
    const seen = problems.splice(0);
    assert.deepEqual(seen, [], `uncaught errors in the test process:\n${seen.join('\n')}`);
  });
}
