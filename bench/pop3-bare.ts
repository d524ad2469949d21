// A minimal POP3 client written from RFC 1939 for the bare baseline of the POP3 drain: implicit
// TLS with the server certificate pinned, one command at a time, single-line and multi-line
// replies. Kept to what a RETR loop needs, so the bench measures the protocol and the parser, not
// a library's shortcomings (node-pop3 hangs when a reply's end arrives split across reads).
import tls from 'node:tls';

export interface Pop3Options {
  host: string;
  port: number;
  /** The name the certificate must carry. */
  servername: string;
  /** The pinned server certificate (PEM). */
  ca: string;
}

export interface Pop3Reply {
  /** The status line without its CRLF, starting with +OK. */
  status: string;
  /** Multi-line replies: the data, dot-unstuffed, each line with its CRLF, without the terminating ".". */
  body?: Buffer;
}

const CRLF = Buffer.from('\r\n');
/** End of a multi-line reply: the last data line's CRLF, then a line holding only ".". */
const TERMINATOR = Buffer.from('\r\n.\r\n');
/** A data line that starts with "." was sent with one more "." in front (byte-stuffing). */
const STUFFED_LINE_START = Buffer.from('\r\n.');

interface Pending {
  multiLine: boolean;
  resolve: (reply: Pop3Reply) => void;
  reject: (err: Error) => void;
}

/**
 * Removes the stuffing dot from every line of `stream` that starts with one. `stream` begins with
 * the CRLF of the status line, so the first data line is found like every other; the result is
 * the data without that CRLF. Copies only when a stuffed line is present.
 */
export function unstuff(stream: Buffer): Buffer {
  let at = stream.indexOf(STUFFED_LINE_START);
  if (at < 0) return stream.subarray(CRLF.length);
  const pieces: Buffer[] = [];
  let from = CRLF.length;
  while (at >= 0) {
    // Keep everything up to and including the CRLF, drop the dot after it.
    pieces.push(stream.subarray(from, at + CRLF.length));
    from = at + CRLF.length + 1;
    at = stream.indexOf(STUFFED_LINE_START, from);
  }
  pieces.push(stream.subarray(from));
  return Buffer.concat(pieces);
}

export class Pop3Client {
  /** Bytes received and not yet part of a finished reply. */
  private unread: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  /** The current multi-line reply's data so far, from the status line's CRLF on, and its length. */
  private parts: Buffer[] = [];
  private partsLength = 0;
  /** The last bytes of `parts` (at most 4), where a terminator split across reads begins. */
  private tail: Buffer = Buffer.alloc(0);
  private status = '';
  private failure: Error | undefined;

  private constructor(private readonly socket: tls.TLSSocket) {
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', (err: Error) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  /** Connects and waits for the greeting. */
  static async connect(options: Pop3Options): Promise<Pop3Client> {
    const socket = tls.connect({ host: options.host, port: options.port, servername: options.servername, ca: options.ca });
    const client = new Pop3Client(socket);
    await client.reply(false);
    return client;
  }

  /** Sends one command and waits for its reply; a -ERR reply rejects. */
  async command(line: string, multiLine = false): Promise<Pop3Reply> {
    if (this.failure) throw this.failure;
    const reply = this.reply(multiLine);
    this.socket.write(`${line}\r\n`);
    return reply;
  }

  async login(user: string, password: string): Promise<void> {
    await this.command(`USER ${user}`);
    await this.command(`PASS ${password}`);
  }

  /** UIDL: message numbers with their unique ids, in the server's order. */
  async uidl(): Promise<Array<{ number: number; uid: string }>> {
    const { body } = await this.command('UIDL', true);
    const lines = (body ?? Buffer.alloc(0)).toString('latin1').split('\r\n').filter((l) => l !== '');
    return lines.map((l) => {
      const [number, uid] = l.split(' ');
      return { number: Number(number), uid };
    });
  }

  /** RETR: the whole message, as the server has it. */
  async retr(number: number): Promise<Buffer> {
    return (await this.command(`RETR ${number}`, true)).body ?? Buffer.alloc(0);
  }

  /** QUIT, then waits for the server to close. */
  async quit(): Promise<void> {
    await this.command('QUIT');
    this.socket.end();
  }

  private reply(multiLine: boolean): Promise<Pop3Reply> {
    if (this.pending) return Promise.reject(new Error('a reply is still due'));
    return new Promise((resolve, reject) => {
      this.pending = { multiLine, resolve, reject };
      // The greeting may have come in the same read as the connection's first bytes.
      if (this.unread.length > 0) this.received(Buffer.alloc(0));
    });
  }

  private received(chunk: Buffer): void {
    const pending = this.pending;
    if (!pending) {
      this.unread = this.unread.length > 0 ? Buffer.concat([this.unread, chunk]) : chunk;
      return;
    }
    if (!this.status) {
      const data = this.unread.length > 0 ? Buffer.concat([this.unread, chunk]) : chunk;
      const lineEnd = data.indexOf(CRLF);
      if (lineEnd < 0) {
        this.unread = data;
        return;
      }
      this.unread = Buffer.alloc(0);
      this.status = data.subarray(0, lineEnd).toString('latin1');
      if (!this.status.startsWith('+OK') || !pending.multiLine) {
        this.settle(data.subarray(lineEnd + CRLF.length));
        return;
      }
      // The data part starts with the status line's CRLF, so an empty reply (".\r\n" right after
      // the status line) ends with the same five bytes as any other.
      this.appendData(data.subarray(lineEnd));
      return;
    }
    this.appendData(chunk);
  }

  /** Adds bytes of a multi-line reply and finishes it once its terminator has come. */
  private appendData(piece: Buffer): void {
    // A terminator that began in the previous read: look across the seam first.
    const seam = Buffer.concat([this.tail, piece.subarray(0, TERMINATOR.length - 1)]);
    const inSeam = seam.indexOf(TERMINATOR);
    let end = -1;
    if (inSeam >= 0) end = this.partsLength - this.tail.length + inSeam;
    else {
      const inPiece = piece.indexOf(TERMINATOR);
      if (inPiece >= 0) end = this.partsLength + inPiece;
    }
    this.parts.push(piece);
    this.partsLength += piece.length;
    if (end < 0) {
      const keep = TERMINATOR.length - 1;
      this.tail = piece.length >= keep ? piece.subarray(piece.length - keep) : Buffer.concat([this.tail, piece]).subarray(-keep);
      return;
    }
    const stream = Buffer.concat(this.parts, this.partsLength);
    // The data runs to the CRLF that opens the terminator, inclusive.
    const body = unstuff(stream.subarray(0, end + CRLF.length));
    this.settle(stream.subarray(end + TERMINATOR.length), body);
  }

  private settle(rest: Buffer, body?: Buffer): void {
    const pending = this.pending;
    const status = this.status;
    this.pending = undefined;
    this.status = '';
    this.parts = [];
    this.partsLength = 0;
    this.tail = Buffer.alloc(0);
    this.unread = rest;
    if (!pending) return;
    if (status.startsWith('+OK')) pending.resolve({ status, body });
    else pending.reject(new Error(`server replied ${status.slice(0, 120)}`));
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(err);
  }
}
