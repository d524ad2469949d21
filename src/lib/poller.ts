export interface PollerOptions {
  /** Time between the end of one poll and the start of the next. */
  intervalMs: number;
  /** First wait after a failure (never below intervalMs); doubles with each further failure. */
  minBackoffMs?: number;
  /** Upper bound of the back-off after failures. */
  maxBackoffMs: number;
  /** The poll itself. Never runs twice at once. */
  run: () => Promise<void>;
  /** Called after a failed poll with the wait before the next try. */
  onFailure: (err: unknown, retryInMs: number) => void;
  /**
   * A poll that has not settled after this long is taken as hung: `onStall` should break its
   * connection so that it fails and the next one starts afresh. A safety net under the
   * libraries' own socket timeouts.
   */
  stallAfterMs?: number;
  onStall?: () => void;
  /**
   * Asked when a wake() came while a poll was running: may the next poll start as soon as this
   * one ends? No: it waits for its turn as usual.
   */
  mayRunEarly?: () => boolean;
}

/**
 * Runs a poll, waits, runs the next: the next one is scheduled only when the previous one has
 * ended, so polls never overlap however slow the server or the flow is. Failures back off
 * exponentially up to a cap and polling never stops by itself. wake() runs a poll now (push).
 */
export class Poller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private failures = 0;
  /** A wake() arrived while a poll was running. */
  private wokenWhileRunning = false;

  constructor(private readonly options: PollerOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  get active(): boolean {
    return !this.stopped;
  }

  /** Polls now instead of at the scheduled time; during a poll, right after it (if mayRunEarly). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wokenWhileRunning = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Marked as running before the poll starts, so a wake() from inside it counts as "during".
      let finished!: () => void;
      this.running = new Promise<void>((resolve) => {
        finished = resolve;
      });
      void this.tick().finally(() => {
        this.running = undefined;
        finished();
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const watchdog = this.options.stallAfterMs ? setTimeout(() => this.options.onStall?.(), this.options.stallAfterMs) : undefined;
    this.wokenWhileRunning = false;
    try {
      await this.options.run();
      this.failures = 0;
      const early = this.wokenWhileRunning && (this.options.mayRunEarly?.() ?? true);
      this.schedule(early ? 0 : this.options.intervalMs);
    } catch (err) {
      if (this.stopped) return;
      this.failures += 1;
      const wait = Math.min(this.options.maxBackoffMs, Math.max(this.options.intervalMs, this.options.minBackoffMs ?? 1000) * 2 ** (this.failures - 1));
      this.options.onFailure(err, wait);
      this.schedule(wait);
    } finally {
      clearTimeout(watchdog);
    }
  }

  /** Stops scheduling and waits for a poll in progress, at most `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const running = this.running;
    if (!running) return;
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      running.catch(() => undefined),
      new Promise<void>((resolve) => {
        timeout = setTimeout(resolve, graceMs);
      }),
    ]);
    if (timeout) clearTimeout(timeout);
  }
}
