// The benchmark's parts and their run ids: scripts/bench.mjs reads PARTS to pick what a command
// line asks for (`npm run bench -- pop3-drain push-latency`) and which options go to which part;
// drain.ts runs PLANS.
import type { Implementation, Scenario } from './protocol';

export interface Plan {
  id: string;
  scenario: Scenario;
  protocol: 'imap' | 'pop3';
  implementation: Implementation;
  implementationLabel: string;
  /** -1: run only when the attachment message is over the node's default Size limit, with the setting raised above it. */
  sizeLimitMiB?: number;
  /** Runs only when a word on the command line picks it, not in a plain `npm run bench`. */
  optIn?: boolean;
  /**
   * Runs only when the word that picks it contains this too (`node-pop3`), so that `pop3-drain`
   * does not bring in a library that hangs for 15 s or takes 90 s on the attachment.
   */
  namedBy?: string;
}

const OURS = 'mailwire node in Node-RED';
const OURS_RAISED = 'mailwire node, Size limit raised';
const OURS_HELPER = 'mailwire node (test helper)';
const IMAPFLOW = 'imapflow + mailparser';
const POP3_BARE = 'bare RETR loop + mailparser';
const NODE_POP3 = 'node-pop3 RETR loop + mailparser';
const OURS_ACK = 'mailwire node + Email Done, move to Done';
const IMAPFLOW_SEEN = 'imapflow: search, fetch, parse, store \\Seen';
const IMAPFLOW_MOVE = 'imapflow: search, fetch, parse, UID MOVE';

/**
 * Each of our rows is compared with the bare row of its scenario and protocol (imapflow for IMAP,
 * our own RETR loop for POP3). node-pop3 stays as an opt-in row: it hangs on most drains.
 */
export const PLANS: Plan[] = [
  // The empty mailbox: what connecting, finding nothing and logging out costs. Opt-in since the
  // drain rows carry the RSS at the clock start themselves.
  { id: 'imap-idle-node', scenario: 'idle', protocol: 'imap', implementation: 'node', implementationLabel: OURS, optIn: true },
  { id: 'imap-idle-imapflow', scenario: 'idle', protocol: 'imap', implementation: 'imapflow', implementationLabel: IMAPFLOW, optIn: true },
  { id: 'pop3-idle-node', scenario: 'idle', protocol: 'pop3', implementation: 'node', implementationLabel: OURS, optIn: true },
  { id: 'pop3-idle-bare', scenario: 'idle', protocol: 'pop3', implementation: 'pop3-bare', implementationLabel: POP3_BARE, optIn: true },
  { id: 'imap-drain-node', scenario: 'drain', protocol: 'imap', implementation: 'node', implementationLabel: OURS },
  { id: 'imap-drain-imapflow', scenario: 'drain', protocol: 'imap', implementation: 'imapflow', implementationLabel: IMAPFLOW },
  { id: 'pop3-drain-node', scenario: 'drain', protocol: 'pop3', implementation: 'node', implementationLabel: OURS },
  { id: 'pop3-drain-bare', scenario: 'drain', protocol: 'pop3', implementation: 'pop3-bare', implementationLabel: POP3_BARE },
  { id: 'pop3-drain-node-pop3', scenario: 'drain', protocol: 'pop3', implementation: 'node-pop3', implementationLabel: NODE_POP3, optIn: true, namedBy: 'node-pop3' },
  { id: 'imap-attachment-node', scenario: 'attachment', protocol: 'imap', implementation: 'node', implementationLabel: OURS },
  { id: 'imap-attachment-node-raised', scenario: 'attachment', protocol: 'imap', implementation: 'node', implementationLabel: OURS_RAISED, sizeLimitMiB: -1 },
  { id: 'imap-attachment-imapflow', scenario: 'attachment', protocol: 'imap', implementation: 'imapflow', implementationLabel: IMAPFLOW },
  { id: 'pop3-attachment-node', scenario: 'attachment', protocol: 'pop3', implementation: 'node', implementationLabel: OURS },
  { id: 'pop3-attachment-node-raised', scenario: 'attachment', protocol: 'pop3', implementation: 'node', implementationLabel: OURS_RAISED, sizeLimitMiB: -1 },
  { id: 'pop3-attachment-bare', scenario: 'attachment', protocol: 'pop3', implementation: 'pop3-bare', implementationLabel: POP3_BARE },
  { id: 'pop3-attachment-node-pop3', scenario: 'attachment', protocol: 'pop3', implementation: 'node-pop3', implementationLabel: NODE_POP3, optIn: true, namedBy: 'node-pop3' },
  // The backlog: 10,000 waiting emails next to the drain's 1,000 (memory flat, time per email flat).
  { id: 'imap-backlog-node', scenario: 'backlog', protocol: 'imap', implementation: 'node', implementationLabel: OURS },
  { id: 'imap-backlog-imapflow', scenario: 'backlog', protocol: 'imap', implementation: 'imapflow', implementationLabel: IMAPFLOW },
  // Issue 11: what settling costs. Plain IMAP through a counting proxy, so the commands can be
  // counted; our node in the test helper. Only when asked for (`npm run bench -- settle-drain`).
  { id: 'settle-drain-emit-node', scenario: 'settle-emit', protocol: 'imap', implementation: 'node', implementationLabel: OURS_HELPER, optIn: true },
  { id: 'settle-drain-emit-imapflow', scenario: 'settle-emit', protocol: 'imap', implementation: 'imapflow', implementationLabel: IMAPFLOW_SEEN, optIn: true },
  { id: 'settle-drain-ack-node', scenario: 'settle-ack', protocol: 'imap', implementation: 'node', implementationLabel: OURS_ACK, optIn: true },
  { id: 'settle-drain-ack-imapflow', scenario: 'settle-ack', protocol: 'imap', implementation: 'imapflow', implementationLabel: IMAPFLOW_MOVE, optIn: true },
];

/** One script of the benchmark (compiled to .build/bench/), the run ids it answers to and its options. */
export interface BenchPart {
  script: string;
  ids: string[];
  /** Its `--name=value` options; scripts/bench.mjs hands each part only its own. */
  options: string[];
  /** Runs only when a word on the command line picks one of its ids. */
  optIn?: boolean;
}

export const DRAIN_OPTIONS = ['count', 'backlog-count', 'attachment-mib', 'timeout-s', 'stall-s', 'repeat', 'backlog-repeat', 'backlog-timeout-s', 'json'];

export const SHARED_OPTIONS = ['shared-count', 'shared-max', 'shared-delay-ms', 'shared-timeout-s', 'shared-repeat'];

/** In the order `npm run bench` runs them. A filter word picks every run id that contains it. */
export const PARTS: BenchPart[] = [
  { script: 'drain.js', ids: PLANS.map((p) => p.id), options: DRAIN_OPTIONS },
  { script: 'send.js', ids: ['send'], options: [] },
  { script: 'push.js', ids: ['push-latency'], options: ['push-count', 'poll-count', 'poll-delay-s'] },
  // idle-50 is the part's former name (50 nodes only), kept so that older command lines still pick it.
  { script: 'idle-cost.js', ids: ['idle-scale', 'idle-50'], options: ['idle-nodes', 'idle-small-nodes', 'idle-push-nodes', 'warmup-s', 'measure-s'] },
  { script: 'shared.js', ids: ['shared-3'], options: SHARED_OPTIONS, optIn: true },
  // What an OAuth2 login costs over a password login, and a sign-in from the editor in Chromium.
  // Only when asked for (`npm run bench -- oauth-login`), as settle-drain.
  { script: 'oauth-login.js', ids: ['oauth-login'], options: ['login-count', 'signin-count'], optIn: true },
];
