import type { ReceiveSettings } from './connection-options';
import { connectImap } from './imap/imap-client';
import { Pop3Client } from './pop3/pop3-client';
import { pop3Options } from './pop3/pop3-connect';
import { VALIDATE_TIMEOUTS, runValidation } from './validate';
import type { Attempt, ValidateOutcome, ValidateTimeouts } from './validate';

async function tryImap(settings: ReceiveSettings, stepMs: number, signal: AbortSignal): Promise<Attempt> {
  const client = await connectImap(settings, { connectMs: stepMs, greetingMs: stepMs, idleSocketMs: stepMs }, () => undefined);
  const onAbort = (): void => client.close();
  signal.addEventListener('abort', onAbort);
  try {
    const folders = (await client.list()).map((m) => m.path);
    await client.logout().catch(() => undefined);
    return { folders };
  } finally {
    signal.removeEventListener('abort', onAbort);
    client.close();
  }
}

async function tryPop3(settings: ReceiveSettings, stepMs: number, signal: AbortSignal): Promise<Attempt> {
  const client = await Pop3Client.connect(pop3Options(settings, { connectTimeoutMs: stepMs, commandTimeoutMs: stepMs }));
  const onAbort = (): void => client.destroy();
  signal.addEventListener('abort', onAbort);
  try {
    const { count } = await client.stat();
    await client.quit();
    return { count };
  } finally {
    signal.removeEventListener('abort', onAbort);
    client.destroy();
  }
}

/** IMAP: log in and list the folders; POP3: log in and STAT. */
export function validateReceive(settings: ReceiveSettings, timeouts: ValidateTimeouts = VALIDATE_TIMEOUTS): Promise<ValidateOutcome> {
  return runValidation(settings, settings.protocol, timeouts, (stepMs, signal) =>
    settings.protocol === 'imap' ? tryImap(settings, stepMs, signal) : tryPop3(settings, stepMs, signal),
  );
}
