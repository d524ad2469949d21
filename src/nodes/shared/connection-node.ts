import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { ServerSettings } from '../../lib/connection-options';
import type { MailError } from '../../lib/mail-error';
import { describeFailure } from './describe-failure';

export interface ConnectionCredentials {
  user?: string;
  password?: string;
}

/** The flow-file properties the receive and send connections share. */
export interface ConnectionDef extends NodeDef {
  description: string;
  host: string;
  port: string | number;
  security: string;
  certificate: string;
}

/** What the nodes that use a connection get from it, on either side. */
export interface ConnectionNode<TSettings extends ServerSettings> extends Node<ConnectionCredentials> {
  config: Record<string, unknown>;
  settings(): TSettings;
  /** A user-facing explanation of a failure, with how to fix it. */
  describe(error: MailError): string;
}

export interface ConnectionKind<TSettings extends ServerSettings> {
  type: string;
  /** Node-RED hands properties over as loose JSON; this gives them their types. */
  toSettings(raw: Record<string, unknown>, credentials: ConnectionCredentials): TSettings;
  /** How failure texts name the protocol. */
  protocolName(settings: TSettings): string;
}

/** Makes `node` a connection: created, with its config, its settings and its failure texts. */
export function initConnection<TSettings extends ServerSettings>(RED: NodeAPI, node: ConnectionNode<TSettings>, def: ConnectionDef, kind: ConnectionKind<TSettings>): void {
  RED.nodes.createNode(node, def);
  const config: Record<string, unknown> = { ...def };
  node.config = config;
  node.settings = () => kind.toSettings(config, node.credentials ?? {});
  node.describe = (error: MailError) => {
    const s = node.settings();
    return describeFailure(RED, kind.type, error.code, { host: s.host, port: String(s.port), protocol: kind.protocolName(s), ...error.details });
  };
}
