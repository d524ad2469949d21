import type { ImapFlow } from 'imapflow';
import { fetchRequested } from './requested-fetch';

export interface SizedUids {
  /** Small enough to fetch, oldest first. */
  wanted: number[];
  /** Over the size limit: reported and never downloaded. */
  tooLarge: Array<{ uid: number; size: number }>;
  /** The size of each wanted UID, octets. */
  sizes: Map<number, number>;
}

/**
 * Stage 5a: sizes first, so an oversized message is never downloaded. A UID that comes back
 * without a size was expunged by another session since the search: it is gone, not an error.
 */
export async function sortBySize(client: ImapFlow, uids: number[], sizeLimit: number): Promise<SizedUids> {
  const sizes = new Map<number, number>();
  for await (const item of fetchRequested(client, uids, 'size')) sizes.set(item.uid, item.size);
  const result: SizedUids = { wanted: [], tooLarge: [], sizes };
  for (const uid of uids) {
    const size = sizes.get(uid);
    if (size === undefined) continue;
    if (size > sizeLimit) result.tooLarge.push({ uid, size });
    else result.wanted.push(uid);
  }
  return result;
}
