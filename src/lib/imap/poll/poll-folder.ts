import type { ImapFlow } from 'imapflow';
import type { ImapOrigin } from '../../mail-mapper';
import { MailError } from '../../mail-error';
import type { PollJob, PollResult, SkipReason } from '../../mail-source';
import { MAX_EMITS } from '../../settle/policy';
import type { FolderProgress } from '../../progress-store';
import type { ProgressChange } from '../../progress-change';
import { emitBatch } from './emit-batch';
import { findNew } from './find-new';
import { startingProgress } from './folder-progress';
import { owedOf, settleOwed } from './ledger';
import { samePath, selectFolder } from './select-folder';
import { sortBySize, stillThere } from './fetch-sizes';
import { fetchBatches } from './fetch-batches';

/**
 * The folder name to open: blank means the inbox. Otherwise the name as typed (trimmed): it is
 * part of the progress scope and of every message key, which must not change under a flow.
 */
export function folderPath(folder: string): string {
  return folder.trim() || 'INBOX';
}

/** Where a node's progress in one folder is kept: per server, user and folder. */
export function folderScope(settings: { user: string; host: string; port: number }, path: string): string {
  return `imap://${settings.user}@${settings.host}:${settings.port}/${path}`;
}

/** The target folders the node's settle actions move emails into. */
function targetFolders(policy: PollJob['policy']): string[] {
  return [policy.onSuccess, policy.onFailure].flatMap((a) => (a.kind === 'move' || a.kind === 'return' ? [a.folder] : []));
}

/**
 * Before anything is emitted that could not be filed afterwards: every folder the actions move
 * emails into must exist. A missing one is a clear error, and the poll emits nothing.
 */
async function checkTargets(client: ImapFlow, policy: PollJob['policy']): Promise<void> {
  const known = verifiedTargets.get(client) ?? new Set<string>();
  const targets = targetFolders(policy).filter((t) => !known.has(t));
  if (targets.length === 0) return;
  const folders = (await client.list()).map((m) => m.path);
  const missing = targets.find((t) => !folders.some((f) => samePath(f, t)));
  if (missing) throw new MailError('folder', `folder ${missing} does not exist`, { folder: missing, folders: folders.join(', ') });
  for (const t of targets) known.add(t);
  verifiedTargets.set(client, known);
}

/** Target folders found on a session already: checked once per session, not once per poll. */
const verifiedTargets = new WeakMap<ImapFlow, Set<string>>();

/**
 * One poll of one IMAP folder, as stages: select the folder -> its progress -> the ledger (what
 * the server still owes) -> find new -> limit -> sizes -> per batch: fetch, emit, settle. Only the
 * chosen UIDs are fetched; nothing is changed on the server for an email that was not emitted.
 */
export async function pollFolder(client: ImapFlow, scope: string, job: PollJob): Promise<PollResult> {
  const { request, listener, policy } = job;
  const path = folderPath(request.folder);
  // Selected afresh on every poll: a session that keeps a folder open is not told when another
  // session deletes and recreates it (Dovecot goes on answering from the old one), and a new
  // UIDVALIDITY must be noticed. It also gives this moment's UIDNEXT for a starting point.
  let progress: FolderProgress | undefined = job.progress.folder(scope);
  // EXAMINE when this poll changes nothing on the server (so not even \Recent is consumed).
  const readOnly = policy.mode === 'emit' && policy.onSuccess.kind === 'none' && (!progress || owedOf(progress).length === 0);
  const selected = await selectFolder(client, path, readOnly, { fresh: true });
  if (!progress || progress.uidValidity !== selected.uidValidity) {
    if (progress) listener.folderReset(path, progress.uidValidity, selected.uidValidity);
    progress = startingProgress(selected, request.start);
    job.progress.set(scope, progress);
  }
  const current = progress;
  const save = (change?: ProgressChange): void => job.progress.set(scope, current, change);

  // What the server owes comes first; an action it refuses (a folder removed meanwhile) stops the
  // poll with that error rather than let new mail pile up behind it.
  const owed = await settleOwed(client, current, save);
  const refused = owed.failed.values().next();
  if (!refused.done) throw refused.value;
  await checkTargets(client, policy);

  const result: PollResult = { emitted: 0, skipped: 0 };
  const origin = (uid: number): ImapOrigin => ({
    folder: path,
    uid,
    uidValidity: selected.uidValidity,
    messageId: undefined,
    connection: job.connectionId,
    key: `${job.connectionId}/${path}/${selected.uidValidity}/${uid}`,
  });
  const skip = (uid: number, reason: SkipReason, detail: Record<string, string>): void => {
    current.skipped.push(uid);
    if (current.unsettled) delete current.unsettled[uid];
    save();
    result.skipped += 1;
    listener.skip(origin(uid).key, reason, detail);
  };

  const found = await findNew(client, current, request.unseenOnly);
  const candidates = chooseNew(found, current, request.unseenOnly, job.holding, save);
  let uids = candidates;
  if (request.maxEmails > 0) uids = uids.slice(0, request.maxEmails);
  // Emitted as often as a retry allows already (a crash after the last one): given up, as poison.
  for (const uid of uids.filter((u) => (current.unsettled?.[u] ?? 0) >= MAX_EMITS)) skip(uid, 'retries', { count: String(MAX_EMITS) });
  uids = uids.filter((u) => (current.unsettled?.[u] ?? 0) < MAX_EMITS);
  if (uids.length === 0) return result;

  // Emitted before and not settled, but not found by this poll's search: are they still there?
  const foundNow = new Set(found);
  const gone = await forgetGone(client, current, uids.filter((uid) => !foundNow.has(uid)), save);
  if (gone.size > 0) uids = uids.filter((uid) => !gone.has(uid));
  const { wanted, tooLarge, sizes } = await sortBySize(client, uids, job.sizeLimit);
  for (const { uid, size } of tooLarge) skip(uid, 'too-large', { size: String(size), limit: String(job.sizeLimit) });
  const context = { progress: current, unseenOnly: request.unseenOnly, policy, listener, origin, save, skip };
  for (const batch of fetchBatches(wanted, sizes)) {
    if (!listener.isActive()) break;
    result.emitted += await emitBatch(client, batch, context);
  }
  return result;
}

/**
 * Emitted, never settled, and no longer in the folder (someone moved or deleted it): nothing left
 * to settle. Returns those UIDs.
 */
async function forgetGone(client: ImapFlow, progress: FolderProgress, unfound: number[], save: () => void): Promise<Set<number>> {
  const asked = unfound.filter((uid) => progress.unsettled?.[uid] !== undefined);
  if (asked.length === 0) return new Set();
  const present = await stillThere(client, asked);
  const gone = new Set(asked.filter((uid) => !present.has(uid)));
  if (gone.size === 0) return gone;
  for (const uid of gone) delete progress.unsettled?.[uid];
  save();
  return gone;
}

/**
 * The UIDs that are new for this node: what the search found, less what it settled already
 * (left unread on purpose) or still owes an action, less what is waiting for its acknowledgement
 * now; plus (Unseen Only off, where the search looks only above the last emitted UID) what was
 * emitted and never settled: a retry, or an email in flight when Node-RED stopped.
 */
function chooseNew(found: number[], progress: FolderProgress, unseenOnly: boolean, holding: ReadonlySet<number | string>, save: () => void): number[] {
  if (unseenOnly) {
    // Left unread on purpose, or emitted and not settled: forgotten once no longer unread (read
    // by someone, moved, deleted), so the lists stay short.
    const unread = new Set(found);
    const kept = (progress.handled ?? []).filter((uid) => unread.has(uid));
    const gone = Object.keys(progress.unsettled ?? {}).map(Number).filter((uid) => !unread.has(uid) && !holding.has(uid));
    if (kept.length !== (progress.handled ?? []).length || gone.length > 0) {
      if (progress.handled) progress.handled = kept;
      for (const uid of gone) delete progress.unsettled?.[uid];
      save();
    }
  }
  const settledOrOwed = new Set([...(progress.handled ?? []), ...owedOf(progress).map((o) => o.uid)]);
  const again = unseenOnly ? [] : Object.keys(progress.unsettled ?? {}).map(Number);
  const all = [...new Set([...found, ...again])].sort((a, b) => a - b);
  return all.filter((uid) => !settledOrOwed.has(uid) && !holding.has(uid));
}
