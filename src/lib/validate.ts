import type { ServerSettings, Security } from './connection-options';
import { findSettingsProblem } from './connection-options';
import { MailError, classifyError } from './mail-error';
import type { FailureCode } from './mail-error';
import { probeCertificate, speaksTls } from './certificate-probe';
import type { PresentedCertificate, ProbeProtocol } from './certificate-probe';

export interface ValidateOutcome {
  ok: boolean;
  code: FailureCode | 'ok';
  /** Values for the message text; all safe to show. */
  details: Record<string, string>;
  certificate?: PresentedCertificate;
  folders?: string[];
  count?: number;
}

/** What a successful attempt found out, shown to the user. */
export type Attempt = Pick<ValidateOutcome, 'folders' | 'count'>;

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

/** Runs `work` but gives up after `ms`, aborting it so no socket is left behind. */
export async function withinTimeBox<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
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

/**
 * The one Validate procedure of both sides: check the settings, run the protocol's attempt
 * inside the time box, and diagnose a failure with what time is left.
 */
export async function runValidation(
  settings: ServerSettings,
  protocol: ProbeProtocol,
  timeouts: ValidateTimeouts,
  attempt: (stepMs: number, signal: AbortSignal) => Promise<Attempt>,
): Promise<ValidateOutcome> {
  const started = Date.now();
  const problem = findSettingsProblem(settings);
  if (problem) return { ok: false, code: 'invalid-config', details: { problem } };
  // Leave room inside the box for the diagnosis after a failure.
  const attemptBox = Math.max(timeouts.stepMs, timeouts.timeBoxMs - 4500);
  try {
    const found = await withinTimeBox(attemptBox, (signal) => attempt(timeouts.stepMs, signal));
    return { ok: true, code: 'ok', details: { host: settings.host, folders: (found.folders ?? []).join(', '), count: String(found.count ?? 0) }, ...found };
  } catch (err) {
    return diagnose(err, { host: settings.host, port: settings.port, security: settings.security, protocol }, started + timeouts.timeBoxMs - 500);
  }
}
