import type { ReceiveSettings } from '../../lib/connection-options';
import type { ReceiveService } from '../../lib/receive/receive-service';
import type { ConnectionNode } from './connection-node';

export const RECEIVE_CONNECTION_TYPE = 'mailwire-receive-connection';

/** What a Receive Email node uses of its connection. */
export interface ReceiveConnectionNode extends ConnectionNode<ReceiveSettings> {
  /** Where Receive Email nodes register: owns the sessions and the progress stores. */
  service: ReceiveService;
}
