// A man in the middle on loopback for IMAP, POP3 and SMTP, in front of the real servers. It works
// on lines while the session is in plain text and can:
//   strip   - remove the StartTLS offer (IMAP greeting/CAPABILITY, POP3 CAPA, SMTP EHLO), as a
//             downgrade attacker would, and also remove LOGINDISABLED so that a client that fails
//             open would really log in;
//   refuse  - answer the client's STARTTLS/STLS itself with an error (the server never sees it);
//   preauth - (IMAP) turn the server's "* OK" greeting into "* PREAUTH";
//   none    - change nothing (a control: proves the proxy itself is transparent, TLS included).
// Every byte the client sent is kept for grepping. Once the client sent STARTTLS and the server
// answered, both directions become raw bytes, so a TLS handshake passes through untouched.
import net from 'node:net';

export type MitmProtocol = 'imap' | 'pop3' | 'smtp';
export type Attack = 'strip' | 'refuse' | 'preauth' | 'none';

const STARTTLS_COMMAND: Record<MitmProtocol, RegExp> = {
  imap: /^(\S+) STARTTLS\s*$/i,
  pop3: /^STLS\s*$/i,
  smtp: /^STARTTLS\s*$/i,
};

export class MitmProxy {
  readonly server: net.Server;
  connections = 0;
  private readonly clientData: Buffer[] = [];
  /** The same bytes, one list per connection, so sessions never interleave when parsed. */
  private readonly sessions: Buffer[][] = [];
  private readonly sockets = new Set<net.Socket>();
  /** What the client was told the server can do (after rewriting), for checking the attack took. */
  readonly toClient: string[] = [];

  private constructor(
    readonly protocol: MitmProtocol,
    private readonly targetPort: number,
    readonly attack: Attack,
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(protocol: MitmProtocol, targetPort: number, attack: Attack): Promise<MitmProxy> {
    const proxy = new MitmProxy(protocol, targetPort, attack);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Everything every client sent, as latin1 text. */
  get clientText(): string {
    return Buffer.concat(this.clientData).toString('latin1');
  }

  /** What the client sent on each connection, in connection order, as latin1 text. */
  get sessionTexts(): string[] {
    return this.sessions.map((chunks) => Buffer.concat(chunks).toString('latin1'));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.connections += 1;
    const session: Buffer[] = [];
    this.sessions.push(session);
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    this.sockets.add(client);
    this.sockets.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('close', end);
      s.on('error', end);
    }

    let clientRaw = false;
    let serverRaw = false;
    /** Set once STARTTLS went upstream: the server's answer to it ends the plain-text part. */
    let upgradeTag: string | null = null;
    let fromClient = '';
    let fromServer = '';
    let greeted = false;
    let smtpReply: string[] = [];

    const toClient = (text: string): void => {
      this.toClient.push(text);
      client.write(Buffer.from(text, 'latin1'));
    };

    client.on('data', (chunk: Buffer) => {
      this.clientData.push(chunk);
      session.push(chunk);
      if (clientRaw) {
        upstream.write(chunk);
        return;
      }
      fromClient += chunk.toString('latin1');
      let index: number;
      while (!clientRaw && (index = fromClient.indexOf('\n')) >= 0) {
        const line = fromClient.slice(0, index + 1);
        fromClient = fromClient.slice(index + 1);
        const bare = line.replace(/\r?\n$/, '');
        const upgrade = STARTTLS_COMMAND[this.protocol].exec(bare);
        if (upgrade && this.attack === 'refuse') {
          // Answered here; the server never hears of it.
          if (this.protocol === 'imap') toClient(`${upgrade[1]} NO [ALERT] STARTTLS refused by the man in the middle\r\n`);
          else if (this.protocol === 'pop3') toClient('-ERR STLS refused by the man in the middle\r\n');
          else toClient('454 4.7.0 TLS not available due to local problem\r\n');
          continue;
        }
        upstream.write(Buffer.from(line, 'latin1'));
        if (upgrade) {
          upgradeTag = this.protocol === 'imap' ? upgrade[1] : '';
          clientRaw = true;
        }
      }
      if (clientRaw && fromClient) {
        upstream.write(Buffer.from(fromClient, 'latin1'));
        fromClient = '';
      }
    });

    upstream.on('data', (chunk: Buffer) => {
      if (serverRaw) {
        client.write(chunk);
        return;
      }
      fromServer += chunk.toString('latin1');
      let index: number;
      while (!serverRaw && (index = fromServer.indexOf('\n')) >= 0) {
        const line = fromServer.slice(0, index + 1);
        fromServer = fromServer.slice(index + 1);
        if (this.protocol === 'smtp') {
          // Whole multi-line replies, so the last line can be renumbered when STARTTLS was last.
          smtpReply.push(line);
          if (/^\d{3}-/.test(line)) continue;
          const reply = smtpReply;
          smtpReply = [];
          toClient(this.rewriteSmtp(reply));
        } else {
          toClient(this.rewriteLine(line, !greeted));
        }
        greeted = true;
        if (upgradeTag !== null && this.endsUpgradeReply(line, upgradeTag)) serverRaw = true;
      }
      if (serverRaw && fromServer) {
        client.write(Buffer.from(fromServer, 'latin1'));
        fromServer = '';
      }
    });
  }

  private endsUpgradeReply(line: string, tag: string): boolean {
    if (this.protocol === 'imap') return line.startsWith(`${tag} `);
    if (this.protocol === 'pop3') return /^[+-]/.test(line);
    return /^\d{3} /.test(line);
  }

  private rewriteLine(line: string, first: boolean): string {
    if (this.protocol === 'imap') {
      let out = line;
      if (this.attack === 'strip' && /CAPABILITY/i.test(out)) {
        out = out.replace(/ STARTTLS\b/gi, '').replace(/ LOGINDISABLED\b/gi, '');
      }
      if (this.attack === 'preauth' && first) out = out.replace(/^\* OK /, '* PREAUTH ');
      return out;
    }
    // POP3: the CAPA listing has one capability per line.
    if (this.attack === 'strip' && /^STLS\s*$/i.test(line)) return '';
    return line;
  }

  private rewriteSmtp(reply: string[]): string {
    if (this.attack !== 'strip') return reply.join('');
    const kept = reply.filter((l) => !/^250[ -]STARTTLS\s*$/i.test(l));
    if (kept.length === 0) return '';
    // The last line of a reply has a space after the code.
    kept[kept.length - 1] = kept[kept.length - 1].replace(/^(\d{3})-/, '$1 ');
    return kept.join('');
  }
}
