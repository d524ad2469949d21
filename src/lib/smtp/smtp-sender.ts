import nodemailer from 'nodemailer';
import type { SendSettings } from '../connection-options';
import { MailError, classifyError } from '../mail-error';
import { buildTrustOptions } from '../tls-trust';
import type { OutgoingMail } from './outgoing-mail';
import { oauthSendFailure, provideTokens } from './smtp-oauth';
import { startTlsGuardedSocket } from './starttls-guard';

export interface SmtpTimeouts {
  connectMs: number;
  greetingMs: number;
  socketMs: number;
}

export const SMTP_RUNTIME_TIMEOUTS: SmtpTimeouts = { connectMs: 15000, greetingMs: 15000, socketMs: 60000 };

/** What Send Email puts on `msg.sent`. */
export interface SendResult {
  messageId: string;
  accepted: string[];
  rejected: string[];
  response: string;
}

/** The server refused the email; `permanent` for a 5xx, else it stayed 4xx through all retries. */
export class SmtpRefusal extends Error {
  constructor(
    readonly responseCode: number,
    readonly permanent: boolean,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(`SMTP ${responseCode} after ${attempts} attempt(s)`, options);
    this.name = 'SmtpRefusal';
  }
}

/**
 * nodemailer options for our settings. `requireTLS` makes StartTLS mandatory: nodemailer then
 * fails before AUTH when the server does not offer it or refuses it. `ignoreTLS` for 'none'
 * keeps a plain connection plain, as the user chose.
 */
export function transportOptions(settings: SendSettings, timeouts: SmtpTimeouts, onStartTlsRefused?: () => void) {
  return {
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    requireTLS: settings.security === 'starttls',
    ignoreTLS: settings.security === 'none',
    tls: buildTrustOptions(settings.host, settings.certificate),
    // With tokens only the user goes to nodemailer; provideTokens() supplies each access token.
    auth: settings.tokens ? { type: 'OAuth2' as const, user: settings.user } : settings.user ? { user: settings.user, pass: settings.password } : undefined,
    connectionTimeout: timeouts.connectMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.socketMs,
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
    debug: false,
    getSocket: settings.security === 'starttls' ? startTlsGuardedSocket(timeouts.connectMs, onStartTlsRefused) : undefined,
  };
}

export interface SenderOptions {
  maxConnections: number;
  /** Waits before each retry of a 4xx reply; its length is the number of retries. */
  retryDelaysMs: number[];
  timeouts?: SmtpTimeouts;
}

export const DEFAULT_SENDER_OPTIONS: SenderOptions = { maxConnections: 3, retryDelaysMs: [1000, 3000, 9000] };

function responseCodeOf(err: unknown): number | undefined {
  const code = (err as { responseCode?: unknown }).responseCode;
  return typeof code === 'number' ? code : undefined;
}

/**
 * One pooled SMTP transport per send connection, shared by every Send Email node that uses it:
 * a new TLS connection per message costs ~50 ms, a pooled one nothing.
 */
export class SmtpSender {
  private readonly transport;
  private closed = false;
  private startTlsRefusals = 0;

  constructor(
    settings: SendSettings,
    private readonly options: SenderOptions = DEFAULT_SENDER_OPTIONS,
  ) {
    this.transport = nodemailer.createTransport({
      ...transportOptions(settings, options.timeouts ?? SMTP_RUNTIME_TIMEOUTS, () => {
        this.startTlsRefusals += 1;
      }),
      pool: true,
      maxConnections: options.maxConnections,
      maxMessages: Infinity,
    });
    // The pool emits `error` for a connection that fails outside a send; without a listener that
    // would be an uncaught exception in Node-RED. Failures of a send reach its own promise.
    this.transport.on('error', () => undefined);
    if (settings.tokens) provideTokens(this.transport, settings.tokens);
  }

  async send(mail: OutgoingMail): Promise<SendResult> {
    const refusalsBefore = this.startTlsRefusals;
    for (let attempt = 1; ; attempt += 1) {
      if (this.closed) throw classifyError(Object.assign(new Error('sender closed'), { code: 'ECONNECTION' }));
      try {
        const info = await this.transport.sendMail({
          from: mail.from,
          to: mail.to,
          cc: mail.cc,
          bcc: mail.bcc,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          attachments: mail.attachments,
          envelope: mail.envelope,
          disableFileAccess: true,
          disableUrlAccess: true,
        });
        return {
          messageId: info.messageId,
          accepted: info.accepted.map(String),
          rejected: info.rejected.map(String),
          response: info.response,
        };
      } catch (err) {
        // Only the envelope and the message data are the server's verdict on this email;
        // a reply code during connect, STARTTLS or AUTH is a connection failure.
        const kind = (err as { code?: unknown }).code;
        const code = kind === 'EENVELOPE' || kind === 'EMESSAGE' || kind === 'ECONNECTION' ? responseCodeOf(err) : undefined;
        if (code !== undefined && code >= 400 && code < 500 && attempt <= this.options.retryDelaysMs.length && !this.closed) {
          await new Promise((resolve) => setTimeout(resolve, this.options.retryDelaysMs[attempt - 1]));
          continue;
        }
        if (code !== undefined && code >= 400) throw new SmtpRefusal(code, code >= 500, attempt, { cause: err });
        if (this.startTlsRefusals > refusalsBefore) throw new MailError('starttls-unavailable', 'STARTTLS not offered', {}, { cause: err });
        throw oauthSendFailure(err) ?? classifyError(err);
      }
    }
  }

  close(): void {
    this.closed = true;
    this.transport.close();
  }
}
