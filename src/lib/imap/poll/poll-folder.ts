import type { ImapFlow } from 'imapflow';
import type { ImapOrigin } from '../../mail-mapper';
import type { PollJob, PollResult } from '../../mail-source';
import type { FolderProgress } from '../../progress-store';
import { emitBatch } from './emit-batch';
import { findNew } from './find-new';
import { startingProgress } from './folder-progress';
import { settleOwed } from './ledger';
import { selectFolder } from './select-folder';
import { sortBySize } from './fetch-sizes';

/** Messages per body FETCH: bounds memory on a large backlog and keeps \Seen close behind. */
const FETCH_BATCH = 25;

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

/**
 * One poll of one IMAP folder, as stages: select the folder -> its progress -> find new ->
 * settle what is owed -> limit -> sizes -> per batch: fetch, emit, settle. Only the chosen UIDs
 * are fetched; \Seen is set only on messages that were emitted.
 */
export async function pollFolder(client: ImapFlow, scope: string, job: PollJob): Promise<PollResult> {
  const { request, listener } = job;
  const path = folderPath(request.folder);
  // Selected afresh on every poll: a session that keeps a folder open is not told when another
  // session deletes and recreates it (Dovecot goes on answering from the old one), and a new
  // UIDVALIDITY must be noticed. It also gives this moment's UIDNEXT for a starting point.
  const selected = await selectFolder(client, path, !request.unseenOnly, { fresh: true });
  let progress: FolderProgress | undefined = job.progress.folder(scope);
  if (!progress || progress.uidValidity !== selected.uidValidity) {
    if (progress) listener.folderReset(path, progress.uidValidity, selected.uidValidity);
    progress = startingProgress(selected, request.start);
    job.progress.set(scope, progress);
  }
  const current = progress;
  const save = (): void => job.progress.set(scope, current);

  let uids = await findNew(client, current, request.unseenOnly);
  if (request.unseenOnly) uids = await settleOwed(client, current, uids, save);
  if (request.maxEmails > 0) uids = uids.slice(0, request.maxEmails);
  const result: PollResult = { emitted: 0, skipped: 0 };
  if (uids.length === 0) return result;

  const origin = (uid: number): ImapOrigin => ({
    folder: path,
    uid,
    uidValidity: selected.uidValidity,
    messageId: undefined,
    connection: job.connectionId,
    key: `${job.connectionId}/${path}/${selected.uidValidity}/${uid}`,
  });
  const skip = (uid: number, reason: 'parse' | 'too-large', detail: Record<string, string>): void => {
    current.skipped.push(uid);
    save();
    result.skipped += 1;
    listener.skip(origin(uid).key, reason, detail);
  };

  const { wanted, tooLarge } = await sortBySize(client, uids, job.sizeLimit);
  for (const { uid, size } of tooLarge) skip(uid, 'too-large', { size: String(size), limit: String(job.sizeLimit) });
  const context = { progress: current, unseenOnly: request.unseenOnly, listener, origin, save, skip };
  for (let i = 0; i < wanted.length && listener.isActive(); i += FETCH_BATCH) {
    result.emitted += await emitBatch(client, wanted.slice(i, i + FETCH_BATCH), context);
  }
  return result;
}
