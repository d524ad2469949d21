import type { ImapFlow } from 'imapflow';
import { isParseFailure, parseEmail } from '../../mail-mapper';
import type { ImapOrigin } from '../../mail-mapper';
import type { PollListener } from '../../mail-source';
import type { FolderProgress } from '../../progress-store';
import { markSeen } from './mark-seen';
import { fetchRequested } from './requested-fetch';

export interface BatchContext {
  progress: FolderProgress;
  unseenOnly: boolean;
  listener: PollListener;
  origin: (uid: number) => ImapOrigin;
  /** Persists the progress. */
  save: () => void;
  /** Reports an email that can never be emitted and remembers not to fetch it again. */
  skip: (uid: number, reason: 'parse', detail: Record<string, string>) => void;
}

/**
 * Stages 5b-7 for one batch: fetch the bodies (BODY.PEEK, so fetching changes nothing), emit
 * each email, record it, then settle: \Seen for what was emitted (Unseen Only). The journal
 * entry is written right after each emit and cleared once the store is confirmed, so a break
 * anywhere leaves every emitted email either marked or owed, and nothing else marked.
 */
export async function emitBatch(client: ImapFlow, batch: number[], context: BatchContext): Promise<number> {
  const { progress, listener } = context;
  const emitted: number[] = [];
  try {
    for await (const item of fetchRequested(client, batch, 'source')) {
      if (!listener.isActive()) break;
      const parsed = await parseEmail(item.source, context.origin(item.uid));
      if (isParseFailure(parsed)) {
        context.skip(item.uid, 'parse', { reason: parsed.reason });
        continue;
      }
      if (!listener.isActive()) break;
      listener.emit(parsed);
      emitted.push(item.uid);
      if (context.unseenOnly) progress.pendingSeen = [...(progress.pendingSeen ?? []), item.uid];
      else progress.lastUid = Math.max(progress.lastUid, item.uid);
      context.save();
    }
  } finally {
    // Even when the fetch broke off, what was emitted is marked; what was not stays unread. A
    // store that failed leaves the UIDs in the journal for the next poll's ledger.
    if (context.unseenOnly && emitted.length > 0 && client.usable && (await markSeen(client, emitted))) {
      const marked = new Set(emitted);
      progress.pendingSeen = (progress.pendingSeen ?? []).filter((uid) => !marked.has(uid));
      context.save();
    }
  }
  return emitted.length;
}
