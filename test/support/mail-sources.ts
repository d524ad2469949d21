// The receive core without Node-RED, for tests that poll a server directly: a mailbox session as
// the receive service keeps it (ImapMailbox, Pop3Maildrop) with one subscriber and a progress
// file, behind the small poll(request, listener) / close() surface the tests use.
import { ImapMailbox } from '../../src/lib/imap/imap-mailbox';
import type { ImapTimeouts } from '../../src/lib/imap/imap-client';
import type { ReceiveSettings } from '../../src/lib/connection-options';
import { DEFAULT_SIZE_LIMIT } from '../../src/lib/mail-source';
import type { PollListener, PollRequest, PollResult } from '../../src/lib/mail-source';
import { Pop3Maildrop } from '../../src/lib/pop3/pop3-maildrop';
import type { Pop3Timeouts } from '../../src/lib/pop3/pop3-connect';
import { FileProgressStore } from '../../src/lib/progress-store';
import type { Mailbox, MailboxSubscriber } from '../../src/lib/receive/mailbox';
import { settlePolicy } from '../../src/lib/settle/policy';
import type { SettlePolicy } from '../../src/lib/settle/policy';
import { tempStateFile } from './collect';

export interface TestSource {
  readonly mailbox: Mailbox;
  readonly progress: FileProgressStore;
  /** `start` defaults to 'all'. */
  poll(request: Omit<PollRequest, 'start'> & Partial<Pick<PollRequest, 'start'>>, listener: PollListener): Promise<PollResult>;
  reset(): void;
  close(): Promise<void>;
}

export interface SourceOptions {
  settings: ReceiveSettings;
  stateFile?: string;
  connectionId?: string;
  sizeLimit?: number;
  /** IMAP: keep the session between polls (a short Delay); default true. */
  keepAlive?: boolean;
  /** POP3: delete what was emitted (settle emit). */
  deleteAfterEmit?: boolean;
  /** How emitted emails are settled; default: as a node with no settle properties does. */
  policy?: SettlePolicy;
  /** settle ack: what the test holds in flight. */
  holding?: Set<number | string>;
  imapTimeouts?: ImapTimeouts;
  pop3Timeouts?: Pop3Timeouts;
}

function wrap(mailbox: Mailbox, options: SourceOptions, keepAlive: boolean, protocol: 'imap' | 'pop3'): TestSource {
  const progress = new FileProgressStore(options.stateFile ?? tempStateFile());
  const subscriber: MailboxSubscriber = { push: false, keepAlive, readOnly: false, newMail: () => undefined, state: () => undefined };
  const unsubscribe = mailbox.subscribe(subscriber);
  return {
    mailbox,
    progress,
    poll: (request, listener) =>
      mailbox.poll({
        request: { start: 'all', ...request },
        progress,
        listener,
        sizeLimit: options.sizeLimit ?? DEFAULT_SIZE_LIMIT,
        connectionId: options.connectionId ?? 'conn-1',
        policy: options.policy ?? settlePolicy({ unseenOnly: request.unseenOnly, pop3Delete: options.deleteAfterEmit === true }, protocol),
        holding: options.holding ?? new Set(),
      }),
    reset: () => mailbox.reset(),
    close: async () => {
      unsubscribe();
      await mailbox.close();
    },
  };
}

export function imapSource(options: SourceOptions, folder = ''): TestSource {
  const mailbox = new ImapMailbox({ settings: () => options.settings, folder, timeouts: options.imapTimeouts });
  return wrap(mailbox, options, options.keepAlive ?? true, 'imap');
}

export function pop3Source(options: SourceOptions): TestSource {
  const mailbox = new Pop3Maildrop({ settings: () => options.settings, timeouts: options.pop3Timeouts });
  return wrap(mailbox, options, false, 'pop3');
}
