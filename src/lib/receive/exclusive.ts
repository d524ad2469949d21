/** Runs tasks one after another, in the order they were given, whatever each one's outcome. */
export class Exclusive {
  private tail: Promise<unknown> = Promise.resolve();
  private count = 0;

  /** Tasks running or waiting; already lower by one when a task's own promise settles. */
  get pending(): number {
    return this.count;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    this.count += 1;
    const result = this.tail.then(task).finally(() => {
      this.count -= 1;
    });
    this.tail = result.catch(() => undefined);
    return result;
  }
}
