// Tiny scripted servers on loopback for the cases a real server will not produce on demand:
// silence, a missing STARTTLS, a certificate for another name.
import net from 'node:net';
import tls from 'node:tls';

export interface FakeServer {
  port: number;
  /** Every line the clients sent. */
  received: string[];
  close(): Promise<void>;
}

type Responder = (line: string, socket: net.Socket) => void;

async function listen(server: net.Server, sockets: Set<net.Socket>, received: string[]): Promise<FakeServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A plain-text server that sends `greeting` and answers each line through `respond`. */
export function lineServer(greeting: string | null, respond: Responder): Promise<FakeServer> {
  const sockets = new Set<net.Socket>();
  const received: string[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    if (greeting !== null) socket.write(greeting);
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let index: number;
      while ((index = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, index).replace(/\r$/, '');
        buffered = buffered.slice(index + 1);
        received.push(line);
        respond(line, socket);
      }
    });
  });
  return listen(server, sockets, received);
}

/** A server that accepts and never says a word. */
export function silentServer(): Promise<FakeServer> {
  return lineServer(null, () => undefined);
}

/** A TLS server with the given certificate that completes the handshake and stays silent. */
export function tlsServer(pair: { cert: string; key: string }): Promise<FakeServer> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: pair.cert, key: pair.key }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return listen(server, sockets, []);
}

/** IMAP greeting whose capabilities leave STARTTLS out; answers CAPABILITY and LOGOUT only. */
export function imapWithoutStartTls(): Promise<FakeServer> {
  return lineServer('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n', (line, socket) => {
    const [tag, command] = line.split(' ');
    if (/^CAPABILITY$/i.test(command ?? '')) socket.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n${tag} OK done\r\n`);
    else if (/^STARTTLS$/i.test(command ?? '')) socket.write(`${tag} BAD not supported\r\n`);
    else socket.write(`${tag} BAD unexpected\r\n`);
  });
}

/** POP3 server whose CAPA leaves STLS out. */
export function pop3WithoutStls(): Promise<FakeServer> {
  return lineServer('+OK fake POP3\r\n', (line, socket) => {
    if (/^CAPA/i.test(line)) socket.write('+OK\r\nUSER\r\nUIDL\r\n.\r\n');
    else if (/^STLS/i.test(line)) socket.write('-ERR no\r\n');
    else if (/^QUIT/i.test(line)) socket.end('+OK bye\r\n');
    else socket.write('-ERR unexpected\r\n');
  });
}

/** A port that was free a moment ago: nothing listens there. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
