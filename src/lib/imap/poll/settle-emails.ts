import type { ImapFlow } from 'imapflow';
import { MailError, classifyError } from '../../mail-error';
import type { SettleJob, SettleOutcome } from '../../mail-source';
import type { FolderProgress } from '../../progress-store';
import { actionName } from '../../settle/policy';
import { leaveUnsettled } from '../../settle/unsettled';
import { owe, settleOwed } from './ledger';
import { folderPath } from './poll-folder';
import { selectFolder } from './select-folder';

/** What acknowledgements decided, written down before the server is asked anything. */
export interface Decided {
  progress: FolderProgress | undefined;
  outcomes: SettleOutcome[];
  /** UIDs with an action the server still has to carry out. */
  serverWork: Set<number>;
}

/**
 * The settle stage, part one: for each acknowledged email (of one node, one folder) the action
 * its result calls for, written into the progress at once: the ledger entry for a server action,
 * the left-unread list, a retry's count, or the end of its retries. Nothing has been asked of the
 * server yet, so a crash or a broken connection from here on loses no acknowledgement.
 */
export function decideSettlements(scope: string, jobs: SettleJob[]): Decided {
  const first = jobs[0];
  const progress = first.progress.folder(scope);
  const decided: Decided = { progress, outcomes: [], serverWork: new Set() };
  for (const job of jobs) {
    const chosen = job.result === 'success' ? job.policy.onSuccess : job.policy.onFailure;
    const uid = Number(job.id);
    if (!progress || progress.uidValidity !== job.uidValidity) {
      // The folder was recreated since the emit: this UID names another message now, or none.
      decided.outcomes.push({ action: actionName(chosen), ok: false, error: new MailError('protocol', 'the folder was recreated since the email was emitted') });
      continue;
    }
    leaveUnsettled(progress, uid, chosen.kind === 'retry', job);
    if (chosen.kind === 'retry') {
      decided.outcomes.push({ action: 'retry', ok: true });
      continue;
    }
    // Left unread on purpose (Unseen Only): it must not count as new again.
    if ((chosen.kind === 'none' || chosen.kind === 'flag') && job.request.unseenOnly) progress.handled = [...(progress.handled ?? []), uid];
    if (chosen.kind === 'none') {
      decided.outcomes.push({ action: 'none', ok: true });
      continue;
    }
    owe(progress, [{ uid, action: chosen }]);
    decided.serverWork.add(uid);
    decided.outcomes.push({ action: actionName(chosen), ok: false });
  }
  if (progress) first.progress.set(scope, progress);
  return decided;
}

/**
 * The settle stage, part two: the server carries out what part one wrote down, through the
 * ledger (so a batch of acknowledgements becomes one command per kind of action).
 */
export async function applySettlements(session: () => Promise<ImapFlow>, scope: string, jobs: SettleJob[], decided: Decided): Promise<SettleOutcome[]> {
  const { progress, serverWork, outcomes } = decided;
  if (!progress || serverWork.size === 0) return outcomes;
  const save = (): void => jobs[0].progress.set(scope, progress);
  const settled = (i: number, update: Partial<SettleOutcome>): void => {
    outcomes[i] = { ...outcomes[i], ...update };
  };
  try {
    const client = await session();
    await selectFolder(client, folderPath(jobs[0].request.folder), false);
    const applied = await settleOwed(client, progress, save, serverWork);
    jobs.forEach((job, i) => {
      const uid = Number(job.id);
      if (!serverWork.has(uid)) return;
      if (applied.confirmed.has(uid)) settled(i, { ok: true });
      else settled(i, { ok: false, error: applied.failed.get(uid) ?? new MailError('protocol', 'the server did not confirm the action') });
    });
  } catch (err) {
    // Still owed: the next poll carries it out before anything new is emitted.
    const error = classifyError(err);
    jobs.forEach((job, i) => {
      if (serverWork.has(Number(job.id))) settled(i, { ok: false, error });
    });
  }
  return outcomes;
}
