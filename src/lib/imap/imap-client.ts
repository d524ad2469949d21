import { ImapFlow } from 'imapflow';
import type { ImapFlowOptions } from 'imapflow';
import type { ReceiveSettings } from '../connection-options';
import { classifyError, MailError } from '../mail-error';
import { buildTrustOptions } from '../tls-trust';

export interface ImapTimeouts {
  connectMs: number;
  greetingMs: number;
  /** Silence on an open socket after which the connection counts as dead. */
  idleSocketMs: number;
}

// 20 s of silence on a busy connection is a dead connection (imapflow then probes with NOOP).
export const RUNTIME_TIMEOUTS: ImapTimeouts = { connectMs: 15000, greetingMs: 15000, idleSocketMs: 20000 };

function clientOptions(settings: ReceiveSettings, timeouts: ImapTimeouts, extra: Partial<ImapFlowOptions>): ImapFlowOptions {
  return {
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    // true = StartTLS is required: imapflow then refuses to log in over plain text when the
    // server does not offer it or the upgrade fails. false for 'none': the user chose plain text.
    doSTARTTLS: settings.security === 'starttls',
    tls: buildTrustOptions(settings.host, settings.certificate),
    auth: settings.user ? { user: settings.user, pass: settings.password } : undefined,
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: timeouts.connectMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.idleSocketMs,
    clientInfo: { name: 'mailwire-node-red-email' },
    ...extra,
  };
}

/**
 * Connects a new client. imapflow clients cannot be reused once closed, and an `error` event
 * without a listener would take down the whole Node-RED process, so the listener goes on before
 * connect() and stays for the client's life.
 */
export async function connectImap(
  settings: ReceiveSettings,
  timeouts: ImapTimeouts,
  onError: (err: MailError) => void,
  extra: Partial<ImapFlowOptions> = {},
): Promise<ImapFlow> {
  const client = new ImapFlow(clientOptions(settings, timeouts, extra));
  client.on('error', (err: unknown) => onError(classifyError(err)));
  try {
    await client.connect();
  } catch (err) {
    client.close();
    throw classifyError(err);
  }
  return client;
}
