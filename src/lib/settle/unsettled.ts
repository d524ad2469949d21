import type { SettleJob } from '../mail-source';
import { MAX_EMITS } from './policy';

/** The part of a node's progress that tracks emails emitted and not settled (IMAP UIDs, POP3 UIDLs). */
interface Unsettled<T extends number | string> {
  unsettled?: Record<string, number>;
  skipped: T[];
}

/**
 * Settles an email's place in the unsettled list: it leaves the list, unless its result is a
 * retry; a retry of an email emitted MAX_EMITS times already is given up instead: reported once
 * and skipped for good, as poison mail is.
 */
export function leaveUnsettled<T extends number | string>(progress: Unsettled<T>, id: T, retry: boolean, job: SettleJob): void {
  const key = String(id);
  const emits = progress.unsettled?.[key] ?? 0;
  if (progress.unsettled) delete progress.unsettled[key];
  if (!retry) return;
  if (emits >= MAX_EMITS) {
    progress.skipped.push(id);
    job.listener.skip(job.key, 'retries', { count: String(MAX_EMITS) });
  } else {
    (progress.unsettled ??= {})[key] = emits;
  }
}
