import type { StartFrom } from '../../mail-source';
import type { MaildropProgress } from '../../progress-store';

/**
 * Stage 1 of a POP3 poll: what the node knows of a maildrop, trimmed to the UIDLs the server
 * lists now (a UIDL that left never comes back, so forgetting it keeps the progress small).
 * With no progress yet and start "new", everything listed now is set aside for good.
 */
export class MaildropState {
  private constructor(
    readonly emitted: Set<string>,
    readonly skipped: Set<string>,
    readonly preexisting: Set<string>,
    /** True when the stored progress differs from this (first run, or UIDLs that left). */
    readonly changed: boolean,
  ) {}

  static open(stored: MaildropProgress | undefined, listed: string[], start: StartFrom): MaildropState {
    const present = new Set(listed);
    if (!stored) {
      return new MaildropState(new Set(), new Set(), start === 'new' ? present : new Set(), true);
    }
    const keep = (list: string[] | undefined): Set<string> => new Set((list ?? []).filter((uidl) => present.has(uidl)));
    const state = new MaildropState(keep(stored.emitted), keep(stored.skipped), keep(stored.preexisting), false);
    const pruned = state.emitted.size !== stored.emitted.length || state.skipped.size !== stored.skipped.length || state.preexisting.size !== (stored.preexisting ?? []).length;
    return pruned ? new MaildropState(state.emitted, state.skipped, state.preexisting, true) : state;
  }

  /** Not emitted, not skipped, not there before the node's start. */
  isNew(uidl: string): boolean {
    return !this.emitted.has(uidl) && !this.skipped.has(uidl) && !this.preexisting.has(uidl);
  }

  toProgress(): MaildropProgress {
    const progress: MaildropProgress = { emitted: [...this.emitted], skipped: [...this.skipped] };
    if (this.preexisting.size > 0) progress.preexisting = [...this.preexisting];
    return progress;
  }
}
