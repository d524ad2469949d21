import nodemailer from 'nodemailer';
import type { SendSettings } from './connection-options';
import { MailError } from './mail-error';
import { oauthSendFailure, provideTokens } from './smtp/smtp-oauth';
import { transportOptions } from './smtp/smtp-sender';
import { VALIDATE_TIMEOUTS, runValidation } from './validate';
import type { Attempt, ValidateOutcome, ValidateTimeouts } from './validate';

/** Connect, EHLO, STARTTLS when chosen, AUTH when a user is set: nodemailer's verify(). */
async function trySmtp(settings: SendSettings, stepMs: number, signal: AbortSignal): Promise<Attempt> {
  let startTlsRefused = false;
  const transport = nodemailer.createTransport(
    transportOptions(settings, { connectMs: stepMs, greetingMs: stepMs, socketMs: stepMs }, () => {
      startTlsRefused = true;
    }),
  );
  if (settings.tokens) provideTokens(transport, settings.tokens);
  const onAbort = (): void => transport.close();
  signal.addEventListener('abort', onAbort);
  try {
    await transport.verify();
    return {};
  } catch (err) {
    if (startTlsRefused) throw new MailError('starttls-unavailable', 'STARTTLS not offered', {}, { cause: err });
    throw oauthSendFailure(err) ?? err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    transport.close();
  }
}

export function validateSend(settings: SendSettings, timeouts: ValidateTimeouts = VALIDATE_TIMEOUTS): Promise<ValidateOutcome> {
  return runValidation(settings, 'smtp', timeouts, (stepMs, signal) => trySmtp(settings, stepMs, signal));
}
