import type { NodeStatus } from 'node-red';
import { isTemporary } from '../../lib/mail-error';
import type { ReceiverStatus } from '../../lib/receive/receiver';
import { clockTime } from './clock-time';

/** A key of the Receive Email catalog, with its values, translated. */
export type Translate = (key: string, values?: Record<string, string | number>) => string;

/** The status line for what the receiver reports (mode, last heard, last count; or why it waits). */
export function statusOf(status: ReceiverStatus, t: Translate): NodeStatus {
  switch (status.kind) {
    case 'connecting':
      return { fill: 'yellow', shape: 'ring', text: t('status.connecting') };
    case 'checking':
      return { fill: 'yellow', shape: 'dot', text: t('status.polling') };
    case 'heard': {
      const values = { mode: t(`mode.${status.mode}`), time: clockTime(status.at), count: status.emitted, skipped: status.skipped };
      return { fill: 'green', shape: 'dot', text: t(status.skipped > 0 ? 'status.skipped' : 'status.polled', values) };
    }
    case 'retrying': {
      const reason = t(`short.${status.error.code}`);
      return { fill: isTemporary(status.error.code) ? 'yellow' : 'red', shape: 'ring', text: t('status.retrying', { reason, seconds: Math.round(status.retryInMs / 1000) }) };
    }
  }
}

