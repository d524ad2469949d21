import type { ImapFlow } from 'imapflow';
import type { ReceiveSettings } from '../connection-options';
import { MailError, classifyError } from '../mail-error';
import { isParseFailure, parseEmail } from '../mail-mapper';
import type { ImapOrigin } from '../mail-mapper';
import type { MailSource, PollListener, PollRequest, PollResult } from '../mail-source';
import type { FolderProgress, StateStore } from '../state-store';
import { RUNTIME_TIMEOUTS, connectImap } from './imap-client';
import { fetchRequested } from './requested-fetch';
import type { ImapTimeouts } from './imap-client';

export interface ImapSourceOptions {
  settings: ReceiveSettings;
  /** The config node's id, part of every message key. */
  connectionId: string;
  state: StateStore;
  sizeLimit: number;
  /** Keep the connection open between polls (short delays) or log out after each. */
  keepAlive: boolean;
  timeouts?: ImapTimeouts;
}

/** Messages per FETCH: bounds memory on a large backlog. */
const FETCH_BATCH = 25;

interface ServerError {
  mailboxMissing?: boolean;
  serverResponseCode?: string;
  responseText?: string;
}

/**
 * Polls one IMAP folder. Only the chosen UIDs are fetched, with BODY.PEEK so that fetching
 * changes nothing; \Seen is set only on messages that were emitted.
 */
export class ImapSource implements MailSource {
  private client: ImapFlow | undefined;
  private closing = false;

  constructor(private readonly options: ImapSourceOptions) {}

  private async session(): Promise<ImapFlow> {
    if (this.client?.usable) return this.client;
    this.client?.close();
    this.client = undefined;
    const client = await connectImap(this.options.settings, this.options.timeouts ?? RUNTIME_TIMEOUTS, () => {
      // The client closes itself after an error; the next poll notices `usable` is false and
      // reconnects, so nothing else needs doing here.
    });
    if (this.closing) {
      client.close();
      throw new MailError('closed', 'closed while connecting');
    }
    this.client = client;
    return client;
  }

  private scope(folder: string): string {
    const s = this.options.settings;
    return `imap://${s.user}@${s.host}:${s.port}/${folder}`;
  }

  async poll(request: PollRequest, listener: PollListener): Promise<PollResult> {
    const folder = request.folder.trim() || 'INBOX';
    const client = await this.session();
    try {
      return await this.pollFolder(client, folder, request, listener);
    } finally {
      if (!this.options.keepAlive && this.client === client) {
        this.client = undefined;
        await client.logout().catch(() => client.close());
      }
    }
  }

  private async openFolder(client: ImapFlow, folder: string, readOnly: boolean): Promise<string> {
    try {
      const mailbox = await client.mailboxOpen(folder, { readOnly });
      return String(mailbox.uidValidity);
    } catch (err) {
      const serverError = err as ServerError;
      const missing = serverError.mailboxMissing === true || serverError.serverResponseCode === 'NONEXISTENT' || /exist|unknown mailbox|no such/i.test(serverError.responseText ?? '');
      if (missing && client.usable) {
        const folders = (await client.list().catch(() => [])).map((m) => m.path);
        throw new MailError('folder', `folder ${folder} does not exist`, { folder, folders: folders.join(', ') });
      }
      throw classifyError(err);
    }
  }

  private async pollFolder(client: ImapFlow, folder: string, request: PollRequest, listener: PollListener): Promise<PollResult> {
    // EXAMINE when nothing will be changed, so not even \Recent is consumed.
    const uidValidity = await this.openFolder(client, folder, !request.unseenOnly);
    const scope = this.scope(folder);
    let progress: FolderProgress | undefined = this.options.state.folder(scope);
    if (!progress || progress.uidValidity !== uidValidity) {
      if (progress) listener.folderReset(folder, progress.uidValidity, uidValidity);
      progress = { uidValidity, lastUid: 0, skipped: [] };
      this.options.state.set(scope, progress);
    }
    const current = progress;

    const skipped = new Set(current.skipped);
    const query = request.unseenOnly ? { seen: false } : current.lastUid > 0 ? { uid: `${current.lastUid + 1}:*` } : { all: true };
    const found = await client.search(query, { uid: true });
    // imapflow answers a refused search with false: not "nothing new", which would also clear
    // the journal below and so emit its UIDs a second time.
    if (!found) throw new MailError('protocol', `UID SEARCH in ${folder} failed`, { folder });
    // "n:*" also matches the highest UID when it is below n, hence the filter.
    let uids = found.filter((uid) => uid > current.lastUid && !skipped.has(uid)).sort((a, b) => a - b);

    const result: PollResult = { emitted: 0, skipped: 0 };
    if (request.unseenOnly) {
      // Emitted before, but the \Seen store never got confirmed (the connection broke): mark
      // them now instead of emitting them a second time. Entries no longer unread are done.
      const unread = new Set(uids);
      const owed = (current.pendingSeen ?? []).filter((uid) => unread.has(uid));
      // messageFlagsAdd reports a failed STORE as false, not as an error: the journal keeps
      // what is still owed until a store is confirmed.
      const marked = owed.length === 0 || (await client.messageFlagsAdd(owed, ['\\Seen'], { uid: true }));
      const stillOwed = marked ? [] : owed;
      if ((current.pendingSeen ?? []).length !== stillOwed.length) {
        current.pendingSeen = stillOwed;
        this.options.state.set(scope, current);
      }
      const owedSet = new Set(owed);
      uids = uids.filter((uid) => !owedSet.has(uid));
    }
    if (request.maxEmails > 0) uids = uids.slice(0, request.maxEmails);
    if (uids.length === 0) return result;

    const origin = (uid: number): ImapOrigin => ({
      folder,
      uid,
      uidValidity,
      messageId: undefined,
      connection: this.options.connectionId,
      key: `${this.options.connectionId}/${folder}/${uidValidity}/${uid}`,
    });
    const skip = (uid: number, reason: 'parse' | 'too-large', detail: Record<string, string>): void => {
      current.skipped.push(uid);
      this.options.state.set(scope, current);
      result.skipped += 1;
      listener.skip(origin(uid).key, reason, detail);
    };

    // Sizes first, so an oversized message is never downloaded. A UID without a size was
    // expunged by another session since the search: it is gone, not an error.
    const sizes = new Map<number, number>();
    for await (const item of fetchRequested(client, uids, 'size')) sizes.set(item.uid, item.size);
    const wanted: number[] = [];
    for (const uid of uids) {
      const size = sizes.get(uid);
      if (size === undefined) continue;
      if (size > this.options.sizeLimit) skip(uid, 'too-large', { size: String(size), limit: String(this.options.sizeLimit) });
      else wanted.push(uid);
    }

    // In batches, so a large backlog never sits in memory at once and \Seen follows closely.
    for (let i = 0; i < wanted.length && listener.isActive(); i += FETCH_BATCH) {
      await this.fetchBatch(client, wanted.slice(i, i + FETCH_BATCH), request, listener, { scope, current, origin, skip, result });
    }
    return result;
  }

  private async fetchBatch(
    client: ImapFlow,
    batch: number[],
    request: PollRequest,
    listener: PollListener,
    poll: { scope: string; current: FolderProgress; origin: (uid: number) => ImapOrigin; skip: (uid: number, reason: 'parse', detail: Record<string, string>) => void; result: PollResult },
  ): Promise<void> {
    const { scope, current } = poll;
    const emittedUids: number[] = [];
    try {
      for await (const item of fetchRequested(client, batch, 'source')) {
        if (!listener.isActive()) break;
        const parsed = await parseEmail(item.source, poll.origin(item.uid));
        if (isParseFailure(parsed)) {
          poll.skip(item.uid, 'parse', { reason: parsed.reason });
          continue;
        }
        if (!listener.isActive()) break;
        listener.emit(parsed);
        poll.result.emitted += 1;
        emittedUids.push(item.uid);
        if (request.unseenOnly) {
          // The journal: written right after the emit, cleared once \Seen is confirmed.
          current.pendingSeen = [...(current.pendingSeen ?? []), item.uid];
        } else {
          current.lastUid = Math.max(current.lastUid, item.uid);
        }
        this.options.state.set(scope, current);
      }
    } finally {
      // Even when the fetch broke off, what was emitted is marked; what was not stays unread.
      // A store that failed (false, not an error) leaves the UIDs in the journal for the next poll.
      if (request.unseenOnly && emittedUids.length > 0 && client.usable && (await client.messageFlagsAdd(emittedUids, ['\\Seen'], { uid: true }))) {
        const marked = new Set(emittedUids);
        current.pendingSeen = (current.pendingSeen ?? []).filter((uid) => !marked.has(uid));
        this.options.state.set(scope, current);
      }
    }
  }

  reset(): void {
    this.client?.close();
    this.client = undefined;
  }

  async close(): Promise<void> {
    this.closing = true;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // A polite LOGOUT when the server answers quickly; otherwise just drop the socket.
    await Promise.race([client.logout().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 500).unref())]);
    client.close();
  }
}
