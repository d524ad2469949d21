import type { ReceiveSettings, Security } from './connection-options';
import { findSettingsProblem } from './connection-options';
import { connectImap } from './imap/imap-client';
import { MailError, classifyError } from './mail-error';
import type { FailureCode } from './mail-error';
import { probeCertificate, speaksTls } from './certificate-probe';
import type { PresentedCertificate, ProbeProtocol } from './certificate-probe';
import { Pop3Client } from './pop3/pop3-client';
import { buildTrustOptions } from './tls-trust';

export interface ValidateOutcome {
  ok: boolean;
  code: FailureCode | 'ok';
  /** Values for the message text; all safe to show. */
  details: Record<string, string>;
  certificate?: PresentedCertificate;
  folders?: string[];
  count?: number;
}

export interface ValidateTimeouts {
  /** Everything, diagnosis included, ends within this. */
  timeBoxMs: number;
  /** Connect, greeting and each command. */
  stepMs: number;
}

export const VALIDATE_TIMEOUTS: ValidateTimeouts = { timeBoxMs: 15000, stepMs: 6000 };

/** What a failure diagnosis needs to know of the server, on either side. */
export interface ProbeTarget {
  host: string;
  port: number;
  security: Security;
  protocol: ProbeProtocol;
}

interface Attempt {
  folders?: string[];
  count?: number;
}

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
  const client = await Pop3Client.connect({
    host: settings.host,
    port: settings.port,
    security: settings.security,
    trust: buildTrustOptions(settings.host, settings.certificate),
    user: settings.user,
    password: settings.password,
    connectTimeoutMs: stepMs,
    commandTimeoutMs: stepMs,
  });
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

/** Runs `work` but gives up after `ms`, aborting it so no socket is left behind. */
async function withinTimeBox<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new MailError('timeout', 'validate time box expired'));
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Turns a failure into the code and the details its message needs, looking a little further
 * where that helps the user fix it: the certificate the server presented, or whether a silent
 * port is really a TLS port.
 */
export async function diagnose(err: unknown, settings: ProbeTarget, deadline: number): Promise<ValidateOutcome> {
  const failure = classifyError(err);
  const details: Record<string, string> = { host: settings.host, port: String(settings.port), protocol: settings.protocol.toUpperCase(), ...failure.details };
  const remaining = (): number => Math.max(500, Math.min(4000, deadline - Date.now()));
  let code: FailureCode = failure.code;
  if (code === 'timeout' && settings.security !== 'tls' && (await speaksTls(settings.host, settings.port, remaining()))) {
    code = 'tls-mode';
  }
  if (code === 'tls-mode') details.found = settings.security === 'tls' ? 'plain' : 'tls';
  let certificate: PresentedCertificate | undefined;
  if (code === 'tls-untrusted' || code === 'tls-hostname') {
    certificate = await probeCertificate(settings.host, settings.port, settings.security, settings.protocol, remaining());
    details.subject = certificate?.subject ?? '?';
    details.fingerprint = certificate?.fingerprint256 ?? '?';
  }
  return { ok: false, code, details, certificate };
}

export async function validateReceive(settings: ReceiveSettings, timeouts: ValidateTimeouts = VALIDATE_TIMEOUTS): Promise<ValidateOutcome> {
  const started = Date.now();
  const { timeBoxMs, stepMs } = timeouts;
  const problem = findSettingsProblem(settings);
  if (problem) return { ok: false, code: 'invalid-config', details: { problem } };
  // Leave room inside the box for the diagnosis after a failure.
  const attemptBox = Math.max(stepMs, timeBoxMs - 4500);
  try {
    const attempt = await withinTimeBox(attemptBox, (signal) => (settings.protocol === 'imap' ? tryImap(settings, stepMs, signal) : tryPop3(settings, stepMs, signal)));
    return { ok: true, code: 'ok', details: { folders: (attempt.folders ?? []).join(', '), count: String(attempt.count ?? 0) }, ...attempt };
  } catch (err) {
    return diagnose(err, settings, started + timeBoxMs - 500);
  }
}
