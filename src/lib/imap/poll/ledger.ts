import type { ImapFlow } from 'imapflow';
import type { FolderProgress } from '../../progress-store';
import { markSeen } from './mark-seen';

/**
 * Stage 4, the ledger (Unseen Only): UIDs emitted in an earlier poll whose \Seen store was never
 * confirmed (the connection broke) are marked now, before anything new is emitted, instead of
 * being emitted a second time. Returns the new UIDs without them. Entries no longer unread are
 * settled already. `save` persists the progress.
 */
export async function settleOwed(client: ImapFlow, progress: FolderProgress, unread: number[], save: () => void): Promise<number[]> {
  const journal = progress.pendingSeen ?? [];
  if (journal.length === 0) return unread;
  const unreadSet = new Set(unread);
  const owed = journal.filter((uid) => unreadSet.has(uid));
  const marked = await markSeen(client, owed);
  const stillOwed = marked ? [] : owed;
  if (stillOwed.length !== journal.length) {
    progress.pendingSeen = stillOwed;
    save();
  }
  const owedSet = new Set(owed);
  return unread.filter((uid) => !owedSet.has(uid));
}
