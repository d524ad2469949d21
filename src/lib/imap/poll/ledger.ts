import type { ImapFlow } from 'imapflow';
import type { FolderProgress, OwedAction } from '../../progress-store';
import { applyActions } from './apply-actions';
import type { Applied } from './apply-actions';

/** What the server owes in this folder, including \Seen stores written down by earlier versions. */
export function owedOf(progress: FolderProgress): OwedAction[] {
  const legacy = (progress.pendingSeen ?? []).map((uid): OwedAction => ({ uid, action: { kind: 'seen' } }));
  return [...(progress.owed ?? []), ...legacy];
}

/** Writes actions into the ledger (one per message: a later one replaces an earlier one). */
export function owe(progress: FolderProgress, entries: OwedAction[]): void {
  const uids = new Set(entries.map((e) => e.uid));
  progress.owed = [...owedOf(progress).filter((e) => !uids.has(e.uid)), ...entries];
  delete progress.pendingSeen;
}

/**
 * The ledger stage: carries out what the server owes (all of it, or only `uids`), and crosses
 * out what it confirmed or what needs nothing any more (already so, or the message is gone).
 * What failed stays owed. `save` persists the progress.
 */
export async function settleOwed(client: ImapFlow, progress: FolderProgress, save: () => void, uids?: ReadonlySet<number>): Promise<Applied> {
  const all = owedOf(progress);
  const due = uids ? all.filter((e) => uids.has(e.uid)) : all;
  const applied = await applyActions(client, due);
  if (applied.confirmed.size > 0 || progress.pendingSeen) {
    progress.owed = all.filter((e) => !applied.confirmed.has(e.uid));
    delete progress.pendingSeen;
    save();
  }
  return applied;
}
