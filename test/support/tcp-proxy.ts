// A loopback TCP proxy for tests: counts the bytes each way, keeps a copy of what the client
// sent, and can cut every connection on demand.
import net from 'node:net';

export class TcpProxy {
  readonly server: net.Server;
  bytesFromServer = 0;
  bytesFromClient = 0;
  connections = 0;
  private clientData: Buffer[] = [];
  private readonly sockets = new Set<net.Socket>();

  /** Rewrites what the server sends before the client sees it (a man in the middle). */
  transformFromServer: ((chunk: Buffer) => Buffer) | undefined;

  private constructor(private readonly targetPort: number) {
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Everything the client sent, as latin1 text, for grepping. */
  get clientText(): string {
    return Buffer.concat(this.clientData).toString('latin1');
  }

  get open(): number {
    return [...this.sockets].filter((s) => !s.destroyed).length / 2;
  }

  private accept(client: net.Socket): void {
    this.connections += 1;
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    this.sockets.add(client);
    this.sockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      this.bytesFromClient += chunk.length;
      this.clientData.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      this.bytesFromServer += chunk.length;
      client.write(this.transformFromServer ? this.transformFromServer(chunk) : chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }

  resetCounters(): void {
    this.bytesFromClient = 0;
    this.bytesFromServer = 0;
    this.clientData = [];
  }

  cutAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
