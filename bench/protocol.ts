// What the benchmark's parent (drain.ts) and each child run (run-one.ts) tell each other.

/**
 * node: our node in a real Node-RED process (settle scenarios: in node-red-node-test-helper);
 * pop3-bare: our own minimal RETR loop (pop3-bare.ts); node-pop3: the library, opt-in only.
 */
export type Implementation = 'node' | 'imapflow' | 'pop3-bare' | 'node-pop3';
/**
 * drain: the drain's ~4 kB messages (--count, 1,000); backlog: the same with --backlog-count
 * (10,000). settle-emit / settle-ack: the drain's messages over plain IMAP through the parent's
 * counting proxy; emit marks \Seen as emitted, ack moves each email into Done once Email Done has it.
 */
export type Scenario = 'idle' | 'drain' | 'backlog' | 'attachment' | 'settle-emit' | 'settle-ack';

export interface JobSpec {
  id: string;
  scenario: Scenario;
  protocol: 'imap' | 'pop3';
  implementation: Implementation;
  /** Our node only: its Size limit setting (MiB); unset = the node's default. */
  sizeLimitMiB?: number;
  /** The node's default Size limit (MiB), for the report. */
  defaultSizeLimitMiB?: number;
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
  /**
   * Start (the deploy request for our node in Node-RED, helper.load() in the test helper, the
   * client's creation for the bare loops) to the end of the work (the later of the last email
   * and the poll's end, \Seen stored / logout), or to giving up.
   */
  timeMs: number;
  /** Start to the first parsed message. */
  firstMs?: number;
  /** Every message and attachment matched what was put in the mailbox. */
  verified: boolean;
  /** RSS (VmRSS) of the measured process when the clock started, KiB. */
  rssAtStartKiB: number;
  /** VmHWM was set back to the RSS of that moment (clear_refs); false: peakRssKiB is since the process started. */
  peakReset: boolean;
  /**
   * Peak RSS of the measured process (the Node-RED process for our node, the run's own process
   * for the bare loops), KiB: VmHWM from /proc/<pid>/status, reset at the clock start. Not
   * process.resourceUsage().maxRSS: on Linux a spawned child's maxRSS starts at the parent's peak
   * (the kernel carries the old address space's high-water mark over exec, and libuv spawns with
   * a vfork-style clone, so that address space is the parent's).
   */
  peakRssKiB: number;
  /** process.resourceUsage().maxRSS, KiB, for comparison (see above why it is not used). */
  rusageMaxRssKiB: number;
  /**
   * Highest heapUsed + external seen by sampling every 20 ms (misses peaks shorter than that), of
   * the run's own process: 0 for our node in Node-RED, whose heap this process cannot see.
   */
  peakHeapExternalBytes: number;
  /** Our node in Node-RED: how long Node-RED took to start (before the clock), ms. */
  startupMs?: number;
}

export type ChildMessage =
  /** measuredPid: the Node-RED process the run started, which the parent ends too if it must kill the run. */
  | { type: 'progress'; count: number; measuredPid?: number }
  | { type: 'result'; result: RunResult };
