/**
 * Maximum Emails per Delay, over a sliding window: push may start a poll at any moment, but never
 * makes a node emit more than `maxEmails` within one `windowMs`. Polls on the regular schedule
 * start a Delay after the previous one ended, so they always find the whole allowance.
 */
export class EmissionWindow {
  private readonly times: number[] = [];

  constructor(
    /** -1 = no limit. */
    private readonly maxEmails: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  record(): void {
    if (this.maxEmails > 0) this.times.push(this.now());
  }

  /** How many emails may be emitted now: -1 for no limit, else 0 or more. */
  allowance(): number {
    if (this.maxEmails <= 0) return -1;
    const since = this.now() - this.windowMs;
    while (this.times.length > 0 && this.times[0] <= since) this.times.shift();
    return Math.max(0, this.maxEmails - this.times.length);
  }
}
