import { createHash } from 'node:crypto';
import { isInbox } from '../connection-options';
import type { ReceiveSettings } from '../connection-options';
import { ImapMailbox } from '../imap/imap-mailbox';
import type { ImapTimeouts } from '../imap/imap-client';
import { MailError } from '../mail-error';
import { Pop3Maildrop } from '../pop3/pop3-maildrop';
import { policyProblem } from '../settle/policy';
import type { Pop3Timeouts } from '../pop3/pop3-connect';
import type { ProgressStore } from '../progress-store';
import type { Mailbox } from './mailbox';
import { Receiver } from './receiver';
import type { ReceiverEvents, ReceiverSettings } from './receiver';

export interface ReceiveServiceOptions {
  /** The receive connection's id: part of every message key. */
  connectionId: string;
  /** The connection's settings, credentials included, as they are now. */
  settings: () => ReceiveSettings;
  /** Where the node with this id keeps its progress. */
  progressStore: (nodeId: string) => ProgressStore;
  imapTimeouts?: ImapTimeouts;
  pop3Timeouts?: Pop3Timeouts;
  /** Waits before reopening a lost push session (tests shorten them). */
  reconnectDelaysMs?: readonly number[];
  /**
   * What tells this Node-RED instance from the others sharing a mailbox (host and user
   * directory): with the node's id it names the instance's claims folder, the same after a restart.
   */
  instanceName?: string;
}

export interface Registration {
  /** Leaves the connection; `removed` (the node was deleted) also forgets its progress. */
  close(removed: boolean): Promise<void>;
}

/**
 * A receive connection as a service, the way Node-RED's MQTT broker node serves its clients:
 * Receive Email nodes register with it, it owns the sessions to the server (one per folder,
 * shared by the nodes reading that folder; one POP3 maildrop), their lifecycle, and each node's
 * progress store, and it tells every registered node how its session is doing.
 */
export class ReceiveService {
  private readonly mailboxes = new Map<string, Mailbox>();
  private closed = false;

  constructor(private readonly options: ReceiveServiceOptions) {}

  /**
   * Starts serving one node. A setting the connection cannot serve (a folder other than the
   * inbox on POP3) throws a MailError with code invalid-config.
   */
  register(nodeId: string, settings: ReceiverSettings, events: ReceiverEvents): Registration {
    if (this.closed) throw new MailError('closed', 'the receive connection is closed');
    const protocol = this.options.settings().protocol;
    if (protocol === 'pop3' && !isInbox(settings.request.folder)) {
      throw new MailError('invalid-config', 'POP3 has only the inbox', { problem: 'pop3-folder', folder: settings.request.folder });
    }
    const problem = policyProblem(settings.policy, protocol);
    if (problem) throw new MailError('invalid-config', `settle setting not usable: ${problem}`, { problem: `settle-${problem}` });
    // POP3 has no atomic claim on the server: several instances cannot share a maildrop safely.
    if (settings.shared && protocol === 'pop3') throw new MailError('invalid-config', 'shared needs IMAP', { problem: 'shared-pop3' });
    const shared = settings.shared ? { ...settings.shared, instanceId: instanceId(this.options.instanceName ?? '', nodeId) } : undefined;
    const key = protocol === 'pop3' ? 'pop3' : `imap:${mailboxKey(settings.request.folder)}`;
    let mailbox = this.mailboxes.get(key);
    if (!mailbox) {
      mailbox = this.openMailbox(protocol, settings.request.folder);
      this.mailboxes.set(key, mailbox);
    }
    const receiver = new Receiver(mailbox, this.options.progressStore(nodeId), this.options.connectionId, { ...settings, shared }, events);
    const used = mailbox;
    return {
      close: async (removed: boolean) => {
        await receiver.close(removed);
        if (used.subscriberCount === 0 && this.mailboxes.get(key) === used) {
          this.mailboxes.delete(key);
          await used.close();
        }
      },
    };
  }

  /** Ends every session; for the connection's own close. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.mailboxes.values()];
    this.mailboxes.clear();
    await Promise.all(all.map((m) => m.close().catch(() => undefined)));
  }

  private openMailbox(protocol: ReceiveSettings['protocol'], folder: string): Mailbox {
    const settings = this.options.settings;
    return protocol === 'pop3'
      ? new Pop3Maildrop({ settings, timeouts: this.options.pop3Timeouts })
      : new ImapMailbox({ settings, folder, timeouts: this.options.imapTimeouts, reconnectDelaysMs: this.options.reconnectDelaysMs });
  }
}

/** Nodes reading the same folder share a session; INBOX in any case is one folder. */
function mailboxKey(folder: string): string {
  return isInbox(folder) ? 'INBOX' : folder.trim();
}

/** Short, stable, and different for each Node-RED instance and node: a claims folder's name. */
function instanceId(instanceName: string, nodeId: string): string {
  return createHash('sha256').update(`${instanceName}|${nodeId}`).digest('hex').slice(0, 10);
}
