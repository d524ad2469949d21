import { isTemporary } from '../mail-error';
import type { FailureCode, MailError } from '../mail-error';

/** A temporary failure (the mailbox in use by another client) becomes an error once it lasts this long. */
export const TEMPORARY_GRACE_MS = 5 * 60_000;

export type FailureReport = 'error' | 'warning' | null;

/**
 * Decides how loudly a failure is reported: once per streak of the same failure, so a Catch node
 * hears of it without a flood; a temporary one only as a warning until it has lasted long enough
 * to need a person.
 */
export class FailureStreak {
  private code: FailureCode | undefined;
  private since = 0;
  private escalated = false;

  constructor(private readonly now: () => number = Date.now) {}

  next(error: MailError): FailureReport {
    const temporary = isTemporary(error.code);
    if (error.code !== this.code) {
      this.code = error.code;
      this.since = this.now();
      this.escalated = false;
      return temporary ? 'warning' : 'error';
    }
    if (temporary && !this.escalated && this.now() - this.since >= TEMPORARY_GRACE_MS) {
      this.escalated = true;
      return 'error';
    }
    return null;
  }

  clear(): void {
    this.code = undefined;
    this.escalated = false;
  }
}
