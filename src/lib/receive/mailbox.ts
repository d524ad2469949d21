import type { MailError } from '../mail-error';
import type { SharedOptions } from '../imap/shared/claims';
import type { PollJob, PollResult, SettleJob, SettleOutcome } from '../mail-source';

/** How a node is served: pushed to, or polled and why. */
export type ReceiveMode = 'push' | 'poll' | 'no-idle' | 'pop3';

/** What a mailbox session tells the nodes that use it. */
export type SessionState =
  | { kind: 'connecting' }
  /** The server answered (a command completed, IDLE was renewed). */
  | { kind: 'heard'; at: number }
  /** The held (push) session is gone and could not be opened again yet. */
  | { kind: 'lost'; error: MailError; retryInMs: number };

export interface MailboxSubscriber {
  /** Wants new mail announced (IMAP IDLE). */
  readonly push: boolean;
  /** Wants the session kept between its polls (a short Delay). */
  readonly keepAlive: boolean;
  /** EXAMINE is enough for it (Unseen Only off changes nothing on the server). */
  readonly readOnly: boolean;
  /** The server announced new mail in the folder (push subscribers only). */
  newMail(): void;
  state(state: SessionState): void;
}

/**
 * One folder on one server, or one POP3 maildrop: the session the receive connection keeps for
 * it, shared by every node that reads it. Polls run one at a time on it.
 */
export interface Mailbox {
  subscribe(subscriber: MailboxSubscriber): () => void;
  readonly subscriberCount: number;
  /** Runs one poll with the session, after any poll already running or waiting. */
  poll(job: PollJob): Promise<PollResult>;
  /**
   * Settles acknowledged emails of one node (settle ack), in turn with the polls: each outcome
   * is written into the node's progress before the server is asked, so none is lost.
   */
  settle(jobs: SettleJob[]): Promise<SettleOutcome[]>;
  /** shared: keeps this instance's claims alive (IMAP only). */
  renew?(folder: string, shared: SharedOptions): Promise<void>;
  /** How this subscriber is served at the moment. */
  mode(subscriber: MailboxSubscriber): ReceiveMode;
  /** Drops the connection (a poll in flight fails); the next use opens a new one. */
  reset(): void;
  /** Ends the session for good; a poll in flight fails. */
  close(): Promise<void>;
}
