import type { EmailMessage } from './mail-mapper';
import type { ProgressStore } from './progress-store';

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

export type SkipReason = 'parse' | 'too-large';

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
  /** POP3: delete each email once it was emitted. */
  deleteAfterEmit: boolean;
}

export const DEFAULT_SIZE_LIMIT = 25 * 1024 * 1024;
