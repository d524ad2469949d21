import fs from 'node:fs';
import path from 'node:path';

/** How far an IMAP folder was read, valid only while the folder keeps its UIDVALIDITY. */
export interface FolderProgress {
  uidValidity: string;
  /** Highest UID emitted; 0 before the first. Only used with Unseen Only off. */
  lastUid: number;
  /** UIDs reported as unreadable or too large: never fetched again. */
  skipped: number[];
  /**
   * Unseen Only: UIDs emitted whose \Seen store is not confirmed yet. After a broken connection
   * they are marked on the next poll instead of being emitted again.
   */
  pendingSeen?: number[];
}

/** POP3 has no flags, so "new" is "UIDL not in emitted". */
export interface MaildropProgress {
  emitted: string[];
  skipped: string[];
}

type Scopes = Record<string, FolderProgress | MaildropProgress>;

/**
 * A small JSON file per receive node that must survive a Node-RED restart even when no
 * persistent context store is configured, which is why this is a file of our own and not
 * node context. Writes are atomic (write + rename) so a crash leaves the old or the new state.
 */
export class StateStore {
  private scopes: Scopes;

  constructor(private readonly file: string) {
    this.scopes = StateStore.load(file);
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

  maildrop(scope: string): MaildropProgress {
    const value = this.scopes[scope];
    return value && 'emitted' in value ? value : { emitted: [], skipped: [] };
  }

  set(scope: string, value: FolderProgress | MaildropProgress): void {
    this.scopes[scope] = value;
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify({ version: 1, scopes: this.scopes }));
    fs.renameSync(tmp, this.file);
  }

  /** Forgets everything, for a node that was deleted from the flow. */
  remove(): void {
    this.scopes = {};
    fs.rmSync(this.file, { force: true });
  }
}
