// A bare imapflow session idling on a folder, beside the node under test: it records when the
// server announced each new message (EXISTS), which is the moment push latency is measured from.
import { ImapFlow } from 'imapflow';
import { serverInfo } from './servers';

export class IdleObserver {
  /** When each EXISTS arrived, with the message count it announced. */
  readonly announcements: Array<{ at: number; count: number }> = [];
  private running = true;
  private loop: Promise<void> | undefined;

  private constructor(private readonly client: ImapFlow) {}

  static async start(user: string, folder = 'INBOX'): Promise<IdleObserver> {
    const info = serverInfo();
    const client = new ImapFlow({ host: '127.0.0.1', port: info.ports.imap, secure: false, doSTARTTLS: false, auth: { user, pass: info.password }, logger: false, disableAutoIdle: true });
    client.on('error', () => undefined);
    await client.connect();
    await client.mailboxOpen(folder, { readOnly: true });
    const observer = new IdleObserver(client);
    client.on('exists', (data: { count: number; prevCount: number }) => {
      if (data.count > data.prevCount) observer.announcements.push({ at: Date.now(), count: data.count });
    });
    observer.loop = (async () => {
      while (observer.running && client.usable) await client.idle();
    })().catch(() => undefined);
    return observer;
  }

  /** The time the server announced a folder of at least `count` messages; waits up to `ms`. */
  async announced(count: number, ms = 10_000): Promise<number> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.announcements.find((a) => a.count >= count);
      if (hit) return hit.at;
      if (Date.now() > deadline) throw new Error(`the server did not announce ${count} messages within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.client.logout().catch(() => this.client.close());
    await this.loop;
  }
}
