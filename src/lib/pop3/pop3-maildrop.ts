import type { ReceiveSettings } from '../connection-options';
import { MailError, classifyError } from '../mail-error';
import type { PollJob, PollResult, SettleJob, SettleOutcome } from '../mail-source';
import { Exclusive } from '../receive/exclusive';
import type { Mailbox, MailboxSubscriber, ReceiveMode } from '../receive/mailbox';
import { connectPop3 } from './pop3-connect';
import type { Pop3Timeouts } from './pop3-connect';
import type { Pop3Client } from './pop3-client';
import { maildropScope, pollMaildrop } from './poll/poll-maildrop';
import { applyMaildropDeletes, decideMaildrop } from './poll/settle-maildrop';

/**
 * Silence while a reply is due after which the session counts as dead: 20 s, as for IMAP (the
 * client's own default of 30 s would put stall detection just past the 30 s the node promises).
 */
export const RUNTIME_POP3_TIMEOUTS: Pop3Timeouts = { commandTimeoutMs: 20_000 };

export interface Pop3MaildropOptions {
  settings: () => ReceiveSettings;
  timeouts?: Pop3Timeouts;
}

/**
 * The receive connection's access to a POP3 maildrop, shared by every node that reads it. POP3
 * has no push and a session sees no mail that arrives during it, so each poll is one session
 * (list, fetch, QUIT), and polls take turns: the server would refuse a second session anyway.
 */
export class Pop3Maildrop implements Mailbox {
  private readonly polls = new Exclusive();
  private readonly subscribers = new Set<MailboxSubscriber>();
  private current: Pop3Client | undefined;
  private closed = false;

  constructor(private readonly options: Pop3MaildropOptions) {}

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  subscribe(subscriber: MailboxSubscriber): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  mode(): ReceiveMode {
    return 'pop3';
  }

  poll(job: PollJob): Promise<PollResult> {
    return this.polls.run(async () => {
      const settings = this.options.settings();
      const client = await connectPop3(settings, this.options.timeouts ?? RUNTIME_POP3_TIMEOUTS);
      if (this.closed) {
        client.destroy();
        throw new MailError('closed', 'closed while connecting');
      }
      this.current = client;
      try {
        const result = await pollMaildrop(client, maildropScope(settings), job);
        await client.quit();
        for (const s of this.subscribers) s.state({ kind: 'heard', at: Date.now() });
        return result;
      } catch (err) {
        // No QUIT on failure: the server then keeps every message, DELE'd or not (RFC 1939).
        client.destroy();
        throw classifyError(err);
      } finally {
        this.current = undefined;
      }
    });
  }

  settle(jobs: SettleJob[]): Promise<SettleOutcome[]> {
    return this.polls.run(async () => {
      const settings = this.options.settings();
      const scope = maildropScope(settings);
      const decided = decideMaildrop(scope, jobs);
      return applyMaildropDeletes(() => connectPop3(settings, this.options.timeouts ?? RUNTIME_POP3_TIMEOUTS), scope, jobs, decided);
    });
  }

  reset(): void {
    this.current?.destroy();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.current?.destroy();
  }
}
