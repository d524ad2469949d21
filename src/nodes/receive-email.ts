import type { Node, NodeAPI, NodeDef } from 'node-red';
import { INBOX_NAMES } from '../lib/connection-options';
import { toMilliseconds } from '../lib/duration';
import { MailError, isTemporary } from '../lib/mail-error';
import { DEFAULT_SIZE_LIMIT } from '../lib/mail-source';
import type { StartFrom } from '../lib/mail-source';
import type { Registration } from '../lib/receive/receive-service';
import type { ReceiverSettings, ReceiverStatus } from '../lib/receive/receiver';
import type { ReceiveConnectionNode } from './shared/receive-connection-node';

const TYPE = 'mailwire-receive-email';

interface ReceiveEmailDef extends NodeDef {
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
}

function maxEmailsOf(value: number | string): number {
  const n = Number(value);
  if (n === -1) return -1;
  return Number.isInteger(n) && n > 0 ? n : 5;
}

function sizeLimitOf(value: number | string | undefined): number {
  const mib = Number(value);
  return Number.isFinite(mib) && mib > 0 ? Math.round(mib * 1024 * 1024) : DEFAULT_SIZE_LIMIT;
}

/** The flow-file properties as the receive service takes them. */
function receiverSettings(def: ReceiveEmailDef): ReceiverSettings {
  const start: StartFrom = def.start === 'new' ? 'new' : 'all';
  return {
    request: { folder: String(def.folder ?? ''), unseenOnly: def.unseenOnly !== false, maxEmails: maxEmailsOf(def.maxEmails), start },
    intervalMs: toMilliseconds(def.delay, def.delayUnit),
    push: def.push === true,
    sizeLimit: sizeLimitOf(def.sizeLimit),
    deleteAfterEmit: def.pop3Delete === true,
  };
}

export = function register(RED: NodeAPI): void {
  function ReceiveEmail(this: Node, def: ReceiveEmailDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = (key: string, values?: Record<string, string | number>): string => RED._(`${TYPE}.${key}`, values);
    const connection = RED.nodes.getNode(def.connection) as ReceiveConnectionNode | null;

    if (!connection) {
      node.status({ fill: 'red', shape: 'ring', text: t('status.no-connection') });
      node.error(t('errors.no-connection'));
      return;
    }

    const show = (status: ReceiverStatus): void => {
      switch (status.kind) {
        case 'connecting':
          node.status({ fill: 'yellow', shape: 'ring', text: t('status.connecting') });
          return;
        case 'checking':
          node.status({ fill: 'yellow', shape: 'dot', text: t('status.polling') });
          return;
        case 'heard': {
          const values = { mode: t(`mode.${status.mode}`), time: new Date(status.at).toLocaleTimeString(), count: status.emitted, skipped: status.skipped };
          node.status({ fill: 'green', shape: 'dot', text: t(status.skipped > 0 ? 'status.skipped' : 'status.polled', values) });
          return;
        }
        case 'retrying': {
          const temporary = isTemporary(status.error.code);
          node.status({ fill: temporary ? 'yellow' : 'red', shape: 'ring', text: t('status.retrying', { reason: t(`short.${status.error.code}`), seconds: Math.round(status.retryInMs / 1000) }) });
          node.debug(status.error.message);
        }
      }
    };

    let registration: Registration;
    try {
      registration = connection.service.register(node.id, receiverSettings(def), {
        emit: (message) => node.send(message),
        skip: (key, reason, detail) => {
          node.error(t(`errors.${reason}`, { key, ...detail }), { topic: key, email: { key }, error: { code: reason, key } });
        },
        folderReset: (folder, oldValidity, newValidity) => {
          node.warn(t('errors.uidvalidity', { folder, old: oldValidity, new: newValidity }));
        },
        status: show,
        problem: (error, level) => {
          const text = connection.describe(error);
          if (level === 'warning') node.warn(text);
          else node.error(text, { topic: error.code, error: { code: error.code, message: text } });
        },
      });
    } catch (err) {
      if (err instanceof MailError && err.details.problem === 'pop3-folder') {
        node.status({ fill: 'red', shape: 'ring', text: t('status.pop3-folder') });
        node.error(t('errors.pop3-folder', { folder: err.details.folder ?? '' }));
        return;
      }
      throw err;
    }

    node.on('close', (removed: boolean, done: () => void) => {
      registration
        .close(removed)
        .catch(() => undefined)
        .finally(() => {
          node.status({});
          done();
        });
    });
  }

  RED.nodes.registerType(TYPE, ReceiveEmail, {
    // The editor's "POP3 has only the inbox" warning uses the same names as the runtime.
    settings: { mailwireReceiveEmailInboxNames: { value: INBOX_NAMES, exportable: true } },
  });
};
