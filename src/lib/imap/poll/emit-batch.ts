import type { ImapFlow } from 'imapflow';
import { isParseFailure, parseEmail } from '../../mail-mapper';
import type { ImapOrigin } from '../../mail-mapper';
import type { PollListener } from '../../mail-source';
import type { FolderProgress, OwedAction } from '../../progress-store';
import type { ProgressChange } from '../../progress-change';
import type { SettlePolicy } from '../../settle/policy';
import { owe, settleOwed } from './ledger';
import { fetchRequested } from './requested-fetch';

export interface BatchContext {
  progress: FolderProgress;
  unseenOnly: boolean;
  policy: SettlePolicy;
  listener: PollListener;
  origin: (uid: number) => ImapOrigin;
  /** Persists the progress; `change`, when given, is all that changed since the last save. */
  save: (change?: ProgressChange) => void;
  /** Reports an email that can never be emitted and remembers not to fetch it again. */
  skip: (uid: number, reason: 'parse', detail: Record<string, string>) => void;
}

/**
 * Writes down what an emit means, before anything else can happen to the email, and returns it
 * as a change (one UID's worth) for the store to write; undefined when only the whole progress
 * says it right (an old ledger being converted).
 */
function record(uid: number, context: BatchContext): ProgressChange | undefined {
  const { progress, policy, unseenOnly } = context;
  const change: ProgressChange = {};
  if (!unseenOnly && uid > progress.lastUid) {
    progress.lastUid = uid;
    change.set = { lastUid: uid };
  }
  if (policy.mode === 'ack') {
    const unsettled = (progress.unsettled ??= {});
    const count = (unsettled[uid] ?? 0) + 1;
    unsettled[uid] = count;
    change.entries = { unsettled: { [uid]: count } };
    return change;
  }
  // settle emit: handled now, with the success action owed to the server.
  const action = policy.onSuccess;
  const handled = action.kind === 'none' || action.kind === 'flag' ? unseenOnly : false;
  if (handled) {
    (progress.handled ??= []).push(uid);
    change.append = { handled: [uid] };
  }
  if (action.kind === 'none') return change;
  // A new email is not in the ledger (chooseNew leaves owed UIDs out), so the entry is appended.
  if (progress.pendingSeen || progress.owed?.some((o) => o.uid === uid)) {
    owe(progress, [{ uid, action }]);
    return undefined;
  }
  const entry: OwedAction = { uid, action };
  (progress.owed ??= []).push(entry);
  change.append = { ...change.append, owed: [entry] };
  return change;
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
      // Parsed while imapflow goes on reading the next bodies from the socket.
      const parsed = await parseEmail(item.source, context.origin(item.uid));
      if (isParseFailure(parsed)) {
        context.skip(item.uid, 'parse', { reason: parsed.reason });
        continue;
      }
      if (!listener.isActive()) break;
      listener.emit(parsed);
      emitted.add(item.uid);
      context.save(record(item.uid, context));
    }
  } finally {
    // Even when the fetch broke off, what was emitted is settled; what was not stays as it was.
    // What the server refuses stays in the ledger for the next poll.
    if (context.policy.mode === 'emit' && emitted.size > 0 && client.usable) await settleOwed(client, context.progress, context.save, emitted);
  }
  return emitted.size;
}
