// What the benchmark's parent (drain.ts) and each child run (run-one.ts) tell each other.

export type Implementation = 'node' | 'imapflow' | 'node-pop3';
/**
 * settle-emit / settle-ack: the drain's messages over plain IMAP through the parent's counting
 * proxy; emit marks \Seen as emitted, ack moves each email into Done once Email Done has it.
 */
export type Scenario = 'idle' | 'drain' | 'attachment' | 'settle-emit' | 'settle-ack';

export interface JobSpec {
  id: string;
  scenario: Scenario;
  protocol: 'imap' | 'pop3';
  implementation: Implementation;
  /** Our node only: its Size limit setting (MiB); unset = the node's default. */
  sizeLimitMiB?: number;
  user: string;
  password: string;
  host: string;
  port: number;
  /** tls: implicit TLS, certificate pinned (default); none: plain IMAP (through the counting proxy). */
  security?: 'tls' | 'none';
  certificatePem: string;
  expect: {
    count: number;
    attachment?: { filename: string; size: number; sha256: string };
  };
  /** The whole run, connect to logout, must end within this. */
  timeoutMs: number;
  /** Only where bytes on the socket can be watched (node-pop3): this long without a byte while a reply is due = stalled. */
  stallMs: number;
}

export type Outcome = 'ok' | 'stalled' | 'timeout' | 'skipped' | 'failed';

export interface RunResult {
  outcome: Outcome;
  /** What went wrong or what was checked, in a few words. */
  detail: string;
  /** Messages fully received and parsed (our node: that reached the next node). */
  count: number;
  /** Start (deploy, or connect for the bare libraries) to the end of the work (poll finished / logout), or to giving up. */
  timeMs: number;
  /** Start to the first parsed message. */
  firstMs?: number;
  /** Every message and attachment matched what was put in the mailbox. */
  verified: boolean;
  /**
   * Peak RSS of this process alone, KiB: VmHWM from /proc/self/status. Not
   * process.resourceUsage().maxRSS: on Linux a spawned child's maxRSS starts at the parent's peak
   * (the kernel carries the old address space's high-water mark over exec, and libuv spawns with
   * a vfork-style clone, so that address space is the parent's).
   */
  peakRssKiB: number;
  /** process.resourceUsage().maxRSS, KiB, for comparison (see above why it is not used). */
  rusageMaxRssKiB: number;
  /** Highest heapUsed + external seen by sampling every 20 ms (misses peaks shorter than that). */
  peakHeapExternalBytes: number;
}

export type ChildMessage =
  | { type: 'progress'; count: number }
  | { type: 'result'; result: RunResult };
