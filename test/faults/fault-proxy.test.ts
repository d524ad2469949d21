// The fault proxy itself, against a small line server on loopback: each fault does what it says,
// at exactly the point it was asked for. The other fault tests (and the security tests) rely on it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FaultProxy, imapTaggedReply } from '../support/fault-proxy';
import { strictProcess } from '../support/strict-process';
import { sleep, until } from '../support/wait';

strictProcess();

/**
 * "A1 ECHO text" answers "* text" and "A1 OK done"; "A1 BULK n" answers n bytes of 'x' and
 * "A1 OK bulk"; "A1 BYE" answers "* bye", ends. Keeps every line it got, and counts the bytes.
 */
class LineServer {
  readonly received: string[] = [];
  bytes = 0;
  readonly server = net.createServer((socket) => {
    let tail = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.bytes += chunk.length;
      tail += chunk.toString('latin1');
      let nl: number;
      while ((nl = tail.indexOf('\n')) >= 0) {
        const line = tail.slice(0, nl).replace(/\r$/, '');
        tail = tail.slice(nl + 1);
        this.received.push(line);
        const [tag, command, ...rest] = line.split(' ');
        if (command === 'ECHO') socket.write(`* ${rest.join(' ')}\r\n${tag} OK done\r\n`, 'latin1');
        if (command === 'BULK') socket.write(`${'x'.repeat(Number(rest[0]))}\r\n${tag} OK bulk\r\n`);
        if (command === 'BYE') socket.end(`* bye\r\n${tag} OK bye\r\n`);
      }
    });
  });

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }
}

interface Client {
  socket: net.Socket;
  chunks: Buffer[];
  closed: Promise<string>;
  text(): string;
  waitFor(pattern: RegExp, ms?: number): Promise<void>;
}

function connect(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const closed = new Promise<string>((done) => {
      let how = 'close';
      socket.on('error', (err: NodeJS.ErrnoException) => {
        how = err.code ?? 'error';
      });
      socket.on('close', () => done(how));
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    const text = (): string => Buffer.concat(chunks).toString('latin1');
    const waitFor = (pattern: RegExp, ms = 3000): Promise<void> => until(() => pattern.test(text()), ms, () => `${pattern} in ${JSON.stringify(text().slice(-200))}`, 5);
    socket.once('connect', () => resolve({ socket, chunks, closed, text, waitFor }));
    socket.once('error', reject);
  });
}

describe('fault proxy', () => {
  const lines = new LineServer();
  let target: number;
  before(async () => {
    target = await lines.start();
  });
  after(async () => {
    await new Promise<void>((resolve) => lines.server.close(() => resolve()));
  });

  it('forwards both ways and counts bytes, connections and what the client sent', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      const a = await connect(proxy.port);
      const b = await connect(proxy.port);
      a.socket.write('A1 ECHO hello\r\n');
      await a.waitFor(/A1 OK done\r\n/);
      assert.equal(a.text(), '* hello\r\nA1 OK done\r\n');
      assert.equal(proxy.total, 2);
      assert.equal(proxy.open, 2);
      assert.equal(proxy.maxOpen, 2);
      b.socket.end();
      await proxy.connections[1].closed;
      assert.equal(proxy.open, 1);
      assert.equal(proxy.clientText, 'A1 ECHO hello\r\n');
      assert.equal(proxy.bytesFromClient, 15);
      assert.equal(proxy.bytesFromServer, 21);
      a.socket.write('A2 BYE\r\n');
      assert.equal(await a.closed, 'close');
      assert.equal(a.text().endsWith('* bye\r\nA2 OK bye\r\n'), true, 'what the server said before its FIN arrives');
      await proxy.connections[0].closed;
      assert.equal(proxy.open, 0);
    } finally {
      await proxy.close();
    }
  });

  it('resets after the server answered a matching command, before the answer reaches the client', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      const trigger = proxy.when({ clientLine: /^\S+ ECHO store/, serverLine: imapTaggedReply, action: 'reset' });
      const c = await connect(proxy.port);
      c.socket.write('A1 ECHO first\r\n');
      await c.waitFor(/A1 OK/);
      c.socket.write('A2 ECHO store this\r\n');
      const event = await trigger.fired;
      assert.equal(event.armingLine, 'A2 ECHO store this');
      assert.equal(event.serverLine, 'A2 OK done');
      // The RST is sent; a client that had data waiting may report it as a plain close.
      assert.match(await c.closed, /^(ECONNRESET|close)$/);
      assert.ok(lines.received.includes('A2 ECHO store this'), 'the server got the command');
      assert.doesNotMatch(c.text(), /A2 OK/, 'the client never saw the answer');
      assert.equal(proxy.connections[0].fault, 'reset');
      // With nothing in flight the client sees the reset as a reset.
      proxy.when({ clientLine: /^\S+ ECHO now/, action: 'reset' });
      const d = await connect(proxy.port);
      d.socket.write('A3 ECHO now\r\n');
      assert.equal(await d.closed, 'ECONNRESET');
      assert.ok(!lines.received.includes('A3 ECHO now'));
    } finally {
      await proxy.close();
    }
  });

  it('a client-line trigger without a server condition acts before the line is forwarded', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      proxy.when({ clientLine: /^\S+ BYE/, action: 'cut' });
      const c = await connect(proxy.port);
      c.socket.write('B1 ECHO one\r\nB2 BYE\r\n');
      await c.closed;
      await sleep(50);
      assert.ok(lines.received.includes('B1 ECHO one'));
      assert.ok(!lines.received.includes('B2 BYE'), 'the server never got the line');
    } finally {
      await proxy.close();
    }
  });

  it('cuts after exactly N bytes from the server, counted from the arming line', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      proxy.when({ clientLine: /BULK/, serverBytes: 1000, action: 'cut' });
      const c = await connect(proxy.port);
      c.socket.write('C0 ECHO before\r\n');
      await c.waitFor(/C0 OK/);
      const before = c.text().length;
      c.socket.write('C1 BULK 50000\r\n');
      await c.closed;
      assert.equal(c.text().length - before, 1000);
      // The nth matching line, and more than one firing.
      const second = proxy.when({ clientLine: /ECHO/, nth: 2, times: 2, action: 'cut' });
      for (let i = 0; i < 3; i += 1) {
        const d = await connect(proxy.port);
        d.socket.write(`D${i} ECHO x\r\n`);
        if (i === 0) {
          await d.waitFor(/D0 OK/);
          d.socket.destroy();
        } else {
          await d.closed;
          assert.equal(d.text(), '');
        }
      }
      assert.equal(second.count, 2);
      assert.equal(second.matches, 3);
    } finally {
      await proxy.close();
    }
  });

  it('stalls a connection with its sockets open, and resumes it', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      const c = await connect(proxy.port);
      const [stalled] = proxy.stallOpen();
      c.socket.write('E1 ECHO held\r\n');
      await sleep(200);
      assert.equal(c.text(), '');
      assert.equal(stalled.open, true);
      assert.equal(proxy.open, 1);
      assert.ok(lines.received.includes('E1 ECHO held'), 'client bytes still go through');
      const fresh = await connect(proxy.port);
      fresh.socket.write('E2 ECHO fresh\r\n');
      await fresh.waitFor(/E2 OK/);
      stalled.resume();
      await c.waitFor(/E1 OK done/);
      c.socket.destroy();
      fresh.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('forwards byte by byte for a bounded amount, then normally', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      proxy.setMode({ byteByByte: { bytes: 40, pauseMs: 2 } });
      const c = await connect(proxy.port);
      c.socket.write('F1 BULK 200\r\n');
      await c.waitFor(/F1 OK bulk/);
      const conn = proxy.connections[0];
      // 40 writes of one byte, then the rest as it came (one or two chunks).
      assert.ok(conn.writesToClient >= 41 && conn.writesToClient <= 44, `${conn.writesToClient} writes`);
      // The client reads them one by one, give or take a read that caught two.
      assert.ok(c.chunks.slice(0, 30).filter((chunk) => chunk.length === 1).length >= 25, c.chunks.map((x) => x.length).join(','));
      assert.equal(c.text(), `${'x'.repeat(200)}\r\nF1 OK bulk\r\n`);
      c.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('slows, splits and rewrites server data without changing the bytes otherwise', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      proxy.setMode({ slowMs: 150 });
      const c = await connect(proxy.port);
      const started = Date.now();
      c.socket.write('G1 ECHO slow\r\n');
      await c.waitFor(/G1 OK/);
      assert.ok(Date.now() - started >= 140, `${Date.now() - started} ms`);
      proxy.setMode({ slowMs: 0, splitter: (chunk) => [...chunk].map((b) => Buffer.from([b])), splitPauseMs: 2 });
      c.socket.write('G2 ECHO split\r\n');
      await c.waitFor(/G2 OK/);
      proxy.setMode({ splitter: undefined });
      proxy.rewriteServerLine = (line) => (line.startsWith('* ') ? line.toUpperCase() : line.startsWith('G4') ? null : line);
      c.socket.write(Buffer.from('G3 ECHO loud\r\nG4 ECHO dropped\r\nG5 ECHO \xe9\r\n', 'latin1'));
      await c.waitFor(/G5 OK/);
      assert.equal(c.text(), '* slow\r\nG1 OK done\r\n* split\r\nG2 OK done\r\n* LOUD\r\nG3 OK done\r\n* DROPPED\r\n* \xc9\r\nG5 OK done\r\n');
      c.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('a client-line hook sees whole lines, drops one and answers in the server\'s place', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      const seen: string[] = [];
      proxy.onClientLine = (line, connection) => {
        seen.push(line);
        if (!/ ECHO refuse/.test(line)) return true;
        connection.answer(`${line.split(' ', 1)[0]} NO refused by the proxy\r\n`);
        return false;
      };
      const c = await connect(proxy.port);
      // A line in two pieces goes to the hook, and to the server, once and whole.
      const before = lines.bytes;
      c.socket.write('K1 ECHO in ');
      await sleep(50);
      assert.equal(lines.bytes, before, 'an unfinished line is held');
      c.socket.write('two\r\n');
      await c.waitFor(/K1 OK done/);
      c.socket.write('K2 ECHO refuse me\r\nK3 ECHO after\r\n');
      await c.waitFor(/K3 OK done/);
      assert.deepEqual(seen, ['K1 ECHO in two', 'K2 ECHO refuse me', 'K3 ECHO after']);
      assert.equal(c.text(), '* in two\r\nK1 OK done\r\nK2 NO refused by the proxy\r\n* after\r\nK3 OK done\r\n');
      assert.ok(lines.received.includes('K1 ECHO in two') && lines.received.includes('K3 ECHO after'));
      assert.ok(!lines.received.includes('K2 ECHO refuse me'), 'the server never got the dropped line');
      assert.match(proxy.clientText, /K2 ECHO refuse me\r\n/, 'what the client sent is kept, dropped or not');
      c.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('a connection switched to raw passes bytes untouched: no hook, no rewrite, nothing held', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      const hooked: string[] = [];
      proxy.onClientLine = (line, connection) => {
        hooked.push(line);
        if (/ ECHO upgrade/.test(line)) connection.setRaw();
        return true;
      };
      proxy.rewriteServerLine = (line) => line.replace('secret', 'XXXXXX');
      const c = await connect(proxy.port);
      c.socket.write('L1 ECHO secret\r\n');
      await c.waitFor(/L1 OK/);
      // The line that switches still goes on, and so does the rest of its chunk.
      c.socket.write('L2 ECHO upgrade\r\nL3 ECHO secret\r\n');
      await c.waitFor(/L3 OK/);
      assert.deepEqual(hooked, ['L1 ECHO secret', 'L2 ECHO upgrade']);
      assert.equal(c.text(), '* XXXXXX\r\nL1 OK done\r\n* upgrade\r\nL2 OK done\r\n* secret\r\nL3 OK done\r\n');
      const [connection] = proxy.connections;
      assert.equal(connection.raw, true);
      // A line with no end (as TLS data mostly is) reaches the server at once.
      const before = lines.bytes;
      c.socket.write('L4 ECHO no end yet');
      await until(() => lines.bytes === before + 18, 1000, 'the unfinished line at the server');
      c.socket.write('\r\n');
      await c.waitFor(/L4 OK/);
      c.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('keeps what the clients were sent, and tells what the clients sent after a mark', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      proxy.keepToClient = true;
      proxy.rewriteServerLine = (line) => (line.startsWith('* ') ? line.toUpperCase() : line);
      const a = await connect(proxy.port);
      a.socket.write('M1 ECHO first\r\n');
      await a.waitFor(/M1 OK/);
      const mark = proxy.clientMark();
      a.socket.write('M2 ECHO second\r\n');
      await a.waitFor(/M2 OK/);
      const b = await connect(proxy.port);
      b.socket.write('M3 ECHO third\r\n');
      await b.waitFor(/M3 OK/);
      assert.equal(proxy.clientTextSince(mark), 'M2 ECHO second\r\nM3 ECHO third\r\n');
      assert.equal(proxy.clientText, 'M1 ECHO first\r\nM2 ECHO second\r\nM3 ECHO third\r\n');
      assert.equal(proxy.connections[0].toClientText, '* FIRST\r\nM1 OK done\r\n* SECOND\r\nM2 OK done\r\n');
      assert.equal(proxy.toClientText, `${a.text()}${b.text()}`);
      a.socket.destroy();
      b.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('stops listening (new connections refused by the OS) and listens again on the same port', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      const kept = await connect(proxy.port);
      const port = proxy.port;
      proxy.stopListening();
      const refused = await new Promise<string>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
        socket.on('connect', () => resolve('connected'));
      });
      assert.equal(refused, 'ECONNREFUSED');
      kept.socket.write('H1 ECHO still here\r\n');
      await kept.waitFor(/H1 OK/);
      await proxy.resumeListening();
      assert.equal(proxy.port, port);
      const again = await connect(proxy.port);
      again.socket.write('H2 ECHO back\r\n');
      await again.waitFor(/H2 OK/);
      kept.socket.destroy();
      again.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('refuses new connections on demand', async () => {
    const proxy = await FaultProxy.start(target);
    try {
      proxy.refuse = 'reset';
      const socket = net.connect(proxy.port, '127.0.0.1');
      const outcome = await new Promise<string>((resolve) => {
        socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
        socket.on('close', () => resolve('close'));
      });
      assert.equal(outcome, 'ECONNRESET');
      assert.equal(proxy.refused, 1);
      assert.equal(proxy.total, 0);
    } finally {
      await proxy.close();
    }
  });
});
