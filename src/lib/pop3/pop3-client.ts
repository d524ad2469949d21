// A small POP3 client (RFC 1939, CAPA from RFC 2449, STLS from RFC 2595) on node:net and node:tls.
// It replaces node-pop3, whose RETR could hang on a split terminator, decoded messages as UTF-8 and
// had no STLS. One command is on the wire at a time; messages come back as raw bytes.
import net from 'node:net';
import tls from 'node:tls';
import type { EventEmitter } from 'node:events';
import { isSecurity } from '../connection-options';
import type { Security } from '../connection-options';
import { MailError } from '../mail-error';
import type { AccessTokenSource, BearerMechanism } from '../oauth/oauth-settings';
import { errorChallengeReply, oauthBearerInitialResponse, parseErrorChallenge, xoauth2InitialResponse } from '../oauth/sasl';
import type { TrustOptions } from '../tls-trust';
import { Pop3ResponseReader } from './pop3-response-reader';
import type { BodyForm, Pop3Response } from './pop3-response-reader';

export interface Pop3Options {
  host: string;
  port: number;
  security: Security;
  /** From buildTrustOptions(host, certificate); spread into the tls.connect options. */
  trust: TrustOptions;
  /** An empty user name means: do not log in. */
  user: string;
  password: string;
  /** Present: log in with SASL OAUTHBEARER or XOAUTH2 and a token from here instead of USER/PASS. */
  tokens?: AccessTokenSource;
  /** Bounds TCP connect, the TLS handshake(s) and the greeting. Default 15000. */
  connectTimeoutMs?: number;
  /** The longest silence allowed while a reply is due; every received chunk restarts it. Default 30000. */
  commandTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** Server text goes into error messages for logs; a misbehaving server must not fill them. */
const MAX_SERVER_TEXT = 200;
/** RFC 5034 4: an initial response goes on the AUTH line only if the line, CRLF included, stays within this. */
const MAX_AUTH_LINE = 255;

interface CommandSpec {
  /** How error messages name the command; never holds the password. */
  label: string;
  /** What goes on the wire without CRLF; null for the greeting, which comes unasked. */
  line: string | null;
  multiline?: BodyForm;
  /** The greeting is bounded by the connect timeout instead. */
  untimed?: boolean;
  /** After +OK, the plaintext stream ends here; nothing more may be read from it as POP3. */
  startsTls?: boolean;
  /** Part of an AUTH exchange: the server may answer with a `+ ` continuation. */
  challenge?: boolean;
}

interface QueuedCommand extends CommandSpec {
  resolve: (response: Pop3Response) => void;
  reject: (err: Error) => void;
}

export class Pop3Client {
  private socket: net.Socket | undefined;
  /** Every socket this client created (the plain one stays under the TLS one after STLS). */
  private readonly ownedSockets: net.Socket[] = [];
  private readonly reader = new Pop3ResponseReader();
  private readonly waiting: QueuedCommand[] = [];
  private inFlight: QueuedCommand | undefined;
  private replyTimer: NodeJS.Timeout | undefined;
  /** Why the session ended; set once, and from then on the client is closed. */
  private failure: Error | undefined;
  private readonly failureListeners = new Set<(err: Error) => void>();
  private tlsPeerCertificate: tls.PeerCertificate | undefined;
  private readonly connectTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  /** Tokens sent in this session, kept only to blank them out of server text. */
  private readonly sentTokens = new Set<string>();

  private constructor(private readonly options: Pop3Options) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  }

  /**
   * Connects, reads the greeting, upgrades with STLS when security is 'starttls' and logs in with
   * USER/PASS unless the user name is empty. Socket and TLS failures reject with Node's own error.
   */
  static async connect(options: Pop3Options): Promise<Pop3Client> {
    checkOptions(options);
    const client = new Pop3Client(options);
    try {
      await client.open();
      return client;
    } catch (err) {
      client.destroy();
      throw err;
    }
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** The server's certificate once TLS is up (security 'tls', or 'starttls' after STLS). */
  get peerCertificate(): tls.PeerCertificate | undefined {
    return this.tlsPeerCertificate;
  }

  /** CAPA; a server without CAPA (answers -ERR) has an empty list. */
  async capabilities(): Promise<string[]> {
    const reply = await this.exchange({ label: 'CAPA', line: 'CAPA', multiline: true });
    return reply.ok ? bodyLines(reply) : [];
  }

  async stat(): Promise<{ count: number; size: number }> {
    const reply = this.expectOk('STAT', await this.exchange({ label: 'STAT', line: 'STAT' }));
    const match = /^(\d+) (\d+)/.exec(reply.text);
    if (!match) throw new MailError('protocol', `POP3 STAT reply not understood: ${this.serverText(reply.text)}`);
    return { count: Number(match[1]), size: Number(match[2]) };
  }

  async uidl(): Promise<Array<{ number: number; uidl: string }>> {
    const reply = this.expectOk('UIDL', await this.exchange({ label: 'UIDL', line: 'UIDL', multiline: true }));
    return bodyLines(reply).map((line) => {
      // RFC 1939 keeps UIDLs to 0x21-0x7E; a server that strays still gets its mail read.
      const match = /^(\d+) +(\S+)/.exec(line);
      if (!match) throw new MailError('protocol', `POP3 UIDL line not understood: ${this.serverText(line)}`);
      return { number: Number(match[1]), uidl: match[2] };
    });
  }

  async list(): Promise<Array<{ number: number; size: number }>> {
    const reply = this.expectOk('LIST', await this.exchange({ label: 'LIST', line: 'LIST', multiline: true }));
    return bodyLines(reply).map((line) => {
      const match = /^(\d+) +(\d+)/.exec(line);
      if (!match) throw new MailError('protocol', `POP3 LIST line not understood: ${this.serverText(line)}`);
      return { number: Number(match[1]), size: Number(match[2]) };
    });
  }

  /** The message exactly as the server holds it: bytes, CRLF line ends, dot-stuffing undone. */
  async retr(number: number): Promise<Buffer> {
    return Buffer.concat(await this.retrParts(number));
  }

  /**
   * The same message as the slices of the socket chunks it came in, never joined: a parser fed
   * these can let each go once read, so a large message is not held whole, let alone twice.
   */
  async retrParts(number: number): Promise<Buffer[]> {
    checkMessageNumber(number);
    const reply = this.expectOk(`RETR ${number}`, await this.exchange({ label: `RETR ${number}`, line: `RETR ${number}`, multiline: 'parts' }));
    return reply.bodyParts ?? [];
  }

  /** Marks a message deleted; the server removes it only when the session ends with QUIT. */
  async dele(number: number): Promise<void> {
    checkMessageNumber(number);
    this.expectOk(`DELE ${number}`, await this.exchange({ label: `DELE ${number}`, line: `DELE ${number}` }));
  }

  /**
   * Ends the session with QUIT, which commits DELEs, then closes. A server that is already gone is
   * not an error; a server that answers QUIT with -ERR (it could not remove deleted messages) is.
   */
  async quit(): Promise<void> {
    if (this.closed) return;
    let reply: Pop3Response;
    try {
      reply = await this.exchange({ label: 'QUIT', line: 'QUIT' });
    } catch {
      return;
    }
    this.fail(new MailError('closed', 'POP3 session ended with QUIT'));
    this.expectOk('QUIT', reply);
  }

  /** Closes at once without QUIT, so the server keeps every message; pending commands reject. */
  destroy(): void {
    this.fail(new MailError('closed', 'POP3 connection closed by the client'));
  }

  private async open(): Promise<void> {
    const { host, port, security, trust, user, password } = this.options;
    const deadline = setTimeout(() => {
      this.fail(new MailError('timeout', `POP3 server ${host}:${port}: no session within ${this.connectTimeoutMs} ms (connect, TLS, greeting)`));
    }, this.connectTimeoutMs);
    try {
      // Expected before the socket exists: with TLS the greeting can arrive in the same read as the handshake's end.
      const greeting = this.exchange({ label: 'greeting', line: null, untimed: true });
      // Should opening the socket throw, the rejection that destroy() causes has no other handler.
      greeting.catch(() => undefined);
      const socket = security === 'tls'
        ? tls.connect({ ...trust, rejectUnauthorized: true, host, port })
        : net.connect({ host, port });
      this.adopt(socket);
      const reply = await greeting;
      if (!reply.ok) throw new MailError('protocol', `POP3 server refused the session: ${this.serverText(reply.text)}`);
      if (socket instanceof tls.TLSSocket) this.tlsPeerCertificate = socket.getPeerCertificate();
      if (security === 'starttls') await this.startTls();
    } finally {
      clearTimeout(deadline);
    }
    if (user === '') return;
    if (this.options.tokens) {
      await this.logInWithToken(this.options.tokens);
      return;
    }
    const userReply = await this.exchange({ label: 'USER', line: `USER ${user}` });
    if (!userReply.ok) throw this.loginError('USER', userReply.text);
    const passReply = await this.exchange({ label: 'PASS', line: `PASS ${password}` });
    if (!passReply.ok) throw this.loginError('PASS', passReply.text);
  }

  /** Fails closed: without a completed TLS handshake, USER and PASS are never sent. */
  private async startTls(): Promise<void> {
    const { host, trust } = this.options;
    const capa = await this.exchange({ label: 'CAPA', line: 'CAPA', multiline: true });
    const offersStls = capa.ok && bodyLines(capa).some((line) => line.split(' ')[0].toUpperCase() === 'STLS');
    if (!offersStls) throw new MailError('starttls-unavailable', 'POP3 server does not offer STLS');
    const reply = await this.exchange({ label: 'STLS', line: 'STLS', startsTls: true });
    if (!reply.ok) throw new MailError('starttls-unavailable', `POP3 server refused STLS: ${this.serverText(reply.text)}`);
    const plain = this.socket;
    if (!plain) throw new MailError('closed', 'POP3 connection is gone');
    // host names the server for checkServerIdentity when trust has no servername (an IP address).
    const secure = tls.connect({ ...trust, rejectUnauthorized: true, host, socket: plain });
    this.adopt(secure);
    await this.waitFor(secure, 'secureConnect');
    this.tlsPeerCertificate = secure.getPeerCertificate();
  }

  private adopt(socket: net.Socket): void {
    this.ownedSockets.push(socket);
    this.socket = socket;
    // Stays attached for the socket's whole life, so a late error is never unhandled.
    socket.on('error', (err: Error) => this.fail(err));
    socket.on('close', () => this.fail(new MailError('closed', 'POP3 server closed the connection')));
    socket.on('data', this.onData);
    if (this.failure) socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.failure) return;
    if (this.inFlight && !this.inFlight.untimed) this.replyTimer?.refresh();
    let responses: Pop3Response[];
    try {
      responses = this.reader.push(chunk);
    } catch (err) {
      this.fail(new MailError('protocol', `POP3 response not understood: ${errorMessage(err)}`, {}, { cause: err }));
      return;
    }
    for (const response of responses) this.settle(response);
    // Only ever one command is out, so bytes beyond its reply were sent unasked: the stream is out of step.
    if (!this.failure && this.reader.unexpectedBytes > 0) {
      this.fail(new MailError('protocol', 'POP3 server sent data that was not asked for'));
    }
  };

  private settle(response: Pop3Response): void {
    const command = this.inFlight;
    if (!command) return;
    this.inFlight = undefined;
    this.stopReplyTimer();
    if (command.startsTls && response.ok) {
      // Whatever follows +OK in plaintext could be an attacker's injected reply (CVE-2011-0411).
      this.socket?.off('data', this.onData);
      this.reader.reset();
    }
    command.resolve(response);
    this.sendNext();
  }

  private exchange(spec: CommandSpec): Promise<Pop3Response> {
    return new Promise((resolve, reject) => {
      if (this.failure) {
        reject(new MailError('closed', `POP3 connection is closed; ${spec.label} not sent`, {}, { cause: this.failure }));
        return;
      }
      this.waiting.push({ ...spec, resolve, reject });
      this.sendNext();
    });
  }

  private sendNext(): void {
    if (this.inFlight || this.failure) return;
    const command = this.waiting.shift();
    if (!command) return;
    this.inFlight = command;
    this.reader.expect(command.multiline ?? false, command.challenge === true);
    if (command.line !== null) this.socket?.write(`${command.line}\r\n`);
    if (!command.untimed) {
      this.replyTimer = setTimeout(() => {
        this.fail(new MailError('timeout', `POP3 server did not answer ${command.label} within ${this.commandTimeoutMs} ms`));
      }, this.commandTimeoutMs);
    }
  }

  private stopReplyTimer(): void {
    if (this.replyTimer) clearTimeout(this.replyTimer);
    this.replyTimer = undefined;
  }

  /** Ends the session for good: every socket destroyed, every waiting command rejected with `err`. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.stopReplyTimer();
    const pending = this.inFlight ? [this.inFlight, ...this.waiting] : [...this.waiting];
    this.inFlight = undefined;
    this.waiting.length = 0;
    this.reader.reset();
    for (const socket of this.ownedSockets) socket.destroy();
    for (const listener of this.failureListeners) listener(err);
    this.failureListeners.clear();
    for (const command of pending) command.reject(err);
  }

  private waitFor(emitter: EventEmitter, event: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) {
        reject(this.failure);
        return;
      }
      const onFailure = (err: Error): void => {
        emitter.off(event, onEvent);
        reject(err);
      };
      const onEvent = (): void => {
        this.failureListeners.delete(onFailure);
        resolve();
      };
      emitter.once(event, onEvent);
      this.failureListeners.add(onFailure);
    });
  }

  private expectOk(label: string, reply: Pop3Response): Pop3Response {
    if (!reply.ok) throw new MailError('protocol', `POP3 server answered ${label} with -ERR: ${this.serverText(reply.text)}`);
    return reply;
  }

  /**
   * RFC 3206 response codes tell a busy or broken mailbox from bad credentials; calling those
   * 'auth' would send the user off to change a password that is right.
   */
  private loginError(label: 'USER' | 'PASS', text: string): MailError {
    const message = `POP3 server rejected ${label}: ${this.serverText(text)}`;
    // IN-USE: the credentials were fine, another session holds the maildrop's lock (RFC 2449 8.1.1).
    if (/^\[IN-USE\]/i.test(text)) return new MailError('in-use', message);
    const notCredentials = /^\[(SYS\/TEMP|SYS\/PERM)\]/i.test(text);
    return new MailError(notCredentials ? 'protocol' : 'auth', message);
  }

  /**
   * OAuth2 login (RFC 5034 AUTH with RFC 7628 OAUTHBEARER, else XOAUTH2). A refused token is
   * reported to the token source and a fresh one tried once more on the same connection: RFC
   * 5034 lets a client try AUTH again after a failure, and Dovecot keeps the session open for
   * it, so the retry costs no new TLS handshake. A second refusal is final and not reported, so
   * one login never costs more than one refresh.
   */
  private async logInWithToken(tokens: AccessTokenSource): Promise<void> {
    const mechanism = await this.bearerMechanism();
    let token = await tokens.accessToken();
    let refusal = await this.authenticate(mechanism, token);
    if (refusal === null) return;
    tokens.refused(token);
    // Without the session there is nothing to retry on; the next login gets the fresh token anyway.
    if (this.closed) throw refusal;
    token = await tokens.accessToken();
    refusal = await this.authenticate(mechanism, token);
    if (refusal !== null) throw refusal;
  }

  /** After TLS, so a man in the middle cannot hide OAUTHBEARER from us. */
  private async bearerMechanism(): Promise<BearerMechanism> {
    const capa = await this.exchange({ label: 'CAPA', line: 'CAPA', multiline: true });
    const sasl = (capa.ok ? bodyLines(capa) : [])
      .map((line) => line.trim().toUpperCase().split(/\s+/))
      .find((words) => words[0] === 'SASL') ?? [];
    // OAUTHBEARER is the standard one and carries host and port, which a server may check.
    if (sasl.includes('OAUTHBEARER')) return 'OAUTHBEARER';
    if (sasl.includes('XOAUTH2')) return 'XOAUTH2';
    throw new MailError('auth', 'the POP3 server does not offer OAuth2 sign-in (no OAUTHBEARER or XOAUTH2 in its CAPA SASL list)', { reason: 'no-oauth' });
  }

  /**
   * One AUTH exchange. Resolves null when logged in and with the `auth` error when the server
   * refused the token (worth one retry with a fresh token); throws for anything else.
   */
  private async authenticate(mechanism: BearerMechanism, token: string): Promise<MailError | null> {
    const { user, host, port } = this.options;
    this.sentTokens.add(token);
    const response = mechanism === 'OAUTHBEARER' ? oauthBearerInitialResponse(user, token, host, port) : xoauth2InitialResponse(user, token);
    const label = `AUTH ${mechanism}`;
    let reply: Pop3Response;
    if (`${label} ${response}\r\n`.length <= MAX_AUTH_LINE) {
      reply = await this.exchange({ label, line: `${label} ${response}`, challenge: true });
    } else {
      reply = await this.exchange({ label, line: label, challenge: true });
      if (reply.challenge !== undefined) {
        // These mechanisms are client-first: the server owes an empty challenge before our response.
        if (reply.challenge !== '') throw new MailError('protocol', `POP3 server sent a challenge before the ${mechanism} response`);
        reply = await this.exchange({ label, line: response, challenge: true });
      }
    }
    let status: string | undefined;
    if (reply.challenge !== undefined) {
      // An error challenge (RFC 7628 3.2.2): the server ends the exchange once we answer it.
      status = parseErrorChallenge(reply.challenge)?.status;
      reply = await this.exchange({ label, line: errorChallengeReply(mechanism), challenge: true });
      if (reply.challenge !== undefined) throw new MailError('protocol', `POP3 server kept challenging after the ${mechanism} error reply`);
    }
    if (reply.ok) return null;
    return this.tokenLoginError(mechanism, reply.text, status);
  }

  /**
   * RFC 2449 / RFC 3206 response codes: [AUTH] (or no code at all) is a refused token; [SYS/TEMP]
   * and [UNAVAILABLE] mean the server could not check it now (its link to the provider is down),
   * which a new token cannot fix; [IN-USE] is a locked maildrop, as with a password.
   */
  private tokenLoginError(mechanism: BearerMechanism, text: string, status: string | undefined): MailError {
    const because = status ? ` (${this.serverText(status)})` : '';
    const message = `POP3 server refused AUTH ${mechanism}${because}: ${this.serverText(text)}`;
    if (/^\[IN-USE\]/i.test(text)) throw new MailError('in-use', message);
    if (/^\[(SYS\/TEMP|UNAVAILABLE)\]/i.test(text)) throw new MailError('oauth-unavailable', message);
    if (/^\[AUTH\]/i.test(text) || !/^\[/.test(text)) return new MailError('auth', message);
    throw new MailError('protocol', message);
  }

  /** Server text for an error message: shortened, and never echoing the password or a token. */
  private serverText(text: string): string {
    let safe = text;
    const { password } = this.options;
    for (const secret of [password, ...this.sentTokens]) if (secret) safe = safe.split(secret).join('***');
    return safe.length > MAX_SERVER_TEXT ? `${safe.slice(0, MAX_SERVER_TEXT)}...` : safe;
  }
}

function checkOptions(options: Pop3Options): void {
  if (!isSecurity(options.security)) {
    throw new MailError('invalid-config', 'unknown security mode', { field: 'security' });
  }
  // A line break in a command argument would let the value smuggle in commands of its own.
  if (/[\r\n\0]/.test(options.user)) throw new MailError('invalid-config', 'user name contains a line break', { field: 'user' });
  if (/[\r\n\0]/.test(options.password)) throw new MailError('invalid-config', 'password contains a line break', { field: 'password' });
}

function checkMessageNumber(number: number): void {
  if (!Number.isSafeInteger(number) || number < 1) throw new RangeError(`not a POP3 message number: ${number}`);
}

/** The lines of a multi-line reply that lists things (CAPA, UIDL, LIST); those are ASCII by RFC. */
function bodyLines(reply: Pop3Response): string[] {
  if (!reply.body) return [];
  return reply.body.toString('latin1').split(/\r?\n/).filter((line) => line !== '');
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
