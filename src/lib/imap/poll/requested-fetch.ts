import type { FetchMessageObject, ImapFlow } from 'imapflow';

/**
 * A FETCH answers with more than was asked: while it runs, the server reports changes other
 * sessions made (RFC 3501 7.4.2, RFC 7162 3.2.4) as untagged FETCH responses of their own, flags
 * of other messages, often without a UID, and imapflow hands them out of the same iterator. A
 * message another session expunged after our SEARCH comes back with its UID and no body, or not
 * at all. So every item is checked: one of the UIDs asked for, each at most once, and carrying
 * what was asked for. Anything else is the server keeping us informed, not an answer.
 */
export type RequestedItem<K extends 'size' | 'source' | 'flags'> = { uid: number } & Required<Pick<FetchMessageObject, K>>;

interface CommandFailure {
  responseStatus?: string;
  serverResponseCode?: string;
  responseText?: string;
  response?: { attributes?: Array<{ section?: Array<{ value?: unknown }> }> };
}

/** The bracketed response code of a tagged NO (imapflow sets serverResponseCode only on some paths). */
function responseCode(err: CommandFailure): string {
  if (typeof err.serverResponseCode === 'string') return err.serverResponseCode.toUpperCase();
  const value = err.response?.attributes?.[0]?.section?.[0]?.value;
  return typeof value === 'string' ? value.toUpperCase() : '';
}

/**
 * A NO that only says some of the messages are gone (RFC 5530 EXPUNGEISSUED, or the older
 * wording): what did arrive is complete and the rest no longer exists.
 */
export function isExpungedMessagesAnswer(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const failure = err as CommandFailure;
  if (failure.responseStatus !== 'NO') return false;
  return responseCode(failure) === 'EXPUNGEISSUED' || /no longer exist|been expunged|were expunged/i.test(failure.responseText ?? '');
}

function carries<K extends 'size' | 'source' | 'flags'>(item: FetchMessageObject, what: K): item is FetchMessageObject & RequestedItem<K> {
  if (what === 'size') return typeof item.size === 'number';
  if (what === 'flags') return item.flags instanceof Set;
  return Buffer.isBuffer(item.source);
}

const QUERIES = {
  size: { uid: true, size: true },
  source: { uid: true, source: true },
  flags: { uid: true, flags: true },
} as const;

/**
 * UID FETCH of `uids` for one attribute (`size`: RFC822.SIZE; `source`: BODY.PEEK[]; `flags`),
 * yielding only the requested messages, in the order the server sends them. Messages that were
 * expunged meanwhile are simply missing; a real failure of the command still throws.
 */
export async function* fetchRequested<K extends 'size' | 'source' | 'flags'>(client: ImapFlow, uids: number[], what: K): AsyncGenerator<RequestedItem<K>> {
  if (uids.length === 0) return;
  const pending = new Set(uids);
  try {
    for await (const item of client.fetch(uids, QUERIES[what], { uid: true })) {
      if (typeof item.uid !== 'number' || !pending.has(item.uid) || !carries(item, what)) continue;
      pending.delete(item.uid);
      yield item;
    }
  } catch (err) {
    if (!isExpungedMessagesAnswer(err)) throw err;
  }
}
