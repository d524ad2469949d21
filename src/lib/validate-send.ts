import nodemailer from 'nodemailer';
import type { SendSettings } from './connection-options';
import { transportOptions } from './smtp/smtp-sender';
import { VALIDATE_TIMEOUTS, runValidation } from './validate';
import type { Attempt, ValidateOutcome, ValidateTimeouts } from './validate';

/** Connect, EHLO, STARTTLS when chosen, AUTH when a user is set: nodemailer's verify(). */
async function trySmtp(settings: SendSettings, stepMs: number, signal: AbortSignal): Promise<Attempt> {
  const transport = nodemailer.createTransport(transportOptions(settings, { connectMs: stepMs, greetingMs: stepMs, socketMs: stepMs }));
  const onAbort = (): void => transport.close();
  signal.addEventListener('abort', onAbort);
  try {
    await transport.verify();
    return {};
  } finally {
    signal.removeEventListener('abort', onAbort);
    transport.close();
  }
}

export function validateSend(settings: SendSettings, timeouts: ValidateTimeouts = VALIDATE_TIMEOUTS): Promise<ValidateOutcome> {
  return runValidation(settings, 'smtp', timeouts, (stepMs, signal) => trySmtp(settings, stepMs, signal));
}
