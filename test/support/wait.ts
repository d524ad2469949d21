// Waiting in tests: for a while, for a condition, or for a promise with a time limit. Tests wait on
// conditions rather than on bare timers wherever there is something to wait for.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What a wait is for; a function is asked only when the wait times out (to show the state then). */
export type What = string | (() => string);

function timedOut(ms: number, what: What): Error {
  return new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
}

/**
 * Waits until `predicate` holds (it may be async), checking every `everyMs`; fails with `what` after
 * `ms`. An exception from the predicate ends the wait with that exception.
 */
export async function until(predicate: () => boolean | Promise<boolean>, ms: number, what: What, everyMs = 25): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw timedOut(ms, what);
    await sleep(everyMs);
  }
}

/** `promise`, or a failure naming `what` after `ms` (for trigger.fired and the like, which may never settle). */
export async function within<T>(promise: Promise<T>, ms: number, what: What): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timedOut(ms, what)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
