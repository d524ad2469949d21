import type { StartFrom } from '../../mail-source';
import type { MaildropProgress } from '../../progress-store';

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
  ) {}

  static open(stored: MaildropProgress | undefined, listed: string[], start: StartFrom): MaildropState {
    const present = new Set(listed);
    if (!stored) {
      return new MaildropState(new Set(), new Set(), start === 'new' ? present : new Set(), new Map(), new Set(), true);
    }
    const keep = (list: string[] | undefined): Set<string> => new Set((list ?? []).filter((uidl) => present.has(uidl)));
    const unsettled = new Map(Object.entries(stored.unsettled ?? {}).filter(([uidl]) => present.has(uidl)));
    const state = new MaildropState(keep(stored.emitted), keep(stored.skipped), keep(stored.preexisting), unsettled, keep(stored.owedDeletes), false);
    const sizes: Array<[number, number]> = [
      [state.emitted.size, stored.emitted.length],
      [state.skipped.size, stored.skipped.length],
      [state.preexisting.size, (stored.preexisting ?? []).length],
      [state.unsettled.size, Object.keys(stored.unsettled ?? {}).length],
      [state.owedDeletes.size, (stored.owedDeletes ?? []).length],
    ];
    const pruned = sizes.some(([now, before]) => now !== before);
    return pruned ? new MaildropState(state.emitted, state.skipped, state.preexisting, state.unsettled, state.owedDeletes, true) : state;
  }

  /** Not settled, not skipped, not there before the node's start, not owed a delete. */
  isNew(uidl: string): boolean {
    return !this.emitted.has(uidl) && !this.skipped.has(uidl) && !this.preexisting.has(uidl) && !this.owedDeletes.has(uidl);
  }

  toProgress(): MaildropProgress {
    const progress: MaildropProgress = { emitted: [...this.emitted], skipped: [...this.skipped] };
    if (this.preexisting.size > 0) progress.preexisting = [...this.preexisting];
    if (this.unsettled.size > 0) progress.unsettled = Object.fromEntries(this.unsettled);
    if (this.owedDeletes.size > 0) progress.owedDeletes = [...this.owedDeletes];
    return progress;
  }
}
