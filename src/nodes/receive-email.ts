import type { Node, NodeAPI, NodeDef } from 'node-red';
import { INBOX_NAMES } from '../lib/connection-options';
import { toMilliseconds } from '../lib/duration';
import { MailError } from '../lib/mail-error';
import { DEFAULT_SIZE_LIMIT } from '../lib/mail-source';
import type { StartFrom } from '../lib/mail-source';
import type { Registration } from '../lib/receive/receive-service';
import type { ReceiverEvents, ReceiverSettings } from '../lib/receive/receiver';
import { settlePolicy } from '../lib/settle/policy';
import type { SettleProperties } from '../lib/settle/policy';
import { statusOf } from './shared/receive-status';
import type { Translate } from './shared/receive-status';
import type { ReceiveConnectionNode } from './shared/receive-connection-node';

const TYPE = 'mailwire-receive-email';

interface ReceiveEmailDef extends NodeDef, SettleProperties {
  connection: string;
  folder: string;
  unseenOnly: boolean;
  delay: number | string;
  delayUnit: string;
  maxEmails: number | string;
  pop3Delete?: boolean;
  /** MiB; larger emails are reported and never downloaded. */
  sizeLimit?: number | string;
  /** Absent in flows written before push existed: those keep polling. */
  push?: boolean;
  /** Absent: every email waiting counts, as before. */
  start?: string;
  /** Several Node-RED instances share the folder; absent = false. */
  shared?: boolean;
  /** Seconds a claim lasts without renewal; absent = 120. */
  lease?: number | string;
}

function maxEmailsOf(value: number | string): number {
  const n = Number(value);
  if (n === -1) return -1;
  return Number.isInteger(n) && n > 0 ? n : 5;
}

/** Seconds in the flow file; absent or unusable: 120. */
function leaseOf(value: unknown): number {
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : 120_000;
}

function sizeLimitOf(value: number | string | undefined): number {
  const mib = Number(value);
  return Number.isFinite(mib) && mib > 0 ? Math.round(mib * 1024 * 1024) : DEFAULT_SIZE_LIMIT;
}

/** The flow-file properties as the receive service takes them. */
function receiverSettings(def: ReceiveEmailDef, protocol: 'imap' | 'pop3'): ReceiverSettings {
  const start: StartFrom = def.start === 'new' ? 'new' : 'all';
  return {
    request: { folder: String(def.folder ?? ''), unseenOnly: def.unseenOnly !== false, maxEmails: maxEmailsOf(def.maxEmails), start },
    intervalMs: toMilliseconds(def.delay, def.delayUnit),
    push: def.push === true,
    sizeLimit: sizeLimitOf(def.sizeLimit),
    policy: settlePolicy(def, protocol),
    // The instance's claims folder is named by the receive connection (see ReceiveService).
    shared: def.shared === true ? { instanceId: '', leaseMs: leaseOf(def.lease) } : undefined,
  };
}

/** Everything the receiver tells the node, turned into sends, statuses and log lines. */
function receiverEvents(node: Node, connection: ReceiveConnectionNode, t: Translate): ReceiverEvents {
  return {
    emit: (message) => node.send(message),
    skip: (key, reason, detail) => {
      node.error(t(`errors.${reason}`, { key, ...detail }), { topic: key, email: { key }, error: { code: reason, key } });
    },
    folderReset: (folder, oldValidity, newValidity) => {
      node.warn(t('errors.uidvalidity', { folder, old: oldValidity, new: newValidity }));
    },
    status: (status) => {
      node.status(statusOf(status, t));
      if (status.kind === 'retrying') node.debug(status.error.message);
    },
    ackTimedOut: (key, seconds) => {
      node.warn(t('errors.ack-timeout', { key, seconds }));
    },
    problem: (error, level) => {
      const text = connection.describe(error);
      if (level === 'warning') node.warn(text);
      else node.error(text, { topic: error.code, error: { code: error.code, message: text } });
    },
  };
}

export = function register(RED: NodeAPI): void {
  // Every poll sets the status twice; with hundreds of nodes, looking the same fixed texts up in
  // i18next each time was a third of the runtime's CPU. Texts with values are looked up each time.
  const fixedTexts = new Map<string, string>();
  const t: Translate = (key, values) => {
    const id = `${TYPE}.${key}`;
    if (values) return RED._(id, values);
    const known = fixedTexts.get(id);
    if (known !== undefined) return known;
    const text = RED._(id);
    // Not kept while the catalog is not loaded yet (i18next then answers with the key).
    if (text !== id) fixedTexts.set(id, text);
    return text;
  };

  function ReceiveEmail(this: Node, def: ReceiveEmailDef): void {
    RED.nodes.createNode(this, def);
    const connection = RED.nodes.getNode(def.connection) as ReceiveConnectionNode | null;
    if (!connection) {
      this.status({ fill: 'red', shape: 'ring', text: t('status.no-connection') });
      this.error(t('errors.no-connection'));
      return;
    }
    let registration: Registration;
    try {
      registration = connection.service.register(this.id, receiverSettings(def, connection.settings().protocol), receiverEvents(this, connection, t));
    } catch (err) {
      if (!(err instanceof MailError && err.code === 'invalid-config')) throw err;
      // A setting this connection cannot carry out: said once, under the node and to Catch.
      const problem = err.details.problem ?? 'settings';
      this.status({ fill: 'red', shape: 'ring', text: t(problem === 'pop3-folder' ? 'status.pop3-folder' : 'status.invalid') });
      this.error(t(`errors.${problem}`, { folder: err.details.folder ?? '' }));
      return;
    }
    this.on('close', (removed: boolean, done: () => void) => {
      registration
        .close(removed)
        .catch(() => undefined)
        .finally(() => {
          this.status({});
          done();
        });
    });
  }

  RED.nodes.registerType(TYPE, ReceiveEmail, {
    // The editor's "POP3 has only the inbox" warning uses the same names as the runtime.
    settings: { mailwireReceiveEmailInboxNames: { value: INBOX_NAMES, exportable: true } },
  });
};
