// Fake IMAP, POP3 and SMTP servers on 127.0.0.1 that record every byte a client sends them, as
// the server sees it (after TLS is taken off), and that let any login succeed. They stand where a
// stolen password would be sent: if a client ever sends credentials to one, `text` shows them.
// Modes: 'plain' (offers StartTLS and upgrades when given a certificate), 'tls' (implicit TLS),
// 'silent' (accepts and never says a word), 'silent-tls' (completes the TLS handshake first), and
// 'trickle' (a greeting that never ends: a few bytes every 300 ms, so no idle timer ever fires).
import net from 'node:net';
import tls from 'node:tls';

export type FakeProtocol = 'imap' | 'pop3' | 'smtp';
export type FakeMode = 'plain' | 'tls' | 'silent' | 'silent-tls' | 'trickle';

const TRICKLE: Record<FakeProtocol, [string, string]> = {
  imap: ['* OK [CAPABILITY IMAP4rev1', ' X-SLOW'],
  pop3: ['+OK slow', ' slow'],
  smtp: ['220-slow\r\n', '220-still greeting\r\n'],
};

export interface FakeOptions {
  cert?: string;
  key?: string;
}

interface Session {
  write(text: string): void;
  upgrade(): void;
  end(text: string): void;
  secure: boolean;
  /** Multi-line exchanges (AUTHENTICATE / AUTH continuation, DATA). */
  state: string;
}

type Responder = (line: string, session: Session) => void;

const GREETING: Record<FakeProtocol, (secure: boolean) => string> = {
  imap: (secure) => `* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN${secure ? '' : ' STARTTLS'}] fake ready\r\n`,
  pop3: () => '+OK fake POP3 ready\r\n',
  smtp: () => '220 fake.test ESMTP fake\r\n',
};

const imap: Responder = (line, s) => {
  if (s.state.startsWith('auth:')) {
    s.write(`${s.state.slice(5)} OK [CAPABILITY IMAP4rev1] logged in\r\n`);
    s.state = '';
    return;
  }
  const [tag, command = '', ...rest] = line.split(' ');
  switch (command.toUpperCase()) {
    case 'CAPABILITY':
      s.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN${s.secure ? '' : ' STARTTLS'}\r\n${tag} OK done\r\n`);
      break;
    case 'STARTTLS':
      s.write(`${tag} OK begin TLS\r\n`);
      s.upgrade();
      break;
    case 'AUTHENTICATE':
      if (rest.length > 1) s.write(`${tag} OK [CAPABILITY IMAP4rev1] logged in\r\n`);
      else {
        s.state = `auth:${tag}`;
        s.write('+ \r\n');
      }
      break;
    case 'LOGIN':
      s.write(`${tag} OK [CAPABILITY IMAP4rev1] logged in\r\n`);
      break;
    case 'LIST':
      s.write(`* LIST (\\HasNoChildren) "/" INBOX\r\n${tag} OK done\r\n`);
      break;
    case 'NAMESPACE':
      s.write(`* NAMESPACE (("" "/")) NIL NIL\r\n${tag} OK done\r\n`);
      break;
    case 'LOGOUT':
      s.end(`* BYE bye\r\n${tag} OK done\r\n`);
      break;
    default:
      s.write(`${tag} OK done\r\n`);
  }
};

const pop3: Responder = (line, s) => {
  const command = line.split(' ')[0].toUpperCase();
  if (command === 'CAPA') s.write(`+OK\r\nUSER\r\nUIDL\r\n${s.secure ? '' : 'STLS\r\n'}.\r\n`);
  else if (command === 'STLS') {
    s.write('+OK begin TLS\r\n');
    s.upgrade();
  } else if (command === 'STAT') s.write('+OK 0 0\r\n');
  else if (command === 'QUIT') s.end('+OK bye\r\n');
  else s.write('+OK\r\n');
};

const smtp: Responder = (line, s) => {
  if (s.state === 'data') {
    if (line === '.') {
      s.state = '';
      s.write('250 2.0.0 queued\r\n');
    }
    return;
  }
  if (s.state === 'auth-plain' || s.state === 'auth-login-pass') {
    s.state = '';
    s.write('235 2.7.0 accepted\r\n');
    return;
  }
  if (s.state === 'auth-login-user') {
    s.state = 'auth-login-pass';
    s.write('334 UGFzc3dvcmQ6\r\n');
    return;
  }
  const [command = '', arg, initial] = line.split(' ');
  switch (command.toUpperCase()) {
    case 'EHLO':
    case 'HELO':
      s.write(`250-fake.test\r\n${s.secure ? '' : '250-STARTTLS\r\n'}250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n`);
      break;
    case 'STARTTLS':
      s.write('220 2.0.0 ready\r\n');
      s.upgrade();
      break;
    case 'AUTH':
      if (/^PLAIN$/i.test(arg ?? '')) {
        if (initial) s.write('235 2.7.0 accepted\r\n');
        else {
          s.state = 'auth-plain';
          s.write('334 \r\n');
        }
      } else {
        s.state = initial ? 'auth-login-pass' : 'auth-login-user';
        s.write(initial ? '334 UGFzc3dvcmQ6\r\n' : '334 VXNlcm5hbWU6\r\n');
      }
      break;
    case 'DATA':
      s.state = 'data';
      s.write('354 go ahead\r\n');
      break;
    case 'QUIT':
      s.end('221 2.0.0 bye\r\n');
      break;
    default:
      s.write('250 2.0.0 ok\r\n');
  }
};

const RESPONDERS: Record<FakeProtocol, Responder> = { imap, pop3, smtp };

export class RecordingServer {
  readonly server: net.Server;
  connections = 0;
  /** What clients sent, as the server read it (TLS taken off), in arrival order. */
  private readonly seen: Buffer[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    readonly protocol: FakeProtocol,
    readonly mode: FakeMode,
    private readonly options: FakeOptions,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  static async start(protocol: FakeProtocol, mode: FakeMode, options: FakeOptions = {}): Promise<RecordingServer> {
    const fake = new RecordingServer(protocol, mode, options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get text(): string {
    return Buffer.concat(this.seen).toString('latin1');
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private secureSocket(plain: net.Socket): tls.TLSSocket {
    const { cert, key } = this.options;
    if (!cert || !key) throw new Error('this fake server has no certificate');
    const secure = new tls.TLSSocket(plain, { isServer: true, cert, key });
    this.track(secure);
    return secure;
  }

  private accept(plain: net.Socket): void {
    this.connections += 1;
    this.track(plain);
    if (this.mode === 'silent') {
      plain.on('data', (chunk: Buffer) => this.seen.push(chunk));
      return;
    }
    if (this.mode === 'trickle') {
      plain.on('data', (chunk: Buffer) => this.seen.push(chunk));
      const [first, more] = TRICKLE[this.protocol];
      plain.write(first);
      const timer = setInterval(() => {
        if (plain.destroyed) clearInterval(timer);
        else plain.write(more);
      }, 300);
      plain.on('close', () => clearInterval(timer));
      return;
    }
    if (this.mode === 'silent-tls') {
      this.secureSocket(plain).on('data', (chunk: Buffer) => this.seen.push(chunk));
      return;
    }
    const respond = RESPONDERS[this.protocol];
    let current: net.Socket = this.mode === 'tls' ? this.secureSocket(plain) : plain;
    let buffered = '';
    const session: Session = {
      secure: this.mode === 'tls',
      state: '',
      write: (text) => {
        if (!current.destroyed) current.write(text);
      },
      end: (text) => current.end(text),
      upgrade: () => {
        if (!this.options.cert) return;
        current.off('data', onData);
        buffered = '';
        current = this.secureSocket(current);
        session.secure = true;
        current.on('data', onData);
      },
    };
    const onData = (chunk: Buffer): void => {
      this.seen.push(chunk);
      buffered += chunk.toString('latin1');
      let index: number;
      while ((index = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, index).replace(/\r$/, '');
        buffered = buffered.slice(index + 1);
        const before = current;
        respond(line, session);
        // After an upgrade the rest of this plain chunk is not ours to read.
        if (current !== before) return;
      }
    };
    current.on('data', onData);
    if (this.mode === 'tls') (current as tls.TLSSocket).once('secure', () => session.write(GREETING[this.protocol](true)));
    else session.write(GREETING[this.protocol](false));
  }
}
