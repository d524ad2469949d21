import type { Node } from 'node-red';
import type { SendSettings } from '../../lib/connection-options';
import type { MailError } from '../../lib/mail-error';
import type { SmtpSender } from '../../lib/smtp/smtp-sender';

export const SEND_CONNECTION_TYPE = 'mailwire-send-connection';

export interface SendCredentials {
  user?: string;
  password?: string;
}

/** What a Send Email node uses of its connection. */
export interface SendConnectionNode extends Node<SendCredentials> {
  config: Record<string, unknown>;
  settings(): SendSettings;
  /** The pooled sender, created on first use and shared by every Send Email node. */
  sender(): SmtpSender;
  describe(error: MailError): string;
}
