// A second, real IMAP client on the same mailbox as the node under test: what a mail program or a
// colleague does while a flow reads the mailbox. Each activity runs in its own loop on its own
// session until stop(); what it did is recorded so a test can tell which emails it touched.
import type { ImapFlow } from 'imapflow';
import { adminClient } from './servers';
import { sleep } from './wait';

export type BusyActivity =
  /** Adds and removes \Flagged on every message, as fast as the server answers or with a pause after each round. */
  | { kind: 'toggle-flags'; pauseMs?: number }
  /** Expunges every `every`-th UID (by UID), one each `pauseMs`, up to `upTo`. */
  | { kind: 'expunge'; every: number; upTo: number; pauseMs: number }
  /** Marks the given UIDs read, one each `pauseMs`. */
  | { kind: 'mark-read'; uids: number[]; pauseMs: number }
  /** Appends the given raw messages, one each `pauseMs`. */
  | { kind: 'append'; messages: Buffer[]; pauseMs: number };

export interface BusyRecord {
  expunged: number[];
  markedRead: number[];
  appended: number;
  /** Rounds of the flag toggle (each one \Flagged on and off for every message). */
  toggles: number;
  /** Sessions lost and opened again (only with `reconnect`). */
  reconnects: number;
}

export interface BusyOptions {
  folder?: string;
  /**
   * Keep toggling flags when the session is lost (a kick, a server restart): open a new one and
   * carry on, as a mail program does. Without it a lost session fails the activity.
   */
  reconnect?: boolean;
}

async function open(user: string, folder: string): Promise<ImapFlow> {
  const client = await adminClient(user);
  await client.mailboxOpen(folder);
  return client;
}

export class BusyClient {
  readonly record: BusyRecord = { expunged: [], markedRead: [], appended: 0, toggles: 0, reconnects: 0 };
  private running = true;
  private readonly loops: Array<Promise<void>> = [];
  private readonly clients = new Set<ImapFlow>();
  private readonly folder: string;

  private constructor(private readonly user: string, private readonly options: BusyOptions) {
    this.folder = options.folder ?? 'INBOX';
  }

  /** Starts every activity at once, each on a session of its own. */
  static async start(user: string, activities: BusyActivity[], options: BusyOptions = {}): Promise<BusyClient> {
    const busy = new BusyClient(user, options);
    for (const activity of activities) {
      const client = await open(user, busy.folder);
      busy.clients.add(client);
      busy.loops.push(busy.keepRunning(client, activity));
    }
    return busy;
  }

  private async keepRunning(first: ImapFlow, activity: BusyActivity): Promise<void> {
    let client = first;
    for (;;) {
      try {
        await this.run(client, activity);
        return;
      } catch (err) {
        // Only the flag toggle can simply start over on a new session.
        if (!this.options.reconnect || activity.kind !== 'toggle-flags' || !this.running) throw err;
        this.clients.delete(client);
        client.close();
        for (;;) {
          await sleep(250);
          if (!this.running) return;
          try {
            client = await open(this.user, this.folder);
            break;
          } catch {
            // The server is not back yet.
          }
        }
        this.clients.add(client);
        this.record.reconnects += 1;
      }
    }
  }

  get active(): boolean {
    return this.running;
  }

  /** Ends every loop after its current command and logs the sessions out; rethrows a loop's failure. */
  async stop(): Promise<BusyRecord> {
    this.running = false;
    try {
      await Promise.all(this.loops);
    } finally {
      await Promise.all([...this.clients].map((c) => c.logout().catch(() => c.close())));
    }
    return this.record;
  }

  /**
   * Does one thing at once, on a session of its own, and resolves when the server confirmed it:
   * for a test that holds the node at an exact point (say, between its SEARCH and its FETCH).
   */
  async now(kind: 'expunge' | 'mark-read', uids: number[]): Promise<void> {
    if (uids.length === 0) return;
    const client = await open(this.user, this.folder);
    try {
      if (kind === 'expunge') {
        await client.messageDelete(uids.join(','), { uid: true });
        this.record.expunged.push(...uids);
      } else {
        await client.messageFlagsAdd(uids.join(','), ['\\Seen'], { uid: true });
        this.record.markedRead.push(...uids);
      }
    } finally {
      await client.logout().catch(() => client.close());
    }
  }

  /** Resolves once every activity with an end (all but toggle-flags) has done all it was given. */
  async finished(): Promise<void> {
    await Promise.all(this.loops);
  }

  private async run(client: ImapFlow, activity: BusyActivity): Promise<void> {
    switch (activity.kind) {
      case 'toggle-flags':
        while (this.running) {
          await client.messageFlagsAdd('1:*', ['\\Flagged']);
          await client.messageFlagsRemove('1:*', ['\\Flagged']);
          this.record.toggles += 1;
          if (activity.pauseMs) await sleep(activity.pauseMs);
        }
        return;
      case 'expunge':
        for (let uid = activity.every; uid <= activity.upTo && this.running; uid += activity.every) {
          await client.messageDelete(String(uid), { uid: true });
          this.record.expunged.push(uid);
          await sleep(activity.pauseMs);
        }
        return;
      case 'mark-read':
        for (const uid of activity.uids) {
          if (!this.running) return;
          await client.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true });
          this.record.markedRead.push(uid);
          await sleep(activity.pauseMs);
        }
        return;
      case 'append':
        for (const raw of activity.messages) {
          if (!this.running) return;
          await client.append(this.folder, raw);
          this.record.appended += 1;
          await sleep(activity.pauseMs);
        }
        return;
    }
  }

  toString(): string {
    return `busy client on ${this.user}/${this.folder}`;
  }
}
