import type { Node } from 'node-red';
import type { ReceiveSettings } from '../../lib/connection-options';
import type { MailError } from '../../lib/mail-error';
import type { ReceiveService } from '../../lib/receive/receive-service';

export const RECEIVE_CONNECTION_TYPE = 'mailwire-receive-connection';

export interface ReceiveCredentials {
  user?: string;
  password?: string;
}

/** What a Receive Email node uses of its connection. */
export interface ReceiveConnectionNode extends Node<ReceiveCredentials> {
  config: Record<string, unknown>;
  settings(): ReceiveSettings;
  /** Where Receive Email nodes register: owns the sessions and the progress stores. */
  service: ReceiveService;
  /** A user-facing explanation of a failure, with how to fix it. */
  describe(error: MailError): string;
}
