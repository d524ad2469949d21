import { isInbox } from '../../connection-options';
import { MailError } from '../../mail-error';
import { isParseFailure, parseEmail } from '../../mail-mapper';
import type { Pop3Origin } from '../../mail-mapper';
import type { PollJob, PollResult, SkipReason } from '../../mail-source';
import { MAX_EMITS } from '../../settle/policy';
import type { Pop3Client } from '../pop3-client';
import { MaildropState } from './maildrop-state';
import type { ProgressChange } from '../../progress-change';

/** Emails retrieved ahead of the one being parsed and handed on. */
const RETR_AHEAD = 4;
/** Larger emails are never fetched while another is in the pipe. */
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
  const sizeOf = (m: { number: number }): number => sizes.get(m.number) ?? 0;
  for (const m of fresh.filter((f) => sizeOf(f) > job.sizeLimit)) report(m.uidl, 'too-large', { size: String(sizeOf(m)), limit: String(job.sizeLimit) });
  const wanted = fresh.filter((f) => sizeOf(f) <= job.sizeLimit);

  // A few RETRs ahead of the email being parsed and handed on: the server's round trips run
  // beside the parsing instead of one after the other. A large email is fetched only with nothing
  // else in the pipe, so memory never holds two; it stays in the parts it arrived in, which the
  // parser empties as it goes.
  const pipe: Array<{ m: { number: number; uidl: string }; raw: Promise<Buffer | Buffer[]> }> = [];
  let next = 0;
  const fill = (): void => {
    while (next < wanted.length && pipe.length < RETR_AHEAD) {
      const m = wanted[next];
      const large = sizeOf(m) > PREFETCH_MAX_BYTES;
      if (large && pipe.length > 0) return;
      const raw: Promise<Buffer | Buffer[]> = large ? client.retrParts(m.number) : client.retr(m.number);
      // Not awaited when the poll stops early; such an email was not emitted and is fetched again.
      raw.catch(() => undefined);
      pipe.push({ m, raw });
      next += 1;
      if (large) return;
    }
  };
  // DELEs are queued behind the RETRs in the pipe rather than waited for one by one; a refused
  // one fails the poll below, before the QUIT that would commit them.
  const deletions: Array<Promise<void>> = [];
  fill();
  while (pipe.length > 0 && listener.isActive()) {
    const head = pipe.shift();
    if (!head) break;
    const raw = await head.raw;
    if (listener.isActive()) fill();
    const origin: Pop3Origin = { uidl: head.m.uidl, messageId: undefined, connection: job.connectionId, key: `${job.connectionId}/${head.m.uidl}` };
    const parsed = await parseEmail(raw, origin);
    if (isParseFailure(parsed)) {
      report(head.m.uidl, 'parse', { reason: parsed.reason });
      continue;
    }
    if (!listener.isActive()) break;
    listener.emit(parsed);
    save(ack ? state.countEmit(head.m.uidl) : state.markEmitted(head.m.uidl));
    result.emitted += 1;
    if (deleteAfterEmit) {
      const deletion = client.dele(head.m.number);
      deletion.catch(() => undefined);
      deletions.push(deletion);
    }
  }
  await Promise.all(deletions);
  return result;
}
