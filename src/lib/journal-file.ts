import fs from 'node:fs';
import { writeFileAtomic } from './atomic-file';

/**
 * A JSON state kept as a snapshot file plus an append-only journal beside it (`<file>.journal`),
 * so that saving a small change costs one append, not a rewrite and rename of the whole state.
 * The journal's first line names the snapshot generation it continues; a snapshot is written
 * (atomically, then the journal restarted) only now and then, when the journal has grown. A crash
 * between the two leaves a journal of the old generation, which is ignored: the new snapshot
 * already holds all of it. A crash in the middle of an append leaves a torn last line, which is
 * ignored: the change it carried had not been written when the crash came.
 */
export interface JournalContents {
  /** The snapshot's JSON, without the generation; undefined when there is no snapshot file. */
  snapshot: Record<string, unknown> | undefined;
  /** The journal's entries that continue this snapshot, oldest first. */
  entries: unknown[];
  generation: number;
}

interface Header {
  journal: number;
}

export function journalPath(file: string): string {
  return `${file}.journal`;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Reads a journaled file. A snapshot that is not JSON is moved aside (kept for inspection rather
 * than overwritten) and the state starts empty; so is a journal with a bad line before its end.
 */
export function readJournaled(file: string): JournalContents {
  const text = readText(file);
  let snapshot: Record<string, unknown> | undefined;
  if (text !== undefined) {
    try {
      snapshot = JSON.parse(text) as Record<string, unknown>;
    } catch {
      setAside(file);
      setAside(journalPath(file));
      return { snapshot: undefined, entries: [], generation: 0 };
    }
  }
  const generation = typeof snapshot?.journal === 'number' ? snapshot.journal : 0;
  if (snapshot) delete snapshot.journal;
  const lines = (readText(journalPath(file)) ?? '').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const entries: unknown[] = [];
  let header: Header | undefined;
  for (let i = 0; i < lines.length; i += 1) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(lines[i]);
    } catch {
      // The last line may be torn by a crash mid-append; a bad line before it is damage.
      if (i < lines.length - 1) setAside(journalPath(file), true);
      break;
    }
    if (i === 0) header = parsed as Header;
    else entries.push(parsed);
  }
  if (!header || header.journal !== generation) return { snapshot, entries: [], generation };
  return { snapshot, entries, generation };
}

function setAside(file: string, copy = false): void {
  const aside = `${file}.corrupt-${Date.now()}`;
  try {
    if (copy) fs.copyFileSync(file, aside);
    else fs.renameSync(file, aside);
  } catch {
    // Nothing there to keep.
  }
}

/** Appends to a journaled file and compacts it into a new snapshot. One writer per file. */
export class JournalWriter {
  private fd: number | undefined;
  /** Bytes appended since the last snapshot. */
  journalBytes = 0;
  /** Size of the last snapshot written. */
  snapshotBytes = 0;
  /** Appended since the last flush. */
  private unflushed = false;

  constructor(
    private readonly file: string,
    private generation: number,
  ) {}

  get isOpen(): boolean {
    return this.fd !== undefined;
  }

  /** A new generation: `snapshot` replaces everything, and the journal starts empty after it. */
  compact(snapshot: Record<string, unknown>): void {
    this.close();
    const next = this.generation + 1;
    const text = JSON.stringify({ ...snapshot, journal: next });
    writeFileAtomic(this.file, text);
    const journal = journalPath(this.file);
    writeFileAtomic(journal, `${JSON.stringify({ journal: next } satisfies Header)}\n`);
    this.fd = fs.openSync(journal, 'a');
    this.generation = next;
    this.snapshotBytes = text.length;
    this.journalBytes = 0;
    this.unflushed = false;
  }

  /**
   * One entry, on one line, in one write: once it returns, the entry survives a crash of the
   * process (it is in the kernel's hands). Call compact() first.
   */
  append(entry: unknown): void {
    if (this.fd === undefined) throw new Error('journal not open');
    const line = `${JSON.stringify(entry)}\n`;
    fs.writeSync(this.fd, line);
    this.journalBytes += line.length;
    this.unflushed = true;
  }

  /** Asks the disk to keep what was appended so far (the kernel may hold it back otherwise). */
  flush(): void {
    if (this.fd === undefined || !this.unflushed) return;
    fs.fdatasyncSync(this.fd);
    this.unflushed = false;
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }

  remove(): void {
    this.close();
    fs.rmSync(this.file, { force: true });
    fs.rmSync(journalPath(this.file), { force: true });
  }
}
