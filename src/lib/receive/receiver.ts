import { classifyError } from '../mail-error';
import type { MailError } from '../mail-error';
import type { EmailMessage } from '../mail-mapper';
import type { PollListener, PollRequest, PollResult, SettleJob, SettleOutcome, SkipReason } from '../mail-source';
import { actionName } from '../settle/policy';
import type { SettlePolicy, SettleResult } from '../settle/policy';
import { settleRegistry } from '../settle/registry';
import type { SharedOptions } from '../imap/shared/claims';
import { PeerWatch } from '../imap/shared/peer-watch';
import { sharedPolicy } from '../imap/shared/shared-policy';
import { folderPath } from '../imap/poll/poll-folder';
import type { SettleHolder } from '../settle/registry';
import type { ProgressStore } from '../progress-store';
import { Poller } from '../poller';
import { EmissionWindow } from './emission-window';
import { FailureStreak } from './failure-streak';
import type { FailureReport } from './failure-streak';
import type { Mailbox, MailboxSubscriber, ReceiveMode, SessionState } from './mailbox';

/** Longer than this between polls, a session is closed after each poll rather than kept. */
export const KEEP_ALIVE_MAX_INTERVAL_MS = 15_000; // below the 20 s after which a silent connection counts as dead
/**
 * Back-off after failures stops growing at one delay plus this, so mail that arrives after an
 * outage is emitted within about one delay plus 10 s of the server's return.
 */
export const BACKOFF_CAP_EXTRA_MS = 8_000;
/** A poll still running after this long is taken as hung (see Poller.stallAfterMs). */
export const STALL_AFTER_MS = 10 * 60_000;
/** How long closing waits for a poll in flight to wind down. */
export const CLOSE_GRACE_MS = 1500;

/** What one Receive Email node asks of its connection. */
export interface ReceiverSettings {
  request: PollRequest;
  intervalMs: number;
  push: boolean;
  sizeLimit: number;
  policy: SettlePolicy;
  /** Several Node-RED instances share the folder (IMAP). */
  shared?: SharedOptions;
}

export type ReceiverStatus =
  | { kind: 'connecting' }
  | { kind: 'checking' }
  /** Last heard from the server at `at`; the last poll emitted and skipped so many. */
  | { kind: 'heard'; mode: ReceiveMode; at: number; emitted: number; skipped: number }
  | { kind: 'retrying'; error: MailError; retryInMs: number };

/** What a receiver tells its node; the node is the only one that knows the flow and the words. */
export interface ReceiverEvents {
  emit(message: EmailMessage): void;
  skip(key: string, reason: SkipReason, detail: Record<string, string>): void;
  folderReset(folder: string, oldValidity: string, newValidity: string): void;
  status(status: ReceiverStatus): void;
  /** A failure worth telling a person about: once per streak (see FailureStreak). */
  problem(error: MailError, level: Exclude<FailureReport, null>): void;
  /** settle ack: an email nobody acknowledged within the timeout; it was settled as failed. */
  ackTimedOut(key: string, seconds: number): void;
}

interface InFlight {
  id: number | string;
  /** Where the email is: the node's folder, or (shared) this instance's claims folder. */
  folder: string;
  uidValidity: string | undefined;
  timer: NodeJS.Timeout;
}

interface PendingAck {
  job: SettleJob;
  resolve: (outcome: SettleOutcome) => void;
}

/**
 * One node's reading of one mailbox: polls every Delay, sooner when the mailbox announces new
 * mail (push), never more than Maximum Emails within one Delay, one poll at a time, backing off
 * after failures and never stopping by itself.
 */
export class Receiver implements SettleHolder {
  private readonly poller: Poller;
  private readonly window: EmissionWindow;
  private readonly streak = new FailureStreak();
  private readonly subscriber: MailboxSubscriber;
  private readonly unsubscribe: () => void;
  private active = true;
  private lastPoll: { emitted: number; skipped: number } | undefined;
  private heardAt = 0;
  private failing = false;
  /** settle ack: emails emitted and not yet acknowledged, by key; their ids kept from the polls. */
  private readonly inFlight = new Map<string, InFlight>();
  private readonly holding = new Set<number | string>();
  private readonly pendingAcks: PendingAck[] = [];
  private settling = false;
  private readonly leaveRegistry: () => void;
  /** The policy as it applies where the emails are read (shared: in the claims folder). */
  private readonly policy: SettlePolicy;
  private readonly peers = new PeerWatch();
  private readonly renewal: NodeJS.Timeout | undefined;

  constructor(
    private readonly mailbox: Mailbox,
    private readonly progress: ProgressStore,
    private readonly connectionId: string,
    private readonly settings: ReceiverSettings,
    private readonly events: ReceiverEvents,
  ) {
    this.window = new EmissionWindow(settings.request.maxEmails, settings.intervalMs);
    this.policy = settings.shared ? sharedPolicy(settings.policy, folderPath(settings.request.folder), settings.shared.instanceId) : settings.policy;
    this.subscriber = {
      push: settings.push,
      keepAlive: settings.intervalMs <= KEEP_ALIVE_MAX_INTERVAL_MS,
      readOnly: !settings.request.unseenOnly,
      newMail: () => this.wake(),
      state: (state) => this.sessionState(state),
    };
    this.poller = new Poller({
      intervalMs: settings.intervalMs,
      maxBackoffMs: settings.intervalMs + BACKOFF_CAP_EXTRA_MS,
      stallAfterMs: STALL_AFTER_MS,
      onStall: () => mailbox.reset(),
      run: () => this.pollOnce(),
      onFailure: (err, retryInMs) => this.failed(classifyError(err), retryInMs),
      mayRunEarly: () => this.window.allowance() !== 0,
    });
    this.unsubscribe = mailbox.subscribe(this.subscriber);
    this.leaveRegistry = settings.policy.mode === 'emit' ? settleRegistry.settlesOnEmit(connectionId) : () => undefined;
    // shared: the claims folder is touched three times a lease, so no other instance takes over.
    const shared = settings.shared;
    this.renewal = shared && mailbox.renew ? setInterval(() => void mailbox.renew?.(settings.request.folder, shared).catch(() => undefined), Math.max(1000, shared.leaseMs / 3)) : undefined;
    events.status({ kind: 'connecting' });
    this.poller.start();
  }

  /**
   * settle ack: the acknowledgement of an email this node emitted and still holds; undefined when
   * it does not hold it (never emitted here, settled already, or timed out).
   */
  settle(key: string, result: SettleResult): Promise<SettleOutcome> | undefined {
    const entry = this.inFlight.get(key);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.inFlight.delete(key);
    settleRegistry.release(key, this);
    const { request } = this.settings;
    const job: SettleJob = {
      request: { folder: entry.folder, unseenOnly: this.settings.shared ? false : request.unseenOnly },
      progress: this.progress,
      policy: this.policy,
      connectionId: this.connectionId,
      key,
      id: entry.id,
      uidValidity: entry.uidValidity,
      result,
      listener: { skip: (k, reason, detail) => this.events.skip(k, reason, detail) },
    };
    return new Promise<SettleOutcome>((resolve) => {
      this.pendingAcks.push({ job, resolve });
      this.flushAcks();
    }).then((outcome) => {
      // Settled or owed now: a later poll may find it again (a retry) or must not (the rest).
      this.holding.delete(entry.id);
      if (outcome.error) this.reportProblem(outcome.error);
      return outcome;
    });
  }

  /** Acknowledgements that arrive while one batch is with the server go together in the next. */
  private flushAcks(): void {
    if (this.settling || this.pendingAcks.length === 0) return;
    this.settling = true;
    const batch = this.pendingAcks.splice(0);
    this.mailbox
      .settle(batch.map((b) => b.job))
      .then(
        (outcomes) => batch.forEach((b, i) => b.resolve(outcomes[i])),
        (err: unknown) => {
          const error = classifyError(err);
          batch.forEach((b) => b.resolve({ action: actionName(b.job.result === 'success' ? this.policy.onSuccess : this.policy.onFailure), ok: false, error }));
        },
      )
      .finally(() => {
        this.settling = false;
        this.flushProgress();
        this.flushAcks();
      });
  }

  /** A disk that fails to flush fails the next write too, where it is reported; nothing to do here. */
  private flushProgress(): void {
    try {
      this.progress.flush();
    } catch {
      // See above.
    }
  }

  /** settle ack: an emitted email waits for its acknowledgement (or its timeout). */
  private hold(message: EmailMessage): void {
    const email = message.email;
    const id = 'uid' in email ? email.uid : email.uidl;
    const seconds = Math.round(this.settings.policy.ackTimeoutMs / 1000);
    const timer = setTimeout(() => {
      if (!this.active) return;
      this.events.ackTimedOut(email.key, seconds);
      void this.settle(email.key, 'failure');
    }, this.settings.policy.ackTimeoutMs);
    this.inFlight.set(email.key, { id, folder: 'uid' in email ? email.folder : this.settings.request.folder, uidValidity: 'uid' in email ? email.uidValidity : undefined, timer });
    this.holding.add(id);
    settleRegistry.hold(email.key, this);
  }

  /** New mail announced: poll now, unless Maximum Emails were emitted within the last Delay. */
  wake(): void {
    if (this.active && this.window.allowance() !== 0) this.poller.wake();
  }

  /** Stops polling, lets a poll in flight wind down (emitting nothing more), and leaves the mailbox. */
  async close(removed: boolean): Promise<void> {
    this.active = false;
    this.unsubscribe();
    this.leaveRegistry();
    clearInterval(this.renewal);
    // Emails still in flight stay unsettled in the progress: emitted again (same key) next time.
    for (const [key, entry] of this.inFlight) {
      clearTimeout(entry.timer);
      settleRegistry.release(key, this);
    }
    this.inFlight.clear();
    await this.poller.stop(CLOSE_GRACE_MS);
    if (removed) this.progress.remove();
    else this.progress.close();
  }

  private async pollOnce(): Promise<void> {
    const allowance = this.window.allowance();
    // The whole allowance was used within the last Delay (by pushed polls): wait for the next turn.
    if (allowance === 0) return;
    this.events.status({ kind: 'checking' });
    const listener: PollListener = {
      emit: (message) => {
        this.window.record();
        if (this.settings.policy.mode === 'ack') this.hold(message);
        this.events.emit(message);
      },
      skip: (key, reason, detail) => this.events.skip(key, reason, detail),
      folderReset: (folder, oldValidity, newValidity) => this.events.folderReset(folder, oldValidity, newValidity),
      isActive: () => this.active,
    };
    let result: PollResult;
    try {
      result = await this.mailbox.poll({
        request: { ...this.settings.request, maxEmails: allowance },
        progress: this.progress,
        listener,
        sizeLimit: this.settings.sizeLimit,
        connectionId: this.connectionId,
        policy: this.policy,
        holding: this.holding,
        shared: this.settings.shared ? { options: this.settings.shared, peers: this.peers } : undefined,
      });
    } finally {
      // Once per poll rather than once per email: what a power cut can still take is bounded by one poll.
      this.progress.flush();
    }
    this.streak.clear();
    this.failing = false;
    this.lastPoll = result;
    this.heardAt = Date.now();
    this.showHeard();
  }

  private showHeard(): void {
    if (!this.active || this.failing) return;
    const last = this.lastPoll ?? { emitted: 0, skipped: 0 };
    this.events.status({ kind: 'heard', mode: this.mailbox.mode(this.subscriber), at: this.heardAt, emitted: last.emitted, skipped: last.skipped });
  }

  private sessionState(state: SessionState): void {
    if (!this.active) return;
    switch (state.kind) {
      case 'heard':
        this.heardAt = Math.max(this.heardAt, state.at);
        // Until the first poll has been answered, "connecting" says more than a time.
        if (this.lastPoll) this.showHeard();
        return;
      case 'connecting':
        if (!this.lastPoll) this.events.status({ kind: 'connecting' });
        return;
      case 'lost':
        this.failed(state.error, state.retryInMs);
        return;
    }
  }

  private failed(error: MailError, retryInMs: number): void {
    if (!this.active) return;
    this.failing = true;
    this.events.status({ kind: 'retrying', error, retryInMs });
    this.reportProblem(error);
  }

  private reportProblem(error: MailError): void {
    if (!this.active) return;
    const report = this.streak.next(error);
    if (report) this.events.problem(error, report);
  }
}

