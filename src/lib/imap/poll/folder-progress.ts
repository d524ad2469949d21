import type { StartFrom } from '../../mail-source';
import type { FolderProgress } from '../../progress-store';
import type { SelectedFolder } from './select-folder';

/**
 * Stage 2: where a node starts in a folder it has no valid progress for (its first run, or the
 * folder was recreated with a new UIDVALIDITY). "all" starts before the oldest message; "new"
 * at UIDNEXT, so nothing in the folder now is ever emitted or changed.
 */
export function startingProgress(selected: SelectedFolder, start: StartFrom): FolderProgress {
  if (start === 'new') {
    const startUid = Math.max(1, selected.uidNext);
    return { uidValidity: selected.uidValidity, lastUid: startUid - 1, skipped: [], startUid };
  }
  return { uidValidity: selected.uidValidity, lastUid: 0, skipped: [] };
}

/** The lowest UID that can still be new: above what was emitted (Unseen Only off) and at or above the start. */
export function floorUid(progress: FolderProgress): number {
  return Math.max(progress.lastUid + 1, progress.startUid ?? 1);
}
