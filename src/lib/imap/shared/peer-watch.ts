/**
 * What this instance has seen of the other instances' claims folders: their HIGHESTMODSEQ and
 * since when it has stood still, on this instance's own clock (the instances' clocks are never
 * compared). A folder whose HIGHESTMODSEQ has not moved for a whole lease belongs to an instance
 * that stopped renewing its heartbeat: it is dead.
 */
export class PeerWatch {
  private readonly seen = new Map<string, { modseq: string; since: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Records what STATUS said of a peer's folder; true when its claims may be taken over. */
  observe(folder: string, highestModseq: string, leaseMs: number): boolean {
    const at = this.now();
    const before = this.seen.get(folder);
    if (!before || before.modseq !== highestModseq) {
      this.seen.set(folder, { modseq: highestModseq, since: at });
      return false;
    }
    return at - before.since >= leaseMs;
  }

  /** After a take-over the folder starts a new observation. */
  forget(folder: string): void {
    this.seen.delete(folder);
  }
}
