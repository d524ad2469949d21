import { JournalWriter, readJournaled } from './journal-file';
import { applyChange } from './progress-change';
import type { ProgressChange } from './progress-change';
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
  /**
   * `value` is the scope's whole progress now. `change`, when given, is exactly what differs from
   * the value set last for this scope, so a store may write only that (one email's worth) instead
   * of the whole value; a store may also ignore it. When set returns, what it was given survives
   * a crash of the process.
   */
  set(scope: string, value: FolderProgress | MaildropProgress, change?: ProgressChange): void;
  /** Asks for what was set so far to reach the disk (a power cut may otherwise lose the last seconds). */
  flush(): void;
  /** The node stops using the store (a redeploy or shutdown); its progress stays. */
  close(): void;
  /** Forgets everything, for a node that was deleted from the flow. */
  remove(): void;
}

type Scopes = Record<string, FolderProgress | MaildropProgress>;

/** One journal line: a scope's whole new value, or what changed in it. */
type JournalEntry = { s: string; v: FolderProgress | MaildropProgress } | { s: string; c: ProgressChange };

/** The journal is folded into a new snapshot once it is this large and larger than the snapshot. */
const MIN_COMPACT_BYTES = 64 * 1024;

/**
 * A small JSON file per receive node (with its journal beside it) that must survive a Node-RED
 * restart even when no persistent context store is configured, which is why this is a file of
 * our own and not node context. Each set appends one line to the journal (one write, no rename),
 * which makes an emitted email cost O(1) however large the progress is; the journal is folded
 * into a fresh snapshot when it has grown to the snapshot's size, so the compactions cost O(1)
 * per email too.
 */
export class FileProgressStore implements ProgressStore {
  private scopes: Scopes;
  private readonly writer: JournalWriter;

  constructor(file: string) {
    const contents = readJournaled(file);
    this.scopes = (contents.snapshot?.scopes as Scopes | undefined) ?? {};
    for (const entry of contents.entries as JournalEntry[]) this.replay(entry);
    this.writer = new JournalWriter(file, contents.generation);
  }

  private replay(entry: JournalEntry): void {
    if ('v' in entry) {
      this.scopes[entry.s] = entry.v;
      return;
    }
    const value = this.scopes[entry.s];
    if (value) applyChange(value, entry.c);
  }

  folder(scope: string): FolderProgress | undefined {
    const value = this.scopes[scope];
    return value && 'uidValidity' in value ? value : undefined;
  }

  maildrop(scope: string): MaildropProgress | undefined {
    const value = this.scopes[scope];
    return value && 'emitted' in value ? value : undefined;
  }

  set(scope: string, value: FolderProgress | MaildropProgress, change?: ProgressChange): void {
    const known = this.scopes[scope] !== undefined;
    this.scopes[scope] = value;
    // The first write of this store starts a new generation from the whole state, so the journal
    // never continues one written by an earlier instance (a node redeployed) that may have been
    // cut short.
    if (!this.writer.isOpen) {
      this.compact();
      return;
    }
    this.writer.append(change && known ? { s: scope, c: change } : { s: scope, v: value });
    if (this.writer.journalBytes > Math.max(MIN_COMPACT_BYTES, this.writer.snapshotBytes)) this.compact();
  }

  private compact(): void {
    this.writer.compact({ version: 2, scopes: this.scopes });
  }

  flush(): void {
    this.writer.flush();
  }

  close(): void {
    this.writer.close();
  }

  remove(): void {
    this.scopes = {};
    this.writer.remove();
  }
}
