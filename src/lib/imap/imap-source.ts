import type { ImapFlow } from 'imapflow';
import type { ReceiveSettings } from '../connection-options';
import { MailError, classifyError } from '../mail-error';
import { isParseFailure, parseEmail } from '../mail-mapper';
import type { ImapOrigin } from '../mail-mapper';
import type { MailSource, PollListener, PollRequest, PollResult } from '../mail-source';
import type { FolderProgress, StateStore } from '../state-store';
import { RUNTIME_TIMEOUTS, connectImap } from './imap-client';
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
    const found = (await client.search(query, { uid: true })) || [];
    // "n:*" also matches the highest UID when it is below n, hence the filter.
    let uids = found.filter((uid) => uid > current.lastUid && !skipped.has(uid)).sort((a, b) => a - b);
    if (request.maxEmails > 0) uids = uids.slice(0, request.maxEmails);
    if (uids.length === 0) return { emitted: 0, skipped: 0 };

    const result: PollResult = { emitted: 0, skipped: 0 };
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

    // Sizes first, so an oversized message is never downloaded.
    const wanted: number[] = [];
    for await (const item of client.fetch(uids, { uid: true, size: true }, { uid: true })) {
      if ((item.size ?? 0) > this.options.sizeLimit) skip(item.uid, 'too-large', { size: String(item.size), limit: String(this.options.sizeLimit) });
      else wanted.push(item.uid);
    }
    if (wanted.length === 0) return result;

    const emittedUids: number[] = [];
    try {
      for await (const item of client.fetch(wanted, { uid: true, source: true }, { uid: true })) {
        if (!listener.isActive()) break;
        const parsed = await parseEmail(item.source ?? Buffer.alloc(0), origin(item.uid));
        if (isParseFailure(parsed)) {
          skip(item.uid, 'parse', { reason: parsed.reason });
          continue;
        }
        if (!listener.isActive()) break;
        listener.emit(parsed);
        result.emitted += 1;
        emittedUids.push(item.uid);
        if (!request.unseenOnly) {
          current.lastUid = Math.max(current.lastUid, item.uid);
          this.options.state.set(scope, current);
        }
      }
    } finally {
      // Even when the fetch broke off, what was emitted is marked; what was not stays unread.
      if (request.unseenOnly && emittedUids.length > 0 && client.usable) {
        await client.messageFlagsAdd(emittedUids, ['\\Seen'], { uid: true });
      }
    }
    return result;
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
