import { isInbox } from '../connection-options';
import type { ReceiveSettings } from '../connection-options';
import { MailError, classifyError } from '../mail-error';
import { isParseFailure, parseEmail } from '../mail-mapper';
import type { Pop3Origin } from '../mail-mapper';
import type { MailSource, PollListener, PollRequest, PollResult } from '../mail-source';
import type { StateStore } from '../state-store';
import { buildTrustOptions } from '../tls-trust';
import { Pop3Client } from './pop3-client';

export interface Pop3SourceOptions {
  settings: ReceiveSettings;
  connectionId: string;
  state: StateStore;
  sizeLimit: number;
  /** DELE each message after it was emitted (committed by QUIT at the end of the poll). */
  deleteAfterEmit: boolean;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/**
 * Silence while a reply is due after which the session counts as dead: 20 s, as for IMAP (the
 * client's own default of 30 s would put stall detection just past the 30 s the node promises).
 */
const RUNTIME_COMMAND_TIMEOUT_MS = 20_000;

/**
 * Polls a POP3 maildrop. POP3 has no flags and a session sees no mail that arrives during it, so
 * each poll is one session: list UIDLs, fetch the oldest not emitted before, QUIT. What was
 * emitted is remembered by UIDL in the node's state file.
 */
export class Pop3Source implements MailSource {
  private client: Pop3Client | undefined;
  private closing = false;

  constructor(private readonly options: Pop3SourceOptions) {}

  private scope(): string {
    const s = this.options.settings;
    return `pop3://${s.user}@${s.host}:${s.port}`;
  }

  async poll(request: PollRequest, listener: PollListener): Promise<PollResult> {
    if (!isInbox(request.folder)) {
      throw new MailError('invalid-config', 'POP3 has only the inbox', { folder: request.folder });
    }
    const s = this.options.settings;
    let client: Pop3Client;
    try {
      client = await Pop3Client.connect({
        host: s.host,
        port: s.port,
        security: s.security,
        trust: buildTrustOptions(s.host, s.certificate),
        user: s.user,
        password: s.password,
        connectTimeoutMs: this.options.connectTimeoutMs,
        commandTimeoutMs: this.options.commandTimeoutMs ?? RUNTIME_COMMAND_TIMEOUT_MS,
      });
    } catch (err) {
      throw classifyError(err);
    }
    if (this.closing) {
      client.destroy();
      throw new MailError('closed', 'closed while connecting');
    }
    this.client = client;
    try {
      const result = await this.pollSession(client, request, listener);
      await client.quit();
      return result;
    } catch (err) {
      // No QUIT on failure: the server then keeps every message, DELE'd or not (RFC 1939).
      client.destroy();
      throw classifyError(err);
    } finally {
      this.client = undefined;
    }
  }

  private async pollSession(client: Pop3Client, request: PollRequest, listener: PollListener): Promise<PollResult> {
    const scope = this.scope();
    const progress = this.options.state.maildrop(scope);
    const listing = await client.uidl();
    // UIDLs no longer on the server can never come back; forgetting them keeps the file small.
    const present = new Set(listing.map((m) => m.uidl));
    const emitted = new Set(progress.emitted.filter((u) => present.has(u)));
    const skipped = new Set(progress.skipped.filter((u) => present.has(u)));
    const save = (): void => this.options.state.set(scope, { emitted: [...emitted], skipped: [...skipped] });

    if (this.options.deleteAfterEmit) {
      // Emitted in a session that ended without QUIT: the server kept them, delete them now.
      for (const m of listing) if (emitted.has(m.uidl)) await client.dele(m.number);
    }
    let fresh = listing.filter((m) => !emitted.has(m.uidl) && !skipped.has(m.uidl));
    if (request.maxEmails > 0) fresh = fresh.slice(0, request.maxEmails);
    const result: PollResult = { emitted: 0, skipped: 0 };
    if (fresh.length === 0) {
      if (emitted.size !== progress.emitted.length || skipped.size !== progress.skipped.length) save();
      return result;
    }
    const sizes = new Map((await client.list()).map((m) => [m.number, m.size]));
    for (const { number, uidl } of fresh) {
      if (!listener.isActive()) break;
      const origin: Pop3Origin = { uidl, messageId: undefined, connection: this.options.connectionId, key: `${this.options.connectionId}/${uidl}` };
      const size = sizes.get(number) ?? 0;
      if (size > this.options.sizeLimit) {
        skipped.add(uidl);
        save();
        result.skipped += 1;
        listener.skip(origin.key, 'too-large', { size: String(size), limit: String(this.options.sizeLimit) });
        continue;
      }
      const parsed = await parseEmail(await client.retr(number), origin);
      if (isParseFailure(parsed)) {
        skipped.add(uidl);
        save();
        result.skipped += 1;
        listener.skip(origin.key, 'parse', { reason: parsed.reason });
        continue;
      }
      if (!listener.isActive()) break;
      listener.emit(parsed);
      emitted.add(uidl);
      save();
      result.emitted += 1;
      if (this.options.deleteAfterEmit) await client.dele(number);
    }
    return result;
  }

  reset(): void {
    this.client?.destroy();
    this.client = undefined;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.client?.destroy();
    this.client = undefined;
  }
}
