import fs from 'node:fs';
import { writeFileAtomic } from './atomic-file';
import type { ServerAction } from './settle/policy';

/** An action the server owes on one message (IMAP): acknowledged, or emitted with settle emit, and not confirmed yet. */
export interface OwedAction {
  uid: number;
  action: ServerAction;
}

/** How far an IMAP folder was read, valid only while the folder keeps its UIDVALIDITY. */
export interface FolderProgress {
  uidValidity: string;
  /** Highest UID emitted; 0 before the first. Only used with Unseen Only off. */
  lastUid: number;
  /** UIDs reported as unreadable or too large: never fetched again. */
  skipped: number[];
  /**
   * The ledger: actions owed to the server (\Seen after an emit, a move after an acknowledgement…)
   * that it has not confirmed yet. They are carried out on the next connection, before anything
   * new is emitted, instead of the emails being emitted again.
   */
  owed?: OwedAction[];
  /** Written by earlier versions: owed \Seen stores. Read as `owed`, never written. */
  pendingSeen?: number[];
  /** settle ack: emitted and not settled yet, with how often each was emitted. */
  unsettled?: Record<string, number>;
  /** Unseen Only: settled but left unread (flag, none): never emitted again. */
  handled?: number[];
  /**
   * First run "only emails that arrive from now on": the folder's UIDNEXT when the node first
   * saw it. UIDs below it are never emitted nor changed. Absent: every email counts.
   */
  startUid?: number;
}

/** POP3 has no flags, so "new" is "UIDL not in emitted". */
export interface MaildropProgress {
  /** Emitted and settled (with settle emit: emitted). */
  emitted: string[];
  skipped: string[];
  /**
   * First run "only emails that arrive from now on": the UIDLs present when the node first
   * looked. They are never emitted nor deleted; entries leave once the server no longer lists them.
   */
  preexisting?: string[];
  /** settle ack: emitted and not settled yet, with how often each was emitted. */
  unsettled?: Record<string, number>;
  /** settle ack: acknowledged with delete, DELE not committed yet. */
  owedDeletes?: string[];
}

/**
 * Where one Receive Email node keeps its progress, one entry per scope (an IMAP folder on a
 * server and user, or a POP3 maildrop). The receive connection hands each node its store; the
 * default is FileProgressStore, and a store of another kind only has to keep what `set` was given.
 */
export interface ProgressStore {
  folder(scope: string): FolderProgress | undefined;
  maildrop(scope: string): MaildropProgress | undefined;
  /** Must be durable when it returns: a crash right after loses nothing that was set. */
  set(scope: string, value: FolderProgress | MaildropProgress): void;
  /** Forgets everything, for a node that was deleted from the flow. */
  remove(): void;
}

type Scopes = Record<string, FolderProgress | MaildropProgress>;

/**
 * A small JSON file per receive node that must survive a Node-RED restart even when no
 * persistent context store is configured, which is why this is a file of our own and not
 * node context. Writes are atomic (write + rename) so a crash leaves the old or the new state.
 */
export class FileProgressStore implements ProgressStore {
  private scopes: Scopes;

  constructor(private readonly file: string) {
    this.scopes = FileProgressStore.load(file);
  }

  private static load(file: string): Scopes {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return {};
    }
    try {
      const parsed = JSON.parse(text) as { scopes?: Scopes };
      return parsed.scopes ?? {};
    } catch {
      // Keep the unreadable file for inspection rather than overwrite the evidence.
      fs.renameSync(file, `${file}.corrupt-${Date.now()}`);
      return {};
    }
  }

  folder(scope: string): FolderProgress | undefined {
    const value = this.scopes[scope];
    return value && 'uidValidity' in value ? value : undefined;
  }

  maildrop(scope: string): MaildropProgress | undefined {
    const value = this.scopes[scope];
    return value && 'emitted' in value ? value : undefined;
  }

  set(scope: string, value: FolderProgress | MaildropProgress): void {
    this.scopes[scope] = value;
    writeFileAtomic(this.file, JSON.stringify({ version: 1, scopes: this.scopes }));
  }

  remove(): void {
    this.scopes = {};
    fs.rmSync(this.file, { force: true });
  }
}
