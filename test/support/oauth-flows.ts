// Flows whose connections sign in with OAuth2 at the private provider (scripts/oauth-server.mjs):
// receive and send connection nodes with the flow-file properties of the SPEC contract, their
// credentials, the node modules to load (an instrumented Receive Email from receive-watch, Send
// Email, Catch), and a watcher of the refresh token a connection keeps in its encrypted store.
import fs from 'node:fs';
import path from 'node:path';
import type { NodeMessage } from 'node-red';
import type { ClientName } from './oauth';
import { oauthInfo } from './oauth';
import type { NodeInitializer } from './flows';
import { helper, nodeModule } from './flows';
import type { Watch } from './receive-watch';
import { certificatePem, serverInfo } from './servers';

export type Grant = 'authorization-code' | 'client-credentials';

export interface OAuthEndpoints {
  tokenUrl: string;
  authorizeUrl: string;
  deviceUrl: string;
}

export interface OAuthConnectionOptions {
  id?: string;
  client?: Exclude<ClientName, 'public'>;
  grant?: Grant;
  /** Where the connection sends its token requests: the provider itself, or a providerProxy(). */
  endpoints?: OAuthEndpoints;
  /** Host and port the connection logs in to; default the real server over SSL/TLS (send: StartTLS). */
  port?: number;
  security?: 'none' | 'starttls' | 'tls';
  scope?: string;
}

function oauthProperties(options: OAuthConnectionOptions): Record<string, unknown> {
  const info = oauthInfo();
  const client = options.client ?? 'app';
  const grant = options.grant ?? 'authorization-code';
  const endpoints = options.endpoints ?? info;
  return {
    auth: 'oauth2',
    oauthProvider: 'custom',
    oauthTenant: '',
    oauthGrant: grant,
    oauthClientId: info.clients[client].id,
    oauthAuthorizeUrl: endpoints.authorizeUrl,
    oauthTokenUrl: endpoints.tokenUrl,
    oauthDeviceUrl: endpoints.deviceUrl,
    // What signIn() is granted: the provider keeps offline_access out of a grant made without
    // prompt=consent (it issues the refresh token all the same), and a refresh that asks for more
    // than the grant holds is invalid_scope.
    oauthScope: options.scope ?? (grant === 'client-credentials' ? info.appScope : 'openid'),
  };
}

function server(security: 'none' | 'starttls' | 'tls'): { host: string; certificate: string } {
  return security === 'none' ? { host: '127.0.0.1', certificate: '' } : { host: 'localhost', certificate: certificatePem() };
}

/** A receive connection to the private Dovecot that signs in with OAuth2. */
export function oauthReceiveConnection(protocol: 'imap' | 'pop3', options: OAuthConnectionOptions = {}): Record<string, unknown> {
  const ports = serverInfo().ports;
  const security = options.security ?? 'tls';
  const port = options.port ?? (security === 'tls' ? (protocol === 'imap' ? ports.imaps : ports.pop3s) : protocol === 'imap' ? ports.imap : ports.pop3);
  return {
    id: options.id ?? 'conn', type: 'mailwire-receive-connection', name: `oauth ${protocol}`, description: '', protocol, port, security,
    ...server(security), ...oauthProperties(options),
  };
}

/** A send connection to the private Postfix (submission, StartTLS by default) that signs in with OAuth2. */
export function oauthSendConnection(options: OAuthConnectionOptions = {}): Record<string, unknown> {
  const ports = serverInfo().ports as Required<ReturnType<typeof serverInfo>['ports']>;
  const security = options.security ?? 'starttls';
  const port = options.port ?? (security === 'tls' ? ports.submissions : ports.submission);
  return { id: options.id ?? 'sconn', type: 'mailwire-send-connection', name: 'oauth smtp', description: '', port, security, ...server(security), ...oauthProperties(options) };
}

/** Credentials of an OAuth2 connection: the mailbox, the client's secret, and a refresh token when signed in. */
export function oauthCredentials(user: string, refreshToken = '', client: Exclude<ClientName, 'public'> = 'app'): Record<string, string> {
  return { user, password: '', oauthClientSecret: oauthInfo().clients[client].secret, oauthRefreshToken: refreshToken };
}

/** A Send Email node on `connection`, wired to `out`. */
export function sendEmailNode(id = 'send', connection = 'sconn', out = 'sent'): Record<string, unknown> {
  return { id, type: 'mailwire-send-email', connection, from: 'OAuth Flow <oauth-flow@example.test>', to: '', subject: '', text: '', cc: '', bcc: '', priority: 'consumed', wires: [[out]] };
}

/** The watched receive modules plus the send connection and Send Email. */
export function mailNodes(watch: Watch): NodeInitializer {
  return [...(watch.nodes() as unknown as NodeInitializer[]), nodeModule('send-connection'), nodeModule('send-email')] as unknown as NodeInitializer;
}

/** Loads a flow as a new deploy generation of `watch`, with the send modules too. */
export async function loadMailFlow(watch: Watch, flow: Parameters<typeof helper.load>[1], credentials: Record<string, Record<string, string>>): Promise<void> {
  watch.generation += 1;
  await helper.load(mailNodes(watch), flow, credentials);
}

/** Every message that reached helper node `id` from now on. */
export function received(id: string): Array<NodeMessage & Record<string, unknown>> {
  const seen: Array<NodeMessage & Record<string, unknown>> = [];
  helper.getNode(id).on('input', (msg: NodeMessage) => seen.push(msg as NodeMessage & Record<string, unknown>));
  return seen;
}

/**
 * Watches the file in which the runtime keeps connection `nodeId`'s refresh token (encrypted, a
 * new random IV on each save): every change of its content is one saved rotation, which the
 * connection makes only when the provider answered a refresh with a new refresh token.
 */
export class StoredTokenWatch {
  private readonly contents = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(userDir: string, nodeId: string) {
    const file = path.join(userDir, 'mailwire-state', 'oauth', `${nodeId}.json`);
    const look = (): void => {
      try {
        this.contents.add(fs.readFileSync(file, 'utf8'));
      } catch {
        // not written yet
      }
    };
    look();
    this.timer = setInterval(look, 20);
  }

  /** How many different contents the file has had since the watch began. */
  get versions(): number {
    return this.contents.size;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

interface RuntimeNodes {
  getCredentials(id: string): Record<string, string> | undefined;
}

/**
 * The tokens connection `nodeId` holds now in the helper's runtime: the refresh token it last
 * saved to its credentials (each rotation is saved there), and the access token it hands out.
 */
export async function connectionTokens(nodeId: string): Promise<{ refreshToken: string; accessToken: string }> {
  const nodes = (helper as unknown as { _RED: { nodes: RuntimeNodes } })._RED.nodes;
  const refreshToken = nodes.getCredentials(nodeId)?.oauthRefreshToken ?? '';
  const conn = helper.getNode(nodeId) as unknown as { settings(): { tokens?: { accessToken(): Promise<string> } } };
  const tokens = conn.settings().tokens;
  if (!tokens || !refreshToken) throw new Error(`connection ${nodeId} has no OAuth2 tokens`);
  return { refreshToken, accessToken: await tokens.accessToken() };
}
