import { isInbox } from '../../connection-options';
import { MailError } from '../../mail-error';
import { isParseFailure, parseEmail } from '../../mail-mapper';
import type { Pop3Origin } from '../../mail-mapper';
import type { PollJob, PollResult } from '../../mail-source';
import type { Pop3Client } from '../pop3-client';
import { MaildropState } from './maildrop-state';

/** Where a node's progress in a maildrop is kept: per server and user. */
export function maildropScope(settings: { user: string; host: string; port: number }): string {
  return `pop3://${settings.user}@${settings.host}:${settings.port}`;
}

/**
 * One POP3 poll on a logged-in session, as stages: list UIDLs -> the node's progress -> delete
 * what is owed -> find new -> limit -> sizes -> per email: RETR, emit, record, DELE. Deletions
 * take effect only at QUIT, which the caller sends after a poll that completed.
 */
export async function pollMaildrop(client: Pop3Client, scope: string, job: PollJob): Promise<PollResult> {
  const { request, listener } = job;
  if (!isInbox(request.folder)) throw new MailError('invalid-config', 'POP3 has only the inbox', { folder: request.folder });
  const listing = await client.uidl();
  const state = MaildropState.open(job.progress.maildrop(scope), listing.map((m) => m.uidl), request.start);
  const save = (): void => job.progress.set(scope, state.toProgress());
  if (state.changed) save();

  if (job.deleteAfterEmit) {
    // Emitted in a session that ended without QUIT: the server kept them; delete them now.
    for (const m of listing) if (state.emitted.has(m.uidl)) await client.dele(m.number);
  }
  let fresh = listing.filter((m) => state.isNew(m.uidl));
  if (request.maxEmails > 0) fresh = fresh.slice(0, request.maxEmails);
  const result: PollResult = { emitted: 0, skipped: 0 };
  if (fresh.length === 0) return result;

  const sizes = new Map((await client.list()).map((m) => [m.number, m.size]));
  for (const { number, uidl } of fresh) {
    if (!listener.isActive()) break;
    const origin: Pop3Origin = { uidl, messageId: undefined, connection: job.connectionId, key: `${job.connectionId}/${uidl}` };
    const size = sizes.get(number) ?? 0;
    if (size > job.sizeLimit) {
      state.skipped.add(uidl);
      save();
      result.skipped += 1;
      listener.skip(origin.key, 'too-large', { size: String(size), limit: String(job.sizeLimit) });
      continue;
    }
    const parsed = await parseEmail(await client.retr(number), origin);
    if (isParseFailure(parsed)) {
      state.skipped.add(uidl);
      save();
      result.skipped += 1;
      listener.skip(origin.key, 'parse', { reason: parsed.reason });
      continue;
    }
    if (!listener.isActive()) break;
    listener.emit(parsed);
    state.emitted.add(uidl);
    save();
    result.emitted += 1;
    if (job.deleteAfterEmit) await client.dele(number);
  }
  return result;
}
