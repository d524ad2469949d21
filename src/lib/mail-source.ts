import type { EmailMessage } from './mail-mapper';

export interface PollRequest {
  /** '' means the inbox. */
  folder: string;
  unseenOnly: boolean;
  /** -1 = no limit. */
  maxEmails: number;
}

export type SkipReason = 'parse' | 'too-large';

/** What a source tells its owner while it polls; the owner is the only one who knows the flow. */
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

export interface MailSource {
  poll(request: PollRequest, listener: PollListener): Promise<PollResult>;
  /** Drops the current connection (an in-flight poll rejects); the next poll reconnects. */
  reset(): void;
  /** Ends the connection promptly for good; an in-flight poll rejects. */
  close(): Promise<void>;
}

export const DEFAULT_SIZE_LIMIT = 25 * 1024 * 1024;
