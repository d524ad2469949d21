// The POP3 client against a fake server on 127.0.0.1 that cuts its replies into awkward TCP
// writes, lies about STLS, injects plaintext after STLS, stalls, or hangs up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { MailError, classifyError } from '../../src/lib/mail-error';
import { Pop3Client } from '../../src/lib/pop3/pop3-client';
import type { Pop3Options } from '../../src/lib/pop3/pop3-client';
import { buildTrustOptions } from '../../src/lib/tls-trust';
import { retrResponse } from '../support/pop3-wire';
import { sleep, until } from '../support/wait';

const PASSWORD = 'pw-Secret-4711';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

const HAZARDS = Buffer.concat([
  Buffer.from('From: a@example.test\r\nSubject: framing\r\n\r\n.hidden\r\n..two\r\n.\r\nafter a lone dot\r\n'),
  ALL_BYTES,
  Buffer.from('\r\n.\rnot the end\r\n\xe4\xf6\xfc\xff 8-bit\r\n..\r\n.\r\n', 'latin1'),
]);

const RETR_WIRE = retrResponse(HAZARDS);

/** Cuts `wire` at the given offsets. */
function cutAt(wire: Buffer, offsets: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const offset of [...offsets, wire.length]) {
    if (offset > from) pieces.push(wire.subarray(from, offset));
    from = Math.max(from, offset);
  }
  return pieces;
}

function allIndexesOf(wire: Buffer, byte: number): number[] {
  const found: number[] = [];
  for (let i = wire.indexOf(byte); i !== -1; i = wire.indexOf(byte, i + 1)) found.push(i);
  return found;
}

const end = RETR_WIRE.length;
/** Ways to cut the RETR reply into separate TCP writes, each a hazard for a naive reader. */
const SPLITS: Array<{ name: string; pieces: Buffer[] }> = [
  ...[1, 2, 3, 4].map((k) => ({ name: `terminator "\\r\\n.\\r\\n" split after its byte ${k}`, pieces: cutAt(RETR_WIRE, [end - 5 + k]) })),
  { name: 'terminator as "\\r\\n" | "." | "\\r\\n"', pieces: cutAt(RETR_WIRE, [end - 3, end - 2]) },
  { name: 'terminator as "\\r" | "\\n" | "." | "\\r" | "\\n"', pieces: cutAt(RETR_WIRE, [end - 4, end - 3, end - 2, end - 1]) },
  { name: 'every dot a write of its own', pieces: cutAt(RETR_WIRE, allIndexesOf(RETR_WIRE, 0x2e).flatMap((i) => [i, i + 1])) },
  { name: 'every LF a write of its own', pieces: cutAt(RETR_WIRE, allIndexesOf(RETR_WIRE, 0x0a).flatMap((i) => [i, i + 1])) },
  { name: 'the last 48 bytes one at a time', pieces: cutAt(RETR_WIRE, Array.from({ length: 48 }, (_, i) => end - 48 + i)) },
  { name: 'status line cut before its LF', pieces: cutAt(RETR_WIRE, [2, 20]) },
  { name: 'all in one write', pieces: [RETR_WIRE] },
];

/** One client connection as the fake server sees it: lines in, bytes out. */
class FakeSession {
  readonly received: string[] = [];
  readonly closed: Promise<void>;
  scriptError: unknown;
  private stream: net.Socket;
  private pendingText = '';
  private readonly queuedLines: string[] = [];
  private lineWaiter: ((line: string | null) => void) | undefined;
  private ended = false;

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.stream = socket;
    this.listen(socket);
  }

  /** The next CRLF-terminated line from the client; null once the client is gone. */
  nextLine(): Promise<string | null> {
    const queued = this.queuedLines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.lineWaiter = resolve;
    });
  }

  /** Resolves once the bytes are handed to the kernel, so a pause after it separates TCP segments. */
  send(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.stream.write(data, () => resolve());
    });
  }

  /** Becomes the TLS server side of STLS on the same connection. */
  startTls(key: string, cert: string): tls.TLSSocket {
    this.stream.off('data', this.onData);
    const secure = new tls.TLSSocket(this.socket, { isServer: true, key, cert });
    secure.on('error', () => undefined);
    this.stream = secure;
    this.listen(secure);
    return secure;
  }

  end(): void {
    this.stream.end();
  }

  private listen(stream: net.Socket): void {
    stream.on('data', this.onData);
    stream.once('close', () => {
      this.ended = true;
      this.deliver(null);
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    this.pendingText += chunk.toString('latin1');
    for (let at = this.pendingText.indexOf('\r\n'); at !== -1; at = this.pendingText.indexOf('\r\n')) {
      const line = this.pendingText.slice(0, at);
      this.pendingText = this.pendingText.slice(at + 2);
      this.received.push(line);
      this.deliver(line);
    }
  };

  private deliver(line: string | null): void {
    const waiter = this.lineWaiter;
    this.lineWaiter = undefined;
    if (waiter) waiter(line);
    else if (line !== null) this.queuedLines.push(line);
  }
}

interface FakeServer {
  port: number;
  /** The first client's session, for tests that speak for the server themselves. */
  session(): Promise<FakeSession>;
  /** The first session once the client is gone and the script has finished; rethrows the script's failure. */
  finished(): Promise<FakeSession>;
  close(): Promise<void>;
}

async function startFakeServer(script: (session: FakeSession) => Promise<void>): Promise<FakeServer> {
  const sessions: FakeSession[] = [];
  const scriptsDone: Array<Promise<void>> = [];
  let firstSession: (session: FakeSession) => void = () => undefined;
  const first = new Promise<FakeSession>((resolve) => {
    firstSession = resolve;
  });
  const server = net.createServer((socket) => {
    const session = new FakeSession(socket);
    sessions.push(session);
    scriptsDone.push(script(session).catch((err: unknown) => {
      session.scriptError = err;
      socket.destroy();
    }));
    firstSession(session);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    port: address.port,
    session: () => first,
    async finished() {
      const session = await first;
      await session.closed;
      await Promise.all(scriptsDone);
      if (session.scriptError) throw session.scriptError;
      return session;
    },
    async close() {
      for (const session of sessions) session.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A server that answers each command verb from `replies`; a null reply means it never answers. */
function answering(replies: Record<string, string | null>, greeting = '+OK fake POP3 ready\r\n'): (session: FakeSession) => Promise<void> {
  return async (session) => {
    if (greeting) await session.send(greeting);
    for (let line = await session.nextLine(); line !== null; line = await session.nextLine()) {
      const verb = line.split(' ')[0].toUpperCase();
      const reply = verb in replies ? replies[verb] : '-ERR unknown command\r\n';
      if (reply !== null) await session.send(reply);
      if (verb === 'QUIT') session.end();
    }
  };
}

function options(port: number, overrides: Partial<Pop3Options> = {}): Pop3Options {
  return {
    host: '127.0.0.1',
    port,
    security: 'none',
    trust: buildTrustOptions('127.0.0.1', ''),
    user: 'alice',
    password: PASSWORD,
    connectTimeoutMs: 3000,
    commandTimeoutMs: 3000,
    ...overrides,
  };
}

function isMailError(code: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof MailError, `expected a MailError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(!err.message.includes(PASSWORD), 'the password leaked into the error message');
    return true;
  };
}

const LOGIN_OK = { USER: '+OK\r\n', PASS: '+OK logged in\r\n', QUIT: '+OK bye\r\n' };

describe('Pop3Client framing over a real socket', () => {
  it('gets a hazardous message back byte for byte however the reply is cut', async (t) => {
    const server = await startFakeServer(async (session) => {
      await session.send('+OK fake POP3 ready\r\n');
      assert.equal(await session.nextLine(), 'USER alice');
      await session.send('+OK\r\n');
      assert.equal(await session.nextLine(), `PASS ${PASSWORD}`);
      await session.send('+OK\r\n');
      for (let n = 1; n <= SPLITS.length; n += 1) {
        assert.equal(await session.nextLine(), `RETR ${n}`);
        for (const piece of SPLITS[n - 1].pieces) {
          await session.send(piece);
          await sleep(4);
        }
      }
      assert.equal(await session.nextLine(), 'QUIT');
      await session.send('+OK bye\r\n');
      session.end();
    });
    t.after(() => server.close());
    // A reader that misses a split terminator would wait forever; the short timeout turns that into a failure.
    const client = await Pop3Client.connect(options(server.port, { commandTimeoutMs: 2000 }));
    for (let n = 1; n <= SPLITS.length; n += 1) {
      const message = await client.retr(n);
      assert.ok(message.equals(HAZARDS), `${SPLITS[n - 1].name}: got ${message.length} bytes, ${JSON.stringify(message.toString('latin1').slice(-40))}`);
    }
    await client.quit();
    assert.equal(client.closed, true);
    await server.finished();
  });

  it('reads list replies and STAT', async (t) => {
    const server = await startFakeServer(answering({
      ...LOGIN_OK,
      STAT: '+OK 2 330\r\n',
      LIST: '+OK 2 messages\r\n1 120\r\n2 210\r\n.\r\n',
      UIDL: '+OK\r\n1 00000001abc\r\n2 00000002def\r\n.\r\n',
      CAPA: '+OK\r\nUSER\r\nUIDL\r\nSASL PLAIN\r\n.\r\n',
    }));
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port));
    assert.deepEqual(await client.stat(), { count: 2, size: 330 });
    assert.deepEqual(await client.list(), [{ number: 1, size: 120 }, { number: 2, size: 210 }]);
    assert.deepEqual(await client.uidl(), [{ number: 1, uidl: '00000001abc' }, { number: 2, uidl: '00000002def' }]);
    assert.deepEqual(await client.capabilities(), ['USER', 'UIDL', 'SASL PLAIN']);
    await client.quit();
    const session = await server.finished();
    assert.deepEqual(session.received, ['USER alice', `PASS ${PASSWORD}`, 'STAT', 'LIST', 'UIDL', 'CAPA', 'QUIT']);
  });

  it('queues commands issued together and answers each in order', async (t) => {
    const server = await startFakeServer(answering({ ...LOGIN_OK, STAT: '+OK 1 5\r\n', RETR: '+OK\r\nhi\r\n.\r\n', DELE: '+OK deleted\r\n' }));
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port));
    const [stat, message, deleted] = await Promise.all([client.stat(), client.retr(1), client.dele(1)]);
    assert.deepEqual(stat, { count: 1, size: 5 });
    assert.deepEqual(message, Buffer.from('hi\r\n'));
    assert.equal(deleted, undefined);
    await client.quit();
    assert.deepEqual((await server.finished()).received.slice(2), ['STAT', 'RETR 1', 'DELE 1', 'QUIT']);
  });

  it('reports -ERR on a command as protocol and stays usable', async (t) => {
    const server = await startFakeServer(answering({ ...LOGIN_OK, RETR: '-ERR no such message\r\n', STAT: '+OK 0 0\r\n' }));
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port));
    await assert.rejects(client.retr(7), isMailError('protocol'));
    assert.equal(client.closed, false);
    assert.deepEqual(await client.stat(), { count: 0, size: 0 });
    await client.quit();
  });

  it('does not log in when the user name is empty', async (t) => {
    const server = await startFakeServer(answering({ STAT: '-ERR log in first\r\n', QUIT: '+OK bye\r\n' }));
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port, { user: '', password: '' }));
    await assert.rejects(client.stat(), isMailError('protocol'));
    await client.quit();
    assert.deepEqual((await server.finished()).received, ['STAT', 'QUIT']);
  });
});

describe('Pop3Client login', () => {
  it('reports -ERR on PASS as auth without repeating the password the server echoed', async (t) => {
    const server = await startFakeServer(answering({ USER: '+OK\r\n', PASS: `-ERR [AUTH] wrong password ${PASSWORD}\r\n` }));
    t.after(() => server.close());
    await assert.rejects(Pop3Client.connect(options(server.port)), isMailError('auth'));
  });

  it('reports -ERR on USER as auth and never sends PASS', async (t) => {
    const server = await startFakeServer(answering({ USER: '-ERR unknown user\r\n', PASS: '+OK\r\n' }));
    t.after(() => server.close());
    await assert.rejects(Pop3Client.connect(options(server.port)), isMailError('auth'));
    assert.deepEqual((await server.finished()).received, ['USER alice']);
  });

  it('calls a locked mailbox "in use", not a wrong password nor a protocol error', async (t) => {
    const server = await startFakeServer(answering({ USER: '+OK\r\n', PASS: '-ERR [IN-USE] Mailbox is locked by another session\r\n' }));
    t.after(() => server.close());
    await assert.rejects(Pop3Client.connect(options(server.port)), isMailError('in-use'));
  });

  it('does not call a temporary system problem a wrong password', async (t) => {
    const server = await startFakeServer(answering({ USER: '+OK\r\n', PASS: '-ERR [SYS/TEMP] try again later\r\n' }));
    t.after(() => server.close());
    await assert.rejects(Pop3Client.connect(options(server.port)), isMailError('protocol'));
  });

  it('refuses a user name with a line break before connecting', async (t) => {
    const server = await startFakeServer(answering(LOGIN_OK));
    t.after(() => server.close());
    await assert.rejects(Pop3Client.connect(options(server.port, { user: 'alice\r\nDELE 1' })), isMailError('invalid-config'));
  });

  it('rejects a server that is not POP3 as protocol', async (t) => {
    const server = await startFakeServer(answering(LOGIN_OK, '* OK IMAP4rev1 ready\r\n'));
    t.after(() => server.close());
    await assert.rejects(Pop3Client.connect(options(server.port)), isMailError('protocol'));
  });

  it('rejects a -ERR greeting as protocol', async (t) => {
    const server = await startFakeServer(answering(LOGIN_OK, '-ERR too many connections\r\n'));
    t.after(() => server.close());
    await assert.rejects(Pop3Client.connect(options(server.port)), isMailError('protocol'));
  });

  it('rejects a refused connection with the original Node error', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const address = probe.address();
    assert.ok(address && typeof address === 'object');
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await assert.rejects(Pop3Client.connect(options(address.port)), (err: unknown) => {
      assert.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      assert.equal(classifyError(err).code, 'refused');
      return true;
    });
  });
});

describe('Pop3Client STLS', () => {
  let tlsDir = '';
  let key = '';
  let cert = '';

  before(() => {
    tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pop3-fake-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-keyout', path.join(tlsDir, 'key.pem'), '-out', path.join(tlsDir, 'cert.pem'),
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
    ], { stdio: 'ignore' });
    key = fs.readFileSync(path.join(tlsDir, 'key.pem'), 'utf8');
    cert = fs.readFileSync(path.join(tlsDir, 'cert.pem'), 'utf8');
  });

  after(() => {
    fs.rmSync(tlsDir, { recursive: true, force: true });
  });

  const starttls = (port: number, certificate: string): Pop3Options => options(port, { security: 'starttls', trust: buildTrustOptions('127.0.0.1', certificate) });

  it('fails closed when CAPA does not list STLS: no USER, no PASS', async (t) => {
    const server = await startFakeServer(answering({ ...LOGIN_OK, CAPA: '+OK\r\nUSER\r\nUIDL\r\n.\r\n', STLS: '+OK\r\n' }));
    t.after(() => server.close());
    await assert.rejects(Pop3Client.connect(starttls(server.port, cert)), isMailError('starttls-unavailable'));
    assert.deepEqual((await server.finished()).received, ['CAPA']);
  });

  it('fails closed when the server has no CAPA', async (t) => {
    const server = await startFakeServer(answering({ ...LOGIN_OK, CAPA: '-ERR what?\r\n', STLS: '+OK\r\n' }));
    t.after(() => server.close());
    await assert.rejects(Pop3Client.connect(starttls(server.port, cert)), isMailError('starttls-unavailable'));
    assert.deepEqual((await server.finished()).received, ['CAPA']);
  });

  it('fails closed when STLS is answered -ERR: no USER, no PASS', async (t) => {
    const server = await startFakeServer(answering({ ...LOGIN_OK, CAPA: '+OK\r\nSTLS\r\nUSER\r\n.\r\n', STLS: '-ERR not now\r\n' }));
    t.after(() => server.close());
    await assert.rejects(Pop3Client.connect(starttls(server.port, cert)), isMailError('starttls-unavailable'));
    assert.deepEqual((await server.finished()).received, ['CAPA', 'STLS']);
  });

  /**
   * Speaks STLS for real; `injected` is plaintext sent right behind the +OK, in the same TCP write
   * or, with `separately`, in a write of its own once the server has begun TLS.
   */
  function stlsServer(injected: string, separately = false): (session: FakeSession) => Promise<void> {
    return async (session) => {
      await session.send('+OK fake POP3 ready\r\n');
      assert.equal(await session.nextLine(), 'CAPA');
      await session.send('+OK\r\nUSER\r\nSTLS\r\n.\r\n');
      assert.equal(await session.nextLine(), 'STLS');
      session.socket.write(separately ? '+OK begin TLS\r\n' : `+OK begin TLS\r\n${injected}`);
      session.startTls(key, cert);
      if (separately) session.socket.write(injected);
      await answering({ ...LOGIN_OK, STAT: '+OK 3 300\r\n' }, '')(session);
    };
  }

  it('upgrades, verifies the pinned certificate and ignores plaintext injected after +OK', async (t) => {
    const server = await startFakeServer(stlsServer('+OK injected\r\n-ERR injected\r\n+OK 99 99\r\n'));
    t.after(() => server.close());
    const client = await Pop3Client.connect(starttls(server.port, cert));
    assert.deepEqual(await client.stat(), { count: 3, size: 300 });
    assert.equal(client.peerCertificate?.fingerprint256, new X509Certificate(cert).fingerprint256);
    await client.quit();
    assert.deepEqual((await server.finished()).received, ['CAPA', 'STLS', 'USER alice', `PASS ${PASSWORD}`, 'STAT', 'QUIT']);
  });

  it('never reads plaintext that arrives after +OK in a segment of its own as POP3', async (t) => {
    const server = await startFakeServer(stlsServer('+OK injected\r\n-ERR injected\r\n+OK 99 99\r\n', true));
    t.after(() => server.close());
    // Depending on timing the bytes are dropped with the plaintext stream or break the TLS
    // handshake; either way no reply is taken from them and nothing secret goes out in the clear.
    const client = await Pop3Client.connect(starttls(server.port, cert)).catch((err: unknown) => err);
    t.diagnostic(client instanceof Pop3Client ? 'injected bytes were dropped' : `handshake broke: ${String(client)}`);
    if (client instanceof Pop3Client) {
      assert.deepEqual(await client.stat(), { count: 3, size: 300 });
      await client.quit();
      assert.deepEqual((await server.finished()).received, ['CAPA', 'STLS', 'USER alice', `PASS ${PASSWORD}`, 'STAT', 'QUIT']);
    } else {
      assert.ok(!(client instanceof MailError && client.code === 'auth'), String(client));
      assert.deepEqual((await server.finished()).received, ['CAPA', 'STLS']);
    }
  });

  it('fails closed on an untrusted certificate after STLS: no USER, no PASS', async (t) => {
    const server = await startFakeServer(stlsServer(''));
    t.after(() => server.close());
    // No pinned certificate: the self-signed one is checked against the system roots and fails.
    await assert.rejects(Pop3Client.connect(starttls(server.port, '')), (err: unknown) => {
      assert.equal(classifyError(err).code, 'tls-untrusted', String(err));
      return true;
    });
    assert.deepEqual((await server.finished()).received, ['CAPA', 'STLS']);
  });
});

describe('Pop3Client timeouts and closing', () => {
  it('times out a command the server never answers, within commandTimeoutMs', async (t) => {
    const server = await startFakeServer(answering({ ...LOGIN_OK, STAT: null }));
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port, { commandTimeoutMs: 500 }));
    const started = Date.now();
    await assert.rejects(client.stat(), isMailError('timeout'));
    const waited = Date.now() - started;
    assert.ok(waited >= 450 && waited < 2500, `waited ${waited} ms`);
    assert.equal(client.closed, true);
    await assert.rejects(client.stat(), isMailError('closed'));
  });

  it('times out a login the server never answers', async (t) => {
    const server = await startFakeServer(answering({ USER: null }));
    t.after(() => server.close());
    const started = Date.now();
    await assert.rejects(Pop3Client.connect(options(server.port, { commandTimeoutMs: 500 })), isMailError('timeout'));
    assert.ok(Date.now() - started < 2500);
  });

  it('times out a server that never greets, within connectTimeoutMs', async (t) => {
    const server = await startFakeServer(answering(LOGIN_OK, ''));
    t.after(() => server.close());
    const started = Date.now();
    await assert.rejects(Pop3Client.connect(options(server.port, { connectTimeoutMs: 500 })), isMailError('timeout'));
    const waited = Date.now() - started;
    assert.ok(waited >= 450 && waited < 2500, `waited ${waited} ms`);
  });

  it('times out a RETR whose body stops halfway', async (t) => {
    const server = await startFakeServer(async (session) => {
      await answering({ ...LOGIN_OK, RETR: null })(session);
    });
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port, { commandTimeoutMs: 500 }));
    const retr = client.retr(1);
    const session = await server.session();
    await session.send(RETR_WIRE.subarray(0, RETR_WIRE.length - 2));
    await assert.rejects(retr, isMailError('timeout'));
  });

  it('keeps waiting while a slow body keeps arriving', async (t) => {
    const server = await startFakeServer(async (session) => {
      await answering({ ...LOGIN_OK, RETR: null })(session);
    });
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port, { commandTimeoutMs: 500 }));
    const retr = client.retr(1);
    const session = await server.session();
    const pieces = cutAt(RETR_WIRE, [60, 120, 180, 240, 300, 360, 420, 480]);
    for (const piece of pieces) {
      await session.send(piece);
      await sleep(200);
    }
    assert.ok((await retr).equals(HAZARDS));
    assert.ok(pieces.length * 200 > 1000, 'the body took longer than two timeouts');
    await client.quit();
  });

  it('rejects a command cut off by the server hanging up, and every later one', async (t) => {
    const server = await startFakeServer(async (session) => {
      await answering({ ...LOGIN_OK, RETR: null })(session);
    });
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port));
    const retr = client.retr(1);
    const session = await server.session();
    await until(() => session.received.includes('RETR 1'), 2000, 'RETR 1 at the server', 10);
    await session.send('+OK\r\npartial\r\n');
    session.end();
    await assert.rejects(retr, isMailError('closed'));
    assert.equal(client.closed, true);
    await assert.rejects(client.uidl(), isMailError('closed'));
    await client.quit();
  });

  it('destroy() rejects pending commands, is idempotent and sends no QUIT', async (t) => {
    const server = await startFakeServer(answering({ ...LOGIN_OK, STAT: null, LIST: null }));
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port));
    const stat = client.stat();
    const list = client.list();
    client.destroy();
    client.destroy();
    await assert.rejects(stat, isMailError('closed'));
    await assert.rejects(list, isMailError('closed'));
    await assert.rejects(client.dele(1), isMailError('closed'));
    assert.deepEqual((await server.finished()).received, ['USER alice', `PASS ${PASSWORD}`, 'STAT']);
  });

  it('quit() resolves when the server is already gone', async (t) => {
    const server = await startFakeServer(answering(LOGIN_OK));
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port));
    (await server.session()).socket.destroy();
    await client.quit();
    assert.equal(client.closed, true);
  });

  it('quit() rejects when the server answers QUIT with -ERR', async (t) => {
    const server = await startFakeServer(answering({ ...LOGIN_OK, QUIT: '-ERR some deleted messages not removed\r\n' }));
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port));
    await assert.rejects(client.quit(), isMailError('protocol'));
    assert.equal(client.closed, true);
  });

  it('treats a reply nobody asked for as protocol', async (t) => {
    const server = await startFakeServer(answering(LOGIN_OK));
    t.after(() => server.close());
    const client = await Pop3Client.connect(options(server.port));
    await (await server.session()).send('+OK surprise\r\n');
    await until(() => client.closed, 2000, 'the client to close', 10);
    assert.equal(client.closed, true);
    await assert.rejects(client.stat(), (err: unknown) => {
      isMailError('closed')(err);
      assert.ok(err instanceof MailError && err.cause instanceof MailError && err.cause.code === 'protocol', String(err));
      return true;
    });
  });
});
