import type { ImapFlow, SearchObject } from 'imapflow';
import type { FolderProgress } from '../../progress-store';
import { floorUid } from './folder-progress';
import { searchUids } from './search-uids';

/**
 * Stage 3: the UIDs that count as new, oldest first. Unseen Only: the server's unread messages;
 * otherwise every message above the last one emitted. Skipped (poison) UIDs, messages marked
 * \Deleted and UIDs below the node's starting point never count.
 */
export async function findNew(client: ImapFlow, progress: FolderProgress, unseenOnly: boolean): Promise<number[]> {
  const floor = floorUid(progress);
  const range = floor > 1 ? { uid: `${floor}:*` } : {};
  // A message marked \Deleted is as good as gone (a delete or a move without UIDPLUS leaves it so).
  const query: SearchObject = unseenOnly ? { seen: false, deleted: false, ...range } : { deleted: false, ...range };
  const found = await searchUids(client, query);
  const skipped = new Set(progress.skipped);
  // "n:*" also matches the highest UID when that is below n, hence the floor again.
  return found.filter((uid) => uid >= floor && !skipped.has(uid)).sort((a, b) => a - b);
}
