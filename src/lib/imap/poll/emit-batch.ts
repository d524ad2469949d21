import type { ImapFlow } from 'imapflow';
import { isParseFailure, parseEmail } from '../../mail-mapper';
import type { ImapOrigin } from '../../mail-mapper';
import type { PollListener } from '../../mail-source';
import type { FolderProgress } from '../../progress-store';
import type { SettlePolicy } from '../../settle/policy';
import { owe, settleOwed } from './ledger';
import { fetchRequested } from './requested-fetch';

export interface BatchContext {
  progress: FolderProgress;
  unseenOnly: boolean;
  policy: SettlePolicy;
  listener: PollListener;
  origin: (uid: number) => ImapOrigin;
  /** Persists the progress. */
  save: () => void;
  /** Reports an email that can never be emitted and remembers not to fetch it again. */
  skip: (uid: number, reason: 'parse', detail: Record<string, string>) => void;
}

/** Writes down what an emit means, before anything else can happen to the email. */
function record(uid: number, context: BatchContext): void {
  const { progress, policy, unseenOnly } = context;
  if (!unseenOnly) progress.lastUid = Math.max(progress.lastUid, uid);
  if (policy.mode === 'ack') {
    const unsettled = (progress.unsettled ??= {});
    unsettled[uid] = (unsettled[uid] ?? 0) + 1;
    return;
  }
  // settle emit: handled now, with the success action owed to the server.
  const action = policy.onSuccess;
  if (action.kind === 'none') {
    if (unseenOnly) progress.handled = [...(progress.handled ?? []), uid];
    return;
  }
  owe(progress, [{ uid, action }]);
  if (action.kind === 'flag' && unseenOnly) progress.handled = [...(progress.handled ?? []), uid];
}

/**
 * Stages 5b-7 for one batch: fetch the bodies (BODY.PEEK, so fetching changes nothing), emit
 * each email and write down at once what that means (the owed action with settle emit; the emit
 * count with settle ack), then settle: the owed actions of this batch are carried out. A break
 * anywhere leaves every emitted email either settled or owed, and nothing else changed.
 */
export async function emitBatch(client: ImapFlow, batch: number[], context: BatchContext): Promise<number> {
  const { listener } = context;
  const emitted = new Set<number>();
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
      emitted.add(item.uid);
      record(item.uid, context);
      context.save();
    }
  } finally {
    // Even when the fetch broke off, what was emitted is settled; what was not stays as it was.
    // What the server refuses stays in the ledger for the next poll.
    if (context.policy.mode === 'emit' && emitted.size > 0 && client.usable) await settleOwed(client, context.progress, context.save, emitted);
  }
  return emitted.size;
}
