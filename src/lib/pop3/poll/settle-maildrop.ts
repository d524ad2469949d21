import { MailError, classifyError } from '../../mail-error';
import type { SettleJob, SettleOutcome } from '../../mail-source';
import type { MaildropProgress } from '../../progress-store';
import { actionName } from '../../settle/policy';
import { leaveUnsettled } from '../../settle/unsettled';
import type { Pop3Client } from '../pop3-client';

export interface DecidedMaildrop {
  outcomes: SettleOutcome[];
  /** UIDLs acknowledged with delete in this batch. */
  deletes: Set<string>;
}

/**
 * The POP3 settle stage, part one: each acknowledgement's outcome written into the progress at
 * once. POP3 can delete or leave: success delete owes a DELE; leaving (none, seen) settles it;
 * failure retry lets a later poll emit it again, up to the limit.
 */
export function decideMaildrop(scope: string, jobs: SettleJob[]): DecidedMaildrop {
  const store = jobs[0].progress;
  const progress: MaildropProgress = store.maildrop(scope) ?? { emitted: [], skipped: [] };
  const decided: DecidedMaildrop = { outcomes: [], deletes: new Set() };
  for (const job of jobs) {
    const uidl = String(job.id);
    const chosen = job.result === 'success' ? job.policy.onSuccess : job.policy.onFailure;
    leaveUnsettled(progress, uidl, chosen.kind === 'retry', job);
    if (chosen.kind === 'retry') {
      decided.outcomes.push({ action: 'retry', ok: true });
    } else if (chosen.kind === 'delete') {
      progress.owedDeletes = [...(progress.owedDeletes ?? []).filter((u) => u !== uidl), uidl];
      decided.deletes.add(uidl);
      decided.outcomes.push({ action: 'delete', ok: false });
    } else {
      progress.emitted.push(uidl);
      decided.outcomes.push({ action: actionName(chosen), ok: true });
    }
  }
  store.set(scope, progress);
  return decided;
}

/**
 * Part two: one session that deletes what this batch acknowledged with delete (and whatever
 * else is owed) and commits with QUIT. Until the server has confirmed the QUIT the deletes stay
 * owed, and every later session repeats them.
 */
export async function applyMaildropDeletes(open: () => Promise<Pop3Client>, scope: string, jobs: SettleJob[], decided: DecidedMaildrop): Promise<SettleOutcome[]> {
  const { outcomes, deletes } = decided;
  if (deletes.size === 0) return outcomes;
  const owed = new Set(jobs[0].progress.maildrop(scope)?.owedDeletes ?? []);
  let error: MailError | undefined;
  try {
    const client = await open();
    try {
      for (const m of await client.uidl()) if (owed.has(m.uidl)) await client.dele(m.number);
      await client.quit();
    } catch (err) {
      client.destroy();
      throw err;
    }
  } catch (err) {
    error = classifyError(err);
  }
  jobs.forEach((job, i) => {
    if (deletes.has(String(job.id))) outcomes[i] = error ? { action: 'delete', ok: false, error } : { action: 'delete', ok: true };
  });
  return outcomes;
}
