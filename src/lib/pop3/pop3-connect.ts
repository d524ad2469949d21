import type { ReceiveSettings } from '../connection-options';
import { classifyError } from '../mail-error';
import { buildTrustOptions } from '../tls-trust';
import { Pop3Client } from './pop3-client';
import type { Pop3Options } from './pop3-client';

export interface Pop3Timeouts {
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/** The one mapping from a receive connection's settings to our POP3 client's options. */
export function pop3Options(settings: ReceiveSettings, timeouts: Pop3Timeouts = {}): Pop3Options {
  return {
    host: settings.host,
    port: settings.port,
    security: settings.security,
    trust: buildTrustOptions(settings.host, settings.certificate),
    user: settings.user,
    password: settings.password,
    tokens: settings.tokens,
    connectTimeoutMs: timeouts.connectTimeoutMs,
    commandTimeoutMs: timeouts.commandTimeoutMs,
  };
}

/** A logged-in session; failures come as a MailError with a failure code. */
export async function connectPop3(settings: ReceiveSettings, timeouts: Pop3Timeouts = {}): Promise<Pop3Client> {
  try {
    return await Pop3Client.connect(pop3Options(settings, timeouts));
  } catch (err) {
    throw classifyError(err);
  }
}
