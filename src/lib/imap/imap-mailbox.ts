import type { ImapFlow } from 'imapflow';
import type { ReceiveSettings } from '../connection-options';
import { MailError, classifyError } from '../mail-error';
import type { FailureCode } from '../mail-error';
import type { PollJob, PollResult, SettleJob, SettleOutcome } from '../mail-source';
import { Exclusive } from '../receive/exclusive';
import type { Mailbox, MailboxSubscriber, ReceiveMode, SessionState } from '../receive/mailbox';
import { RUNTIME_TIMEOUTS, connectImap, refuseExpiredSessionToken } from './imap-client';
import type { ImapTimeouts } from './imap-client';
import { folderPath, folderScope, pollFolder } from './poll/poll-folder';
import { applySettlements, decideSettlements } from './poll/settle-emails';
import { claimStage, renewLease } from './shared/claim-stage';
import { claimsNames } from './shared/claims';
import type { SharedOptions } from './shared/claims';
import { selectFolder } from './poll/select-folder';

/**
 * Waits before each attempt to open a lost push session again: at once, then growing to 5 s, so
 * a restarted server is back in use within seconds of its return. Failures a retry cannot fix by
 * itself (a refused login, an untrusted certificate) wait a minute instead of hammering the server.
 */
export const RECONNECT_DELAYS_MS: readonly number[] = [0, 500, 1000, 2000, 5000];
export const RECONNECT_DELAY_NOT_TRANSIENT_MS = 60_000;
const TRANSIENT: ReadonlySet<FailureCode> = new Set<FailureCode>(['refused', 'timeout', 'closed', 'dns', 'protocol', 'oauth-unavailable']);

/** Up to this long before a shared node claims: see poll(). */
const SHARED_JITTER_MS = 250;

/** An IDLE that ends this soon after it began is followed by a pause, never by a busy loop. */
const MIN_IDLE_MS = 50;

export interface ImapMailboxOptions {
  settings: () => ReceiveSettings;
  /** The folder as the nodes name it ('' = the inbox). */
  folder: string;
  timeouts?: ImapTimeouts;
  reconnectDelaysMs?: readonly number[];
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The receive connection's session on one IMAP folder, shared by every node that reads it. Polls
 * run on it one at a time. Between polls, while a node wants push and the server offers IDLE, the
 * session idles on the folder and announces new mail (EXISTS) to those nodes. imapflow checks a
 * quiet socket every `idleSocketMs` with a NOOP, which also renews the IDLE long before the 29
 * minutes of RFC 2177 and notices a session that died silently. A held session the server closes
 * is opened again at once.
 */
export class ImapMailbox implements Mailbox {
  private client: ImapFlow | undefined;
  private opening: Promise<ImapFlow> | undefined;
  private readonly polls = new Exclusive();
  private readonly subscribers = new Set<MailboxSubscriber>();
  private idleLoop: Promise<void> | undefined;
  /** Known once a session was opened: does the server offer IDLE? */
  private idleSupported: boolean | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempts = 0;
  private closed = false;
  private readonly path: string;
  private readonly timeouts: ImapTimeouts;

  constructor(private readonly options: ImapMailboxOptions) {
    this.path = folderPath(options.folder);
    this.timeouts = options.timeouts ?? RUNTIME_TIMEOUTS;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  subscribe(subscriber: MailboxSubscriber): () => void {
    this.subscribers.add(subscriber);
    this.afterUse();
    return () => {
      this.subscribers.delete(subscriber);
      this.afterUse();
    };
  }

  mode(subscriber: MailboxSubscriber): ReceiveMode {
    if (!subscriber.push) return 'poll';
    return this.idleSupported === false ? 'no-idle' : 'push';
  }

  poll(job: PollJob): Promise<PollResult> {
    return this.polls
      .run(async () => {
        const client = await this.session();
        const settings = this.options.settings();
        const scope = folderScope(settings, folderPath(job.request.folder));
        let result: PollResult;
        if (job.shared) {
          // Claim first; then the usual stages read this instance's claims folder. Instances woken
          // by the same new mail would claim at the same moment and all let go: a little jitter
          // keeps them apart.
          await pause(Math.random() * SHARED_JITTER_MS);
          const names = claimsNames(client, folderPath(job.request.folder), job.shared.options.instanceId);
          await claimStage(client, { job, names, shared: job.shared.options, peers: job.shared.peers, sourceScope: `${scope}#shared` });
          const working: PollJob = { ...job, request: { folder: names.own, unseenOnly: false, maxEmails: job.request.maxEmails, start: 'all' } };
          result = await pollFolder(client, folderScope(settings, names.own), working);
        } else {
          result = await pollFolder(client, scope, job);
        }
        this.heard();
        return result;
      })
      .finally(() => this.afterUse());
  }

  settle(jobs: SettleJob[]): Promise<SettleOutcome[]> {
    return this.polls
      .run(async () => {
        const scope = folderScope(this.options.settings(), folderPath(jobs[0].request.folder));
        const decided = decideSettlements(scope, jobs);
        const outcomes = await applySettlements(() => this.session(), scope, jobs, decided);
        if (outcomes.some((o) => o.ok)) this.heard();
        return outcomes;
      })
      .finally(() => this.afterUse());
  }

  renew(folder: string, shared: SharedOptions): Promise<void> {
    return this.polls
      .run(async () => {
        const client = await this.session();
        await renewLease(client, claimsNames(client, folderPath(folder), shared.instanceId));
      })
      .finally(() => this.afterUse());
  }

  reset(): void {
    const client = this.client;
    this.client = undefined;
    client?.close();
    if (client) this.scheduleReconnect();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // A polite LOGOUT when the server answers quickly; otherwise just drop the socket.
    await Promise.race([client.logout().catch(() => undefined), pause(500)]);
    client.close();
  }

  private wantsPush(): boolean {
    for (const s of this.subscribers) if (s.push) return true;
    return false;
  }

  private keepsSession(): boolean {
    for (const s of this.subscribers) if (s.push || s.keepAlive) return true;
    return false;
  }

  private broadcast(state: SessionState): void {
    for (const s of this.subscribers) s.state(state);
  }

  private heard(): void {
    this.broadcast({ kind: 'heard', at: Date.now() });
  }

  private announce(): void {
    for (const s of this.subscribers) if (s.push) s.newMail();
  }

  private session(): Promise<ImapFlow> {
    if (this.client?.usable) return Promise.resolve(this.client);
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async open(): Promise<ImapFlow> {
    const old = this.client;
    this.client = undefined;
    old?.close();
    this.broadcast({ kind: 'connecting' });
    // The error listener is in place before connect (see connectImap); what follows an error is the close event.
    const client = await connectImap(this.options.settings(), this.timeouts, () => undefined);
    if (this.closed) {
      client.close();
      throw new MailError('closed', 'closed while connecting');
    }
    this.idleSupported = client.capabilities.has('IDLE');
    client.on('exists', (data: { count: number; prevCount: number }) => {
      if (this.client === client && data.count > data.prevCount) this.announce();
    });
    client.on('close', () => {
      // Before anything reconnects: the replacement session must not log in with the expired token.
      refuseExpiredSessionToken(client, this.options.settings().tokens);
      if (this.client !== client) return;
      this.client = undefined;
      this.scheduleReconnect();
    });
    this.client = client;
    this.reconnectAttempts = 0;
    return client;
  }

  /** After a poll or a change of subscribers: idle, stay, or log out. */
  private afterUse(): void {
    if (this.closed || this.polls.pending > 0) return;
    if (!this.keepsSession()) {
      const client = this.client;
      this.client = undefined;
      if (client) void client.logout().catch(() => undefined).finally(() => client.close());
      return;
    }
    if (this.wantsIdle()) this.startIdle();
    // Nobody wants push any more: any command ends the IDLE.
    else if (this.idleLoop && this.client?.usable) void this.client.noop().catch(() => undefined);
  }

  private wantsIdle(): boolean {
    return !this.closed && this.polls.pending === 0 && this.wantsPush() && this.idleSupported === true && this.client?.usable === true;
  }

  private startIdle(): void {
    const client = this.client;
    if (this.idleLoop || !client || !this.wantsIdle()) return;
    this.idleLoop = this.idle(client).finally(() => {
      this.idleLoop = undefined;
    });
  }

  private async idle(client: ImapFlow): Promise<void> {
    const readOnly = [...this.subscribers].every((s) => s.readOnly);
    try {
      await selectFolder(client, this.path, readOnly);
      this.heard();
      // A poll's first command ends the IDLE (imapflow sends DONE); the loop then sees the poll and stops.
      while (this.wantsIdle() && this.client === client) {
        const began = Date.now();
        const outcome: unknown = await client.idle();
        if (outcome === false) {
          // The server refused IDLE although it offered it: poll instead.
          if (client.usable) this.idleSupported = false;
          return;
        }
        this.heard();
        if (Date.now() - began < MIN_IDLE_MS) await pause(250);
      }
    } catch {
      // The session failed; its close event decides what follows, and the next poll reports why.
    }
  }

  private nextReconnectDelay(error?: MailError): number {
    if (error && !TRANSIENT.has(error.code)) return RECONNECT_DELAY_NOT_TRANSIENT_MS;
    const delays = this.options.reconnectDelaysMs ?? RECONNECT_DELAYS_MS;
    return delays[Math.min(this.reconnectAttempts, delays.length - 1)];
  }

  /** Only while a node wants push: otherwise the next poll opens a session when it needs one. */
  private scheduleReconnect(wait = this.nextReconnectDelay()): void {
    if (this.reconnectTimer || this.closed || !this.wantsPush()) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.reconnect();
    }, wait);
  }

  private async reconnect(): Promise<void> {
    if (this.closed || !this.wantsPush() || this.client?.usable) return;
    try {
      await this.session();
      this.heard();
      // Mail that arrived while the session was gone: a poll finds it.
      this.announce();
      this.afterUse();
    } catch (err) {
      if (this.closed) return;
      const error = classifyError(err);
      this.reconnectAttempts += 1;
      const next = this.nextReconnectDelay(error);
      this.broadcast({ kind: 'lost', error, retryInMs: next });
      this.scheduleReconnect(next);
    }
  }
}
