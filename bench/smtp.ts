// A minimal SMTP client for the receive benchmarks: plain SMTP to the private Postfix on
// 127.0.0.1 (its port for incoming mail, where it takes mail for example.test from 127.0.0.1 the
// way an MX takes it from the internet), one command at a time, each reply stamped with the moment
// it arrived. The reply to the end of DATA (250: the server has the message) starts the latency
// clocks of push.ts. No pipelining, TLS or AUTH: nothing here is measured but that moment.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Wall-clock time in ms with sub-ms resolution, comparable between processes on one machine. */
export const clock = (): number => performance.timeOrigin + performance.now();

export interface Reply {
  code: number;
  text: string;
  /** clock() when the reply's last line arrived. */
  at: number;
}

/** RFC 5321 4.5.2: a line that starts with "." gets another one. */
function dotStuffed(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  const stuffed = text.replace(/(^|\r\n)\./g, '$1..');
  const ended = stuffed.endsWith('\r\n') ? stuffed : `${stuffed}\r\n`;
  return Buffer.from(ended, 'latin1');
}

export class SmtpSession {
  private buffer = '';
  private lines: string[] = [];
  private waiter: { resolve: (reply: Reply) => void; reject: (err: Error) => void } | undefined;
  private early: Reply[] = [];
  private failure: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('the SMTP server closed the connection')));
  }

  /** Connects, reads the greeting and says EHLO. */
  static async open(port: number, host = '127.0.0.1'): Promise<SmtpSession> {
    const socket = net.connect(port, host);
    socket.setNoDelay(true);
    const session = new SmtpSession(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    expect(await session.reply(), 220, 'greeting');
    expect(await session.command('EHLO bench.example.test'), 250, 'EHLO');
    return session;
  }

  /** One message; resolves with the server's reply to the end of DATA (its time is `at`). */
  async send(from: string, to: string, raw: Buffer): Promise<Reply> {
    expect(await this.command(`MAIL FROM:<${from}> BODY=8BITMIME`), 250, 'MAIL FROM');
    expect(await this.command(`RCPT TO:<${to}>`), 250, 'RCPT TO');
    expect(await this.command('DATA'), 354, 'DATA');
    this.socket.write(Buffer.concat([dotStuffed(raw), Buffer.from('.\r\n')]));
    return expect(await this.reply(), 250, 'end of DATA');
  }

  async quit(): Promise<void> {
    await this.command('QUIT').catch(() => undefined);
    this.socket.destroy();
  }

  private command(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  private reply(): Promise<Reply> {
    const ready = this.early.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private read(chunk: Buffer): void {
    const at = clock();
    this.buffer += chunk.toString('latin1');
    for (let end = this.buffer.indexOf('\r\n'); end >= 0; end = this.buffer.indexOf('\r\n')) {
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      this.lines.push(line);
      if (line.charAt(3) === '-') continue;
      const reply: Reply = { code: Number(line.slice(0, 3)), text: this.lines.join('\n'), at };
      this.lines = [];
      const waiter = this.waiter;
      this.waiter = undefined;
      if (waiter) waiter.resolve(reply);
      else this.early.push(reply);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(err);
  }
}

function expect(reply: Reply, code: number, what: string): Reply {
  if (reply.code !== code) throw new Error(`SMTP ${what}: expected ${code}, got ${reply.text}`);
  return reply;
}
