// One connect-and-log-in attempt per protocol through the same core code the runtime uses,
// reduced to its failure code ('ok' when it logged in).
import nodemailer from 'nodemailer';
import type { ServerSettings } from '../../src/lib/connection-options';
import { connectImap } from '../../src/lib/imap/imap-client';
import { MailError, classifyError } from '../../src/lib/mail-error';
import { Pop3Client } from '../../src/lib/pop3/pop3-client';
import { pop3Options } from '../../src/lib/pop3/pop3-connect';
import { transportOptions } from '../../src/lib/smtp/smtp-sender';

export type Protocol = 'imap' | 'pop3' | 'smtp';

const STEP_MS = 5000;

export function failureCode(err: unknown): string {
  return (err instanceof MailError ? err : classifyError(err)).code;
}

export async function attempt(protocol: Protocol, settings: ServerSettings): Promise<string> {
  try {
    if (protocol === 'imap') {
      const client = await connectImap({ ...settings, protocol: 'imap' }, { connectMs: STEP_MS, greetingMs: STEP_MS, idleSocketMs: STEP_MS }, () => undefined);
      await client.logout().catch(() => client.close());
    } else if (protocol === 'pop3') {
      const client = await Pop3Client.connect(pop3Options({ ...settings, protocol: 'pop3' }, { connectTimeoutMs: STEP_MS, commandTimeoutMs: STEP_MS }));
      await client.quit().catch(() => client.destroy());
    } else {
      let refused = false;
      const transport = nodemailer.createTransport(transportOptions(settings, { connectMs: STEP_MS, greetingMs: STEP_MS, socketMs: STEP_MS }, () => (refused = true)));
      try {
        await transport.verify();
      } catch (err) {
        if (refused) return 'starttls-unavailable';
        throw err;
      } finally {
        transport.close();
      }
    }
    return 'ok';
  } catch (err) {
    return failureCode(err);
  }
}
