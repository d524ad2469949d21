import type { StartFrom } from '../../mail-source';
import type { MaildropProgress } from '../../progress-store';
import type { ProgressChange } from '../../progress-change';

/**
 * Stage 1 of a POP3 poll: what the node knows of a maildrop, trimmed to the UIDLs the server
 * lists now (a UIDL that left never comes back, so forgetting it keeps the progress small).
 * With no progress yet and start "new", everything listed now is set aside for good.
 */
export class MaildropState {
  private constructor(
    /** Emitted and settled: never emitted again. */
    readonly emitted: Set<string>,
    readonly skipped: Set<string>,
    readonly preexisting: Set<string>,
    /** settle ack: emitted, not settled yet, with how often each was emitted. */
    readonly unsettled: Map<string, number>,
    /** settle ack: acknowledged with delete; DELE'd again each session until the server no longer lists them. */
    readonly owedDeletes: Set<string>,
    /** True when the stored progress differs from this (first run, or UIDLs that left). */
    readonly changed: boolean,
  ) {
    this.progress = this.toProgress();
  }

  /**
   * The progress as the store keeps it, kept up to date by the mark methods below, which also
   * say what they changed: an emitted email costs the store one UIDL, not the whole list.
   */
  readonly progress: MaildropProgress;

  /** Emitted and settled (settle emit). */
  markEmitted(uidl: string): ProgressChange {
    this.emitted.add(uidl);
    this.progress.emitted.push(uidl);
    return { append: { emitted: [uidl] } };
  }

  /** Emitted once more and waiting for its acknowledgement (settle ack). */
  countEmit(uidl: string): ProgressChange {
    const count = (this.unsettled.get(uidl) ?? 0) + 1;
    this.unsettled.set(uidl, count);
    (this.progress.unsettled ??= {})[uidl] = count;
    return { entries: { unsettled: { [uidl]: count } } };
  }

  /** Reported and never emitted again. */
  markSkipped(uidl: string): ProgressChange {
    this.skipped.add(uidl);
    this.progress.skipped.push(uidl);
    this.unsettled.delete(uidl);
    delete (this.progress.unsettled ??= {})[uidl];
    return { append: { skipped: [uidl] }, entries: { unsettled: { [uidl]: null } } };
  }

  static open(stored: MaildropProgress | undefined, listed: string[], start: StartFrom): MaildropState {
    const present = new Set(listed);
    if (!stored) {
      return new MaildropState(new Set(), new Set(), start === 'new' ? present : new Set(), new Map(), new Set(), true);
    }
    const keep = (list: string[] | undefined): Set<string> => new Set((list ?? []).filter((uidl) => present.has(uidl)));
    const emitted = keep(stored.emitted);
    const skipped = keep(stored.skipped);
    const preexisting = keep(stored.preexisting);
    const unsettled = new Map(Object.entries(stored.unsettled ?? {}).filter(([uidl]) => present.has(uidl)));
    const owedDeletes = keep(stored.owedDeletes);
    const pruned =
      emitted.size !== stored.emitted.length ||
      skipped.size !== stored.skipped.length ||
      preexisting.size !== (stored.preexisting ?? []).length ||
      unsettled.size !== Object.keys(stored.unsettled ?? {}).length ||
      owedDeletes.size !== (stored.owedDeletes ?? []).length;
    return new MaildropState(emitted, skipped, preexisting, unsettled, owedDeletes, pruned);
  }

  /** Not settled, not skipped, not there before the node's start, not owed a delete. */
  isNew(uidl: string): boolean {
    return !this.emitted.has(uidl) && !this.skipped.has(uidl) && !this.preexisting.has(uidl) && !this.owedDeletes.has(uidl);
  }

  private toProgress(): MaildropProgress {
    const progress: MaildropProgress = { emitted: [...this.emitted], skipped: [...this.skipped] };
    if (this.preexisting.size > 0) progress.preexisting = [...this.preexisting];
    if (this.unsettled.size > 0) progress.unsettled = Object.fromEntries(this.unsettled);
    if (this.owedDeletes.size > 0) progress.owedDeletes = [...this.owedDeletes];
    return progress;
  }
}
