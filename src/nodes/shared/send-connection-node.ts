import type { SendSettings } from '../../lib/connection-options';
import type { SmtpSender } from '../../lib/smtp/smtp-sender';
import type { ConnectionNode } from './connection-node';

export const SEND_CONNECTION_TYPE = 'mailwire-send-connection';

/** What a Send Email node uses of its connection. */
export interface SendConnectionNode extends ConnectionNode<SendSettings> {
  /** The pooled sender, created on first use and shared by every Send Email node. */
  sender(): SmtpSender;
}
