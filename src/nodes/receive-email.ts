import os from 'node:os';
import path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { ImapSource } from '../lib/imap/imap-source';
import { MailError, classifyError, isTemporary } from '../lib/mail-error';
import type { FailureCode } from '../lib/mail-error';
import { DEFAULT_SIZE_LIMIT } from '../lib/mail-source';
import type { MailSource, PollListener } from '../lib/mail-source';
import { INBOX_NAMES, isInbox } from '../lib/connection-options';
import { Pop3Source } from '../lib/pop3/pop3-source';
import { Poller } from '../lib/poller';
import { StateStore } from '../lib/state-store';
import { toMilliseconds } from '../lib/duration';
import type { ReceiveConnectionNode } from './shared/receive-connection-node';

const TYPE = 'mailwire-receive-email';
/** Longer than this between polls, an idle IMAP connection is closed rather than kept. */
const KEEP_ALIVE_MAX_INTERVAL_MS = 15_000; // below the 20 s after which a silent connection counts as dead
/**
 * Back-off after failures stops growing at one delay plus this, so mail that arrives after an
 * outage is emitted within about one delay plus 10 s of the server's return.
 */
const BACKOFF_CAP_EXTRA_MS = 8_000;
/** A poll still running after this long is taken as hung (see Poller.stallAfterMs). */
const STALL_AFTER_MS = 10 * 60_000;
const CLOSE_GRACE_MS = 1500;
/** A temporary failure (the mailbox in use by another client) becomes an error once it lasts this long. */
const TEMPORARY_GRACE_MS = 5 * 60_000;

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
}

function maxEmailsOf(value: number | string): number {
  const n = Number(value);
  if (n === -1) return -1;
  return Number.isInteger(n) && n > 0 ? n : 5;
}

/** Where each node's progress file lives: inside Node-RED's user directory, one file per node. */
function stateFile(RED: NodeAPI, nodeId: string): string {
  const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? path.join(os.homedir(), '.node-red');
  return path.join(userDir, 'mailwire-state', `${nodeId.replace(/[^\w.-]/g, '_')}.json`);
}

export = function register(RED: NodeAPI): void {
  function ReceiveEmail(this: Node, def: ReceiveEmailDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = (key: string, values?: Record<string, string | number>): string => RED._(`${TYPE}.${key}`, values);
    const connection = RED.nodes.getNode(def.connection) as ReceiveConnectionNode | null;
    const folder = String(def.folder ?? '');

    if (!connection) {
      node.status({ fill: 'red', shape: 'ring', text: t('status.no-connection') });
      node.error(t('errors.no-connection'));
      return;
    }
    const settings = connection.settings();
    if (settings.protocol === 'pop3' && !isInbox(folder)) {
      node.status({ fill: 'red', shape: 'ring', text: t('status.pop3-folder') });
      node.error(t('errors.pop3-folder', { folder }));
      return;
    }

    const intervalMs = toMilliseconds(def.delay, def.delayUnit);
    const request = { folder, unseenOnly: def.unseenOnly !== false, maxEmails: maxEmailsOf(def.maxEmails) };
    const state = new StateStore(stateFile(RED, node.id));
    const limitMiB = Number(def.sizeLimit);
    const sizeLimit = Number.isFinite(limitMiB) && limitMiB > 0 ? Math.round(limitMiB * 1024 * 1024) : DEFAULT_SIZE_LIMIT;
    const common = { settings, connectionId: connection.id, state, sizeLimit };
    const source: MailSource = settings.protocol === 'imap'
      ? new ImapSource({ ...common, keepAlive: intervalMs <= KEEP_ALIVE_MAX_INTERVAL_MS })
      : new Pop3Source({ ...common, deleteAfterEmit: def.pop3Delete === true });

    let open = true;
    let lastFailure: FailureCode | undefined;
    let failingSince = 0;
    let escalated = false;
    const listener: PollListener = {
      emit: (message) => node.send(message),
      skip: (key, reason, detail) => {
        node.error(t(`errors.${reason}`, { key, ...detail }), { topic: key, email: { key }, error: { code: reason, key } });
      },
      folderReset: (name, oldValidity, newValidity) => {
        node.warn(t('errors.uidvalidity', { folder: name, old: oldValidity, new: newValidity }));
      },
      isActive: () => open,
    };

    const poller = new Poller({
      intervalMs,
      maxBackoffMs: intervalMs + BACKOFF_CAP_EXTRA_MS,
      stallAfterMs: STALL_AFTER_MS,
      onStall: () => source.reset(),
      run: async () => {
        node.status({ fill: 'yellow', shape: 'dot', text: t('status.polling') });
        const result = await source.poll(request, listener);
        lastFailure = undefined;
        escalated = false;
        const time = new Date().toLocaleTimeString();
        node.status({
          fill: 'green',
          shape: 'dot',
          text: result.skipped > 0 ? t('status.skipped', { time, count: result.emitted, skipped: result.skipped }) : t('status.polled', { time, count: result.emitted }),
        });
      },
      onFailure: (err, retryInMs) => {
        if (!open) return;
        const failure = err instanceof MailError ? err : classifyError(err);
        const temporary = isTemporary(failure.code);
        node.status({ fill: temporary ? 'yellow' : 'red', shape: 'ring', text: t('status.retrying', { reason: t(`short.${failure.code}`), seconds: Math.round(retryInMs / 1000) }) });
        const report = (): void => node.error(connection.describe(failure), { topic: failure.code, error: { code: failure.code, message: connection.describe(failure) } });
        // Once per streak of the same failure, so a Catch node hears of it without a flood. A
        // temporary one is only a warning until it has lasted long enough to need a person.
        if (failure.code !== lastFailure) {
          lastFailure = failure.code;
          failingSince = Date.now();
          escalated = false;
          if (temporary) node.warn(connection.describe(failure));
          else report();
        } else if (temporary && !escalated && Date.now() - failingSince >= TEMPORARY_GRACE_MS) {
          escalated = true;
          report();
        }
        node.debug(failure.message);
      },
    });

    node.status({ fill: 'yellow', shape: 'ring', text: t('status.connecting') });
    poller.start();

    node.on('close', (removed: boolean, done: () => void) => {
      open = false;
      // Closing the source breaks off a poll in flight; the poller then only waits for it to unwind.
      Promise.all([poller.stop(CLOSE_GRACE_MS), source.close()])
        .catch(() => undefined)
        .finally(() => {
          if (removed) state.remove();
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
