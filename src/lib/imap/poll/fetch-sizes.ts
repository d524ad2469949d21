import type { ImapFlow } from 'imapflow';
import { fetchRequested } from './requested-fetch';
import { searchUids } from './search-uids';
import { uidSet } from './uid-set';

export interface SizedUids {
  /** Small enough to fetch, oldest first. */
  wanted: number[];
  /** Over the size limit: reported and never downloaded. */
  tooLarge: Array<{ uid: number; size: number }>;
  /** The size of each wanted UID, octets: exact for large ones, an upper bound for the rest. */
  sizes: Map<number, number>;
}

/** Below this, a message's exact size does not matter: it neither breaks a limit nor a batch. */
export const SMALL_MESSAGE_BYTES = 32 * 1024;

/**
 * Stage 5a: sizes first, so an oversized message is never downloaded. One SEARCH finds the few
 * messages larger than a small threshold, and only those have their sizes fetched: a backlog of
 * small emails costs one short answer instead of a size line per email. A UID that is not there
 * any more comes back from neither; it is left among the wanted, whose FETCH then finds nothing.
 */
export async function sortBySize(client: ImapFlow, uids: number[], sizeLimit: number): Promise<SizedUids> {
  const result: SizedUids = { wanted: [], tooLarge: [], sizes: new Map() };
  if (uids.length === 0) return result;
  const threshold = Math.min(SMALL_MESSAGE_BYTES, sizeLimit);
  // LARGER n matches RFC822.SIZE > n, the same test as the size limit.
  const large = new Set(await searchUids(client, { uid: uidSet(uids), larger: threshold }));
  const exact = new Map<number, number>();
  if (large.size > 0) for await (const item of fetchRequested(client, [...large], 'size')) exact.set(item.uid, item.size);
  for (const uid of uids) {
    if (!large.has(uid)) {
      result.wanted.push(uid);
      result.sizes.set(uid, threshold);
      continue;
    }
    const size = exact.get(uid);
    // Found large, then expunged before its size came: gone.
    if (size === undefined) continue;
    if (size > sizeLimit) result.tooLarge.push({ uid, size });
    else {
      result.wanted.push(uid);
      result.sizes.set(uid, size);
    }
  }
  return result;
}

/** Which of `uids` the folder still holds (another session may have expunged some). */
export async function stillThere(client: ImapFlow, uids: number[]): Promise<Set<number>> {
  if (uids.length === 0) return new Set();
  return new Set(await searchUids(client, { uid: uidSet(uids) }));
}
