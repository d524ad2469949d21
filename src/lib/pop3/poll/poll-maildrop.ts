import { isInbox } from '../../connection-options';
import { MailError } from '../../mail-error';
import { isParseFailure, parseEmail } from '../../mail-mapper';
import type { Pop3Origin } from '../../mail-mapper';
import type { PollJob, PollResult, SkipReason } from '../../mail-source';
import { MAX_EMITS } from '../../settle/policy';
import type { Pop3Client } from '../pop3-client';
import { MaildropState } from './maildrop-state';
import type { ProgressChange } from '../../progress-change';

/** The largest email fetched ahead of its turn. */
const PREFETCH_MAX_BYTES = 1024 * 1024;

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
  const save = (change?: ProgressChange): void => job.progress.set(scope, state.progress, change);
  if (state.changed) save();

  const ack = job.policy.mode === 'ack';
  const deleteAfterEmit = !ack && job.policy.onSuccess.kind === 'delete';
  // Deletions owed from sessions that ended without QUIT (the server kept those messages):
  // emitted ones with settle emit and delete, acknowledged ones with settle ack.
  for (const m of listing) {
    if ((deleteAfterEmit && state.emitted.has(m.uidl)) || state.owedDeletes.has(m.uidl)) await client.dele(m.number);
  }
  const result: PollResult = { emitted: 0, skipped: 0 };
  const report = (uidl: string, reason: SkipReason, detail: Record<string, string>): void => {
    save(state.markSkipped(uidl));
    result.skipped += 1;
    listener.skip(`${job.connectionId}/${uidl}`, reason, detail);
  };
  let fresh = listing.filter((m) => state.isNew(m.uidl) && !job.holding.has(m.uidl));
  if (request.maxEmails > 0) fresh = fresh.slice(0, request.maxEmails);
  // Emitted as often as a retry allows already (a crash after the last one): given up, as poison.
  for (const m of fresh.filter((f) => (state.unsettled.get(f.uidl) ?? 0) >= MAX_EMITS)) report(m.uidl, 'retries', { count: String(MAX_EMITS) });
  fresh = fresh.filter((f) => (state.unsettled.get(f.uidl) ?? 0) < MAX_EMITS);
  if (fresh.length === 0) return result;

  const sizes = new Map((await client.list()).map((m) => [m.number, m.size]));
  const small = (m: { number: number }): boolean => (sizes.get(m.number) ?? 0) <= job.sizeLimit;
  // One RETR ahead: the next email travels while this one is parsed and emitted, so the server's
  // round trip is hidden instead of waited for. Only one, and only a small one, so memory never
  // holds two large emails.
  const retrievals = new Map<number, Promise<Buffer>>();
  const retrieveFrom = (index: number, ahead: boolean): void => {
    for (let j = index; j < fresh.length; j += 1) {
      if (!small(fresh[j])) continue;
      if (ahead && (sizes.get(fresh[j].number) ?? 0) > PREFETCH_MAX_BYTES) return;
      if (!retrievals.has(j)) {
        const raw = client.retr(fresh[j].number);
        // Left unread when the poll stops early; the session's failure is reported by the RETR awaited.
        raw.catch(() => undefined);
        retrievals.set(j, raw);
      }
      return;
    }
  };
  for (let i = 0; i < fresh.length; i += 1) {
    if (!listener.isActive()) break;
    const { number, uidl } = fresh[i];
    const origin: Pop3Origin = { uidl, messageId: undefined, connection: job.connectionId, key: `${job.connectionId}/${uidl}` };
    if (!small(fresh[i])) {
      report(uidl, 'too-large', { size: String(sizes.get(number) ?? 0), limit: String(job.sizeLimit) });
      continue;
    }
    retrieveFrom(i, false);
    const raw = await (retrievals.get(i) ?? client.retr(number));
    retrievals.delete(i);
    if (listener.isActive()) retrieveFrom(i + 1, true);
    const parsed = await parseEmail(raw, origin);
    if (isParseFailure(parsed)) {
      report(uidl, 'parse', { reason: parsed.reason });
      continue;
    }
    if (!listener.isActive()) break;
    listener.emit(parsed);
    save(ack ? state.countEmit(uidl) : state.markEmitted(uidl));
    result.emitted += 1;
    if (deleteAfterEmit) await client.dele(number);
  }
  return result;
}
