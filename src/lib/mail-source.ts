import type { MailError } from './mail-error';
import type { EmailMessage } from './mail-mapper';
import type { ProgressStore } from './progress-store';
import type { SettleAction, SettlePolicy, SettleResult } from './settle/policy';
import type { SharedOptions } from './imap/shared/claims';
import type { PeerWatch } from './imap/shared/peer-watch';

/** Which emails a node's first run takes: every one waiting, or only those that arrive later. */
export type StartFrom = 'all' | 'new';

export interface PollRequest {
  /** '' means the inbox. */
  folder: string;
  unseenOnly: boolean;
  /** Most emails this poll may emit; -1 = no limit. */
  maxEmails: number;
  start: StartFrom;
}

/** Why an email is reported and never emitted again: unreadable, too large, or failed too often. */
export type SkipReason = 'parse' | 'too-large' | 'retries';

/** What a poll tells its owner; the owner is the only one who knows the flow. */
export interface PollListener {
  /** Hands one email to the flow. Called in order, oldest first. */
  emit(message: EmailMessage): void;
  /** An email that will never be emitted and is not fetched again. */
  skip(key: string, reason: SkipReason, detail: Record<string, string>): void;
  /** The folder's UIDVALIDITY changed: its old progress no longer applies. */
  folderReset(folder: string, oldValidity: string, newValidity: string): void;
  /** False once the owner is closing: emit nothing more. */
  isActive(): boolean;
}

export interface PollResult {
  emitted: number;
  skipped: number;
}

/** Everything one poll needs besides the server session it runs on. */
export interface PollJob {
  request: PollRequest;
  progress: ProgressStore;
  listener: PollListener;
  /** Larger emails are reported and never downloaded. */
  sizeLimit: number;
  /** The receive connection's id, part of every message key. */
  connectionId: string;
  /** How emitted emails are settled (on emit, or when acknowledged). */
  policy: SettlePolicy;
  /** settle ack: UIDs (IMAP) or UIDLs (POP3) emitted by this node and waiting for their acknowledgement. */
  holding: ReadonlySet<number | string>;
  /** Several Node-RED instances share the folder (IMAP): claim before emitting. */
  shared?: SharedJob;
}

/** A shared node's part in a poll: who it is, its lease, and what it has seen of the others. */
export interface SharedJob {
  options: SharedOptions;
  peers: PeerWatch;
}

/** One acknowledgement (or timeout) to carry out on the server. */
export interface SettleJob {
  request: Pick<PollRequest, 'folder' | 'unseenOnly'>;
  progress: ProgressStore;
  policy: SettlePolicy;
  connectionId: string;
  /** The email: its key, its UID (IMAP) or UIDL (POP3), and for IMAP the UIDVALIDITY it was emitted under. */
  key: string;
  id: number | string;
  uidValidity?: string;
  result: SettleResult;
  /** Where an email that failed too often is reported. */
  listener: Pick<PollListener, 'skip'>;
}

export interface SettleOutcome {
  /** The action carried out (or owed, when ok is false). */
  action: Exclude<SettleAction['kind'], 'return'>;
  /** The server confirmed it (or nothing was needed). */
  ok: boolean;
  /** Why not, when ok is false. */
  error?: MailError;
}

export const DEFAULT_SIZE_LIMIT = 25 * 1024 * 1024;
