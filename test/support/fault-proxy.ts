// A TCP fault proxy for tests, on 127.0.0.1. Every connection a client opens to it is forwarded to
// a target port, and on command the proxy breaks it the ways networks and servers do:
//
//   cut           close both sides (FIN); nothing more is forwarded          conn.cut(), proxy.cutAll()
//   reset         destroy both sides with RST (socket.resetAndDestroy())      conn.reset(), proxy.resetAll()
//   stall         stop forwarding server→client bytes and stop reading the    conn.stall(), proxy.stallOpen()
//                 server; the sockets stay open, client bytes still go through
//   slow          hold each server chunk `slowMs` before forwarding it        setMode({ slowMs })
//   byte-by-byte  forward server bytes one per write with a pause, for a      setMode({ byteByByte: { bytes, pauseMs } })
//                 bounded number of bytes or until turned off (false)
//   split         cut each server chunk into pieces written one by one        setMode({ splitter, splitPauseMs })
//   rewrite       change (or drop, by returning null) each server line        proxy.rewriteServerLine = fn
//   client lines  see each client line whole before it is forwarded; drop    proxy.onClientLine = fn
//                 it (return false) and answer the client in the server's     conn.answer(text)
//                 place (a STARTTLS refused by a man in the middle)
//   raw           no more line features on a connection: bytes pass as they   conn.setRaw()
//                 come both ways (what follows a STARTTLS is TLS)
//   refuse        close new connections at once, with FIN or RST              proxy.refuse = 'cut' | 'reset'
//   not listening new connections refused by the OS (ECONNREFUSED)           proxy.stopListening() / resumeListening()
//
// setMode() on the proxy applies to the open connections and to new ones; on a connection, to that
// one only. Triggers fire an action at an exact point of a conversation (see TriggerSpec):
//
//   proxy.when({ clientLine: /UID STORE .*\\Seen/, serverLine: imapTaggedReply, action: 'reset' })
//     the server applied the STORE, its OK never reaches the client
//   proxy.when({ clientLine: /UID FETCH/, serverBytes: 40_000, action: 'cut' })
//     40,000 bytes of the answer reach the client, then the connection is cut
//   proxy.when({ clientLine: /^QUIT/, action: 'reset' })
//     reset before the QUIT is forwarded: the server never sees it
//
// Server lines are held back only while a rewrite or a server-line trigger needs them whole;
// otherwise bytes pass as they come, so packet-level tests see the server's own chunking (or the
// chunking they asked for). A server's FIN reaches the client after what is still queued; a
// client's FIN ends the connection; an error on one side is passed to the other as a reset (a
// target that refuses the connection therefore resets the client's).
//
// It counts bytes, writes and connections (total, open now, most open at once: maxOpen) and keeps
// everything each client sent (tests only: it is never dropped; clientMark() and clientTextSince()
// give what was sent after a point), and with keepToClient everything the client was sent. Line
// features read bytes as latin1, which maps one byte to one character both ways, so 8-bit data
// passes unchanged; they make sense on plaintext protocols only (not inside TLS: see setRaw()).
import { EventEmitter } from 'node:events';
import net from 'node:net';

export type FaultAction = 'cut' | 'reset' | 'stall' | ((connection: ProxyConnection) => void);

export interface TriggerSpec {
  /**
   * Arms the trigger on the connection whose client sends a line matching this (the `nth` such
   * line over the whole proxy). Without it the trigger is armed on every connection from its start.
   */
  clientLine?: RegExp;
  /** Which matching client line arms it: 1 = the first (default). */
  nth?: number;
  /**
   * Once armed: fires on the first server line matching this, before that line reaches the client.
   * A function gets the client line that armed the trigger (for example to match its IMAP tag).
   */
  serverLine?: RegExp | ((armingLine: string) => RegExp);
  /**
   * Once armed: fires when this many more server bytes have reached the client (exactly that many;
   * the rest stays behind). Counted from the arming client line, or from the connection's start.
   */
  serverBytes?: number;
  /**
   * With neither serverLine nor serverBytes the trigger fires as soon as it is armed: when armed by
   * a client line, before that line is forwarded to the server.
   */
  action: FaultAction;
  /**
   * How many times it may fire over the proxy's life; default 1. With a clientLine, every matching
   * line from the nth on arms it again (at most one pending arming per connection); without one,
   * every new connection is armed until it has fired this often.
   */
  times?: number;
}

export interface FireEvent {
  trigger: Trigger;
  connection: ProxyConnection;
  /** The client line that armed it, when there was one. */
  armingLine?: string;
  /** The server line it fired on, when it fired on one. */
  serverLine?: string;
  at: number;
}

export class Trigger {
  /** How often it fired so far. */
  count = 0;
  /** Client lines that matched `clientLine` so far. */
  matches = 0;
  readonly events: FireEvent[] = [];
  /** The first time it fires. */
  readonly fired: Promise<FireEvent>;
  private resolveFired!: (event: FireEvent) => void;
  private cancelled = false;

  constructor(readonly spec: TriggerSpec) {
    if (spec.serverLine && spec.serverBytes !== undefined) throw new Error('a trigger fires on serverLine or on serverBytes, not both');
    this.fired = new Promise((resolve) => {
      this.resolveFired = resolve;
    });
  }

  get live(): boolean {
    return !this.cancelled && this.count < (this.spec.times ?? 1);
  }

  cancel(): void {
    this.cancelled = true;
  }

  /** @internal */
  record(event: FireEvent): void {
    this.count += 1;
    this.events.push(event);
    if (this.count === 1) this.resolveFired(event);
  }
}

export interface ByteByByteOptions {
  /** Bytes to forward one at a time before normal forwarding resumes; default: until turned off. */
  bytes?: number;
  /** Pause after each byte; default 1 ms, enough for the client to read each byte on its own. */
  pauseMs?: number;
}

/** How server→client bytes are forwarded. */
export interface ForwardMode {
  stalled: boolean;
  /** Each server chunk waits this long before it is forwarded; 0 = at once. */
  slowMs: number;
  byteByByte: ByteByByteOptions | false;
  /** Cuts each server chunk into pieces that are written one by one with `splitPauseMs` between. */
  splitter: ((chunk: Buffer, connection: ProxyConnection) => Buffer[]) | undefined;
  splitPauseMs: number;
}

const DEFAULT_MODE: ForwardMode = { stalled: false, slowMs: 0, byteByByte: false, splitter: undefined, splitPauseMs: 1 };

/** Above this many queued server bytes the proxy stops reading from the server until they drain. */
const HIGH_WATER = 1024 * 1024;
/** Longer lines are not lines (binary or TLS data): they are passed on and not matched. */
const MAX_LINE = 64 * 1024;

interface Armed {
  trigger: Trigger;
  armingLine?: string;
  serverLine?: RegExp;
  /** Absolute value of bytesToClient at which a serverBytes trigger fires. */
  fireAt?: number;
}

interface Pending {
  data: Buffer;
  /** Wait this long before writing it. */
  pauseMs: number;
}

export class ProxyConnection {
  readonly openedAt = Date.now();
  closedAt: number | undefined;
  bytesFromServer = 0;
  bytesToClient = 0;
  bytesFromClient = 0;
  /** Writes to the client so far (byte-by-byte forwarding makes one per byte). */
  writesToClient = 0;
  /** Set when the proxy broke the connection on purpose. */
  fault: 'cut' | 'reset' | undefined;
  /** Resolves once both sides are closed. */
  readonly closed: Promise<void>;
  mode: ForwardMode;

  private readonly clientChunks: Buffer[] = [];
  /** Written to the client, kept when the proxy's keepToClient is on. */
  private readonly toClientChunks: Buffer[] = [];
  /** The client's unfinished line: held back from the server while a client-line hook is set. */
  private clientTail = '';
  private clientTailHeld = false;
  private rawMode = false;
  private serverTail: Buffer = Buffer.alloc(0);
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private bytewiseLeft = 0;
  private timer: NodeJS.Timeout | undefined;
  private serverEnded = false;
  private finished = false;
  private readonly armed: Armed[] = [];
  private resolveClosed!: () => void;

  /** @internal FaultProxy creates connections. */
  constructor(
    readonly id: number,
    readonly client: net.Socket,
    readonly server: net.Socket,
    private readonly proxy: FaultProxy,
  ) {
    this.mode = { ...proxy.mode };
    this.bytewiseLeft = bytewiseBudget(this.mode.byteByByte);
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  /** @internal Wires the sockets up; called once the proxy has counted the connection. */
  start(): void {
    const { client, server } = this;
    client.setNoDelay(true);
    server.setNoDelay(true);
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    server.on('data', (chunk: Buffer) => this.fromServer(chunk));
    // The server's FIN reaches the client after whatever is still queued for it. The client's
    // FIN ends the connection (the mail protocols never half-close and wait), even while the
    // server side is stalled: a client that gave up on a silent server is gone.
    server.on('end', () => {
      this.serverEnded = true;
      this.pump();
    });
    server.on('close', () => {
      this.serverEnded = true;
      this.pump();
    });
    // An error on one side reaches the other as a reset, as it would across a real network path.
    client.on('error', () => this.abort(server));
    server.on('error', () => this.abort(client));
    client.on('close', () => this.finish('cut'));
    for (const trigger of this.proxy.triggers) if (trigger.live && !trigger.spec.clientLine) this.arm(trigger);
  }

  get open(): boolean {
    return !this.finished;
  }

  /** Everything this client sent, as latin1 text. */
  get clientText(): string {
    return Buffer.concat(this.clientChunks).toString('latin1');
  }

  /** Everything this client sent. */
  get clientBytes(): Buffer {
    return Buffer.concat(this.clientChunks);
  }

  /** Everything written to this client, as latin1 text; kept only while the proxy's keepToClient is on. */
  get toClientText(): string {
    return Buffer.concat(this.toClientChunks).toString('latin1');
  }

  /** True once setRaw() turned the line features off for this connection. */
  get raw(): boolean {
    return this.rawMode;
  }

  /**
   * Turns the line features off for this connection (client-line hook, triggers on lines, server
   * line rewriting and holding): from now on bytes pass both ways as they come, what was held back
   * first. For what follows a STARTTLS, which is TLS. Called from a client-line hook, the line the
   * hook is looking at is still forwarded (unless the hook drops it).
   */
  setRaw(): void {
    if (this.rawMode || this.finished) return;
    this.rawMode = true;
    const held = this.clientTailHeld ? this.clientTail : '';
    this.clientTail = '';
    this.clientTailHeld = false;
    if (held && !this.server.destroyed) this.server.write(Buffer.from(held, 'latin1'));
    if (this.serverTail.length > 0) {
      const tail = this.serverTail;
      this.serverTail = Buffer.alloc(0);
      this.enqueue(tail);
    }
  }

  /**
   * Sends `text` (latin1) to the client in the server's place, after what is already queued for
   * it; the server knows nothing of it. For a client-line hook that answers a line itself.
   */
  answer(text: string): void {
    if (this.finished) return;
    this.enqueue(Buffer.from(text, 'latin1'));
  }

  /** Closes both sides (FIN) after what was already forwarded; nothing more is forwarded. */
  cut(): void {
    if (this.finished) return;
    this.fault ??= 'cut';
    this.finish('cut');
  }

  /** Destroys both sides with RST. */
  reset(): void {
    if (this.finished) return;
    this.fault ??= 'reset';
    this.finish('reset');
  }

  /** Stops forwarding server bytes; the sockets stay open and the server is no longer read. */
  stall(): void {
    this.setMode({ stalled: true });
  }

  resume(): void {
    this.setMode({ stalled: false });
  }

  setMode(change: Partial<ForwardMode>): void {
    this.mode = { ...this.mode, ...change };
    if (change.byteByByte !== undefined) this.bytewiseLeft = bytewiseBudget(change.byteByByte);
    this.pump();
  }

  /** @internal */
  arm(trigger: Trigger, armingLine?: string): void {
    if (this.finished) return;
    const { serverLine, serverBytes } = trigger.spec;
    if (serverLine) {
      this.armed.push({ trigger, armingLine, serverLine: typeof serverLine === 'function' ? serverLine(armingLine ?? '') : serverLine });
    } else if (serverBytes !== undefined) {
      this.armed.push({ trigger, armingLine, fireAt: this.bytesToClient + serverBytes });
      this.pump();
    } else {
      this.fire({ trigger, armingLine });
    }
  }

  private fire(armed: Armed, serverLine?: string): void {
    const index = this.armed.indexOf(armed);
    if (index >= 0) this.armed.splice(index, 1);
    const { trigger } = armed;
    if (!trigger.live) return;
    const event: FireEvent = { trigger, connection: this, armingLine: armed.armingLine, serverLine, at: Date.now() };
    trigger.record(event);
    this.proxy.emit('fault', event);
    const action = trigger.spec.action;
    if (action === 'cut') this.cut();
    else if (action === 'reset') this.reset();
    else if (action === 'stall') this.stall();
    else action(this);
  }

  private fromClient(chunk: Buffer): void {
    if (this.finished) return;
    this.bytesFromClient += chunk.length;
    this.proxy.bytesFromClient += chunk.length;
    this.clientChunks.push(chunk);
    if (this.rawMode) {
      if (!this.server.destroyed) this.server.write(chunk);
      return;
    }
    // Lines are checked as they complete. A trigger that fires on a client line acts before that
    // line (and the rest of the chunk) is forwarded, so "reset on QUIT" means the server never
    // sees the QUIT. Without a client-line hook bytes go on as they come; with one, each line goes
    // on whole once the hook let it pass, and an unfinished line waits for its end.
    const hook = this.proxy.onClientLine;
    const tail = this.clientTail;
    const tailHeld = this.clientTailHeld;
    const text = tail + chunk.toString('latin1');
    this.clientTail = '';
    this.clientTailHeld = false;
    // Held for a hook that has been removed since: it goes on first.
    if (!hook && tailHeld && tail && !this.server.destroyed) this.server.write(Buffer.from(tail, 'latin1'));
    let start = 0;
    let forwarded = 0;
    for (let nl = text.indexOf('\n'); nl >= 0 && !this.rawMode; nl = text.indexOf('\n', start)) {
      const whole = text.slice(start, nl + 1);
      const line = whole.replace(/\r?\n$/, '');
      const lineOffset = Math.max(0, start - tail.length);
      start = nl + 1;
      for (const trigger of this.proxy.triggers) {
        const pattern = trigger.spec.clientLine;
        if (!trigger.live || !pattern) continue;
        pattern.lastIndex = 0;
        if (!pattern.test(line)) continue;
        trigger.matches += 1;
        if (trigger.matches < (trigger.spec.nth ?? 1) || this.armed.some((a) => a.trigger === trigger)) continue;
        const immediate = !trigger.spec.serverLine && trigger.spec.serverBytes === undefined;
        if (!hook && immediate && lineOffset > forwarded) {
          this.server.write(chunk.subarray(forwarded, lineOffset));
          forwarded = lineOffset;
        }
        this.arm(trigger, line);
        if (this.finished) return;
      }
      if (!hook) continue;
      // The line goes on unless the hook drops it. An earlier part of it that was not held (the
      // hook was set while the line was unfinished) has gone on already.
      const pass = hook(line, this) !== false;
      if (this.finished) return;
      const sent = lineOffset === 0 && !tailHeld ? tail.length : 0;
      if (pass && !this.server.destroyed) this.server.write(Buffer.from(whole.slice(sent), 'latin1'));
    }
    const rest = text.slice(start);
    if (!hook) {
      // A client that never ends a line (TLS, say) must not grow this without bound.
      this.clientTail = this.rawMode || rest.length > MAX_LINE ? '' : rest;
      if (forwarded < chunk.length && !this.server.destroyed) this.server.write(chunk.subarray(forwarded));
    } else if (this.rawMode || rest.length > MAX_LINE) {
      // Raw now (the hook or a trigger action switched), or not a line at all (binary data): it
      // goes on as it is rather than being held without bound.
      if (rest && !this.server.destroyed) this.server.write(Buffer.from(rest, 'latin1'));
    } else {
      this.clientTail = rest;
      this.clientTailHeld = true;
    }
  }

  private fromServer(chunk: Buffer): void {
    if (this.finished) return;
    this.bytesFromServer += chunk.length;
    this.proxy.bytesFromServer += chunk.length;
    if (this.rawMode || (!this.holdsLines() && this.serverTail.length === 0)) {
      this.enqueue(chunk);
      return;
    }
    let data = this.serverTail.length > 0 ? Buffer.concat([this.serverTail, chunk]) : chunk;
    this.serverTail = Buffer.alloc(0);
    for (let nl = data.indexOf(0x0a); nl >= 0 && this.holdsLines(); nl = data.indexOf(0x0a)) {
      const raw = data.subarray(0, nl + 1);
      data = data.subarray(nl + 1);
      const ending = raw.length > 1 && raw[raw.length - 2] === 0x0d ? '\r\n' : '\n';
      const line = raw.subarray(0, raw.length - ending.length).toString('latin1');
      const hit = this.armed.find((a) => {
        if (!a.serverLine) return false;
        a.serverLine.lastIndex = 0;
        return a.serverLine.test(line);
      });
      if (hit) {
        // Acts before the line goes out: a reset here means the client never sees this answer.
        this.fire(hit, line);
        if (this.finished) return;
      }
      const rewrite = this.proxy.rewriteServerLine;
      if (!rewrite) {
        this.enqueue(Buffer.from(raw));
        continue;
      }
      const replaced = rewrite(line, this);
      if (replaced !== null) this.enqueue(Buffer.from(replaced + ending, 'latin1'));
    }
    if (this.holdsLines() && data.length <= MAX_LINE) {
      this.serverTail = Buffer.from(data);
    } else if (data.length > 0) {
      this.enqueue(Buffer.from(data));
    }
  }

  /** Whole server lines are needed while a rewrite or a server-line trigger is waiting for one. */
  private holdsLines(): boolean {
    return !this.rawMode && (this.proxy.rewriteServerLine !== undefined || this.armed.some((a) => a.serverLine));
  }

  private enqueue(data: Buffer): void {
    const pieces = this.mode.splitter ? this.mode.splitter(data, this).filter((p) => p.length > 0) : [data];
    pieces.forEach((piece, i) => {
      this.queue.push({ data: piece, pauseMs: i > 0 ? this.mode.splitPauseMs : this.mode.slowMs });
      this.queuedBytes += piece.length;
    });
    this.pump();
  }

  /** Writes queued server bytes to the client as far as the forward mode allows. */
  private pump(): void {
    if (this.finished || this.timer) return;
    while (this.queue.length > 0 && !this.mode.stalled && !this.client.destroyed) {
      const next = this.queue[0];
      if (next.pauseMs > 0) {
        const pause = next.pauseMs;
        next.pauseMs = 0;
        this.wait(pause);
        return;
      }
      const bytewise = this.bytewiseLeft > 0;
      const due = this.nextByteTrigger();
      let size = bytewise ? 1 : next.data.length;
      if (due) size = Math.min(size, due.fireAt - this.bytesToClient);
      if (size > 0) {
        const piece = next.data.subarray(0, size);
        next.data = next.data.subarray(size);
        if (next.data.length === 0) this.queue.shift();
        this.queuedBytes -= size;
        this.bytesToClient += size;
        this.proxy.bytesToClient += size;
        this.client.write(piece);
        this.writesToClient += 1;
        if (this.proxy.keepToClient) this.toClientChunks.push(piece);
        if (bytewise) this.bytewiseLeft -= 1;
      }
      if (due && due.fireAt === this.bytesToClient) {
        this.fire(due.armed);
        if (this.finished) return;
        continue;
      }
      if (bytewise) {
        // Each byte gets its own write and a pause, so the client reads it on its own.
        this.wait(this.mode.byteByByte ? (this.mode.byteByByte.pauseMs ?? 1) : 0);
        return;
      }
    }
    if (this.mode.stalled || this.queuedBytes > HIGH_WATER) this.server.pause();
    else if (!this.server.destroyed) this.server.resume();
    if (this.queue.length === 0 && this.serverEnded && !this.client.destroyed) this.client.end();
  }

  private wait(ms: number): void {
    this.server.pause();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, ms);
  }

  private nextByteTrigger(): { armed: Armed; fireAt: number } | undefined {
    let best: { armed: Armed; fireAt: number } | undefined;
    for (const armed of this.armed) {
      if (armed.fireAt !== undefined && (!best || armed.fireAt < best.fireAt)) best = { armed, fireAt: armed.fireAt };
    }
    return best;
  }

  private abort(other: net.Socket): void {
    if (this.finished) return;
    resetSocket(other);
    this.finish();
  }

  /** Stops forwarding for good and closes both sockets: 'cut' with FIN, 'reset' with RST. */
  private finish(how: 'cut' | 'reset' | 'destroy' = 'destroy'): void {
    if (this.finished) return;
    this.finished = true;
    this.closedAt = Date.now();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.armed.length = 0;
    for (const socket of [this.client, this.server]) {
      socket.pause();
      if (how === 'reset') resetSocket(socket);
      else if (how === 'cut') closeSocket(socket);
      else socket.destroy();
    }
    this.proxy.connectionClosed(this);
    this.resolveClosed();
  }
}

function bytewiseBudget(option: ByteByByteOptions | false): number {
  return option ? (option.bytes ?? Infinity) : 0;
}

/** FIN once what was written is flushed (a socket still connecting gets there first), then gone. */
function closeSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  socket.once('finish', () => socket.destroy());
  socket.end();
}

function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** What each connection's client had sent at some point: see FaultProxy.clientMark(). */
export type ClientMark = readonly number[];

export interface FaultProxyOptions {
  targetPort: number;
  targetHost?: string;
}

/**
 * Events: 'connection' (ProxyConnection), 'close' (ProxyConnection), 'fault' (FireEvent).
 */
export class FaultProxy extends EventEmitter {
  readonly server: net.Server;
  readonly connections: ProxyConnection[] = [];
  readonly triggers: Trigger[] = [];
  /** Applies to new connections; setMode() changes it and the open connections too. */
  mode: ForwardMode = { ...DEFAULT_MODE };
  /** Rewrites (or, returning null, drops) each server line before the client sees it. */
  rewriteServerLine: ((line: string, connection: ProxyConnection) => string | null) | undefined;
  /**
   * Sees each client line (without its line end) before it is forwarded, after the triggers;
   * returning false drops it, so the server never sees it (connection.answer() can reply in the
   * server's place). While it is set, client lines go on whole, once complete.
   */
  onClientLine: ((line: string, connection: ProxyConnection) => boolean | void) | undefined;
  /** Keep everything written to the clients from now on (connection.toClientText). */
  keepToClient = false;
  /** New connections are closed at once: 'cut' (FIN) or 'reset' (RST). */
  refuse: 'cut' | 'reset' | false = false;
  bytesFromServer = 0;
  bytesToClient = 0;
  bytesFromClient = 0;
  /** Connections refused because of `refuse`. */
  refused = 0;
  /** The most connections that were open at the same time. */
  maxOpen = 0;
  private openNow = 0;
  private listenPort = 0;
  private readonly targetHost: string;
  private readonly targetPort: number;

  private constructor(options: FaultProxyOptions) {
    super();
    this.targetPort = options.targetPort;
    this.targetHost = options.targetHost ?? '127.0.0.1';
    // Client sockets without allowHalfOpen: Node answers a client's FIN with its own, then 'close'.
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(options: FaultProxyOptions | number): Promise<FaultProxy> {
    const proxy = new FaultProxy(typeof options === 'number' ? { targetPort: options } : options);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => {
        proxy.server.off('error', reject);
        resolve();
      });
    });
    proxy.listenPort = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  get port(): number {
    return this.listenPort;
  }

  /** Connections accepted and forwarded so far. */
  get total(): number {
    return this.connections.length;
  }

  /** Connections open now. */
  get open(): number {
    return this.openNow;
  }

  openConnections(): ProxyConnection[] {
    return this.connections.filter((c) => c.open);
  }

  /** Everything every client sent, in connection order, as latin1 text. */
  get clientText(): string {
    return this.connections.map((c) => c.clientText).join('');
  }

  /** Where each connection's client stands now, for clientTextSince(). */
  clientMark(): ClientMark {
    return this.connections.map((c) => c.bytesFromClient);
  }

  /** What the clients sent after `mark` (connections opened since included), in connection order, as latin1 text. */
  clientTextSince(mark: ClientMark): string {
    return this.connections.map((c, i) => c.clientBytes.subarray(mark[i] ?? 0).toString('latin1')).join('');
  }

  /** Everything written to every client while keepToClient was on, in connection order, as latin1 text. */
  get toClientText(): string {
    return this.connections.map((c) => c.toClientText).join('');
  }

  /** Adds a trigger; see TriggerSpec. */
  when(spec: TriggerSpec): Trigger {
    const trigger = new Trigger(spec);
    this.triggers.push(trigger);
    if (!spec.clientLine) for (const c of this.openConnections()) c.arm(trigger);
    return trigger;
  }

  /** Changes how server bytes are forwarded, on open connections and on new ones. */
  setMode(change: Partial<ForwardMode>): void {
    this.mode = { ...this.mode, ...change };
    for (const c of this.openConnections()) c.setMode(change);
  }

  cutAll(): void {
    for (const c of this.openConnections()) c.cut();
  }

  resetAll(): void {
    for (const c of this.openConnections()) c.reset();
  }

  /** Stalls the connections open now; new ones forward normally. Returns them. */
  stallOpen(): ProxyConnection[] {
    const open = this.openConnections();
    for (const c of open) c.stall();
    return open;
  }

  /**
   * Stops listening, so that new connections are refused by the operating system exactly as by a
   * stopped server (ECONNREFUSED); open connections stay. resumeListening() takes the same port again.
   */
  stopListening(): void {
    if (this.server.listening) this.server.close();
  }

  async resumeListening(): Promise<void> {
    if (this.server.listening) return;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listenPort, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Zeroes the byte counters and restarts `maxOpen` from the connections open now. */
  resetCounters(): void {
    this.bytesFromServer = 0;
    this.bytesToClient = 0;
    this.bytesFromClient = 0;
    this.maxOpen = this.openNow;
  }

  async close(): Promise<void> {
    for (const t of this.triggers) t.cancel();
    const closing = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    this.cutAll();
    await closing;
  }

  private accept(client: net.Socket): void {
    if (this.refuse) {
      this.refused += 1;
      client.on('error', () => undefined);
      if (this.refuse === 'reset') resetSocket(client);
      else client.destroy();
      return;
    }
    const upstream = net.connect({ port: this.targetPort, host: this.targetHost, allowHalfOpen: true });
    const connection = new ProxyConnection(this.connections.length + 1, client, upstream, this);
    this.connections.push(connection);
    this.openNow += 1;
    this.maxOpen = Math.max(this.maxOpen, this.openNow);
    this.emit('connection', connection);
    connection.start();
  }

  /** @internal */
  connectionClosed(connection: ProxyConnection): void {
    this.openNow -= 1;
    this.emit('close', connection);
  }
}

/** The tag of an IMAP command line ("A12 UID STORE …" → "A12"). */
export function imapTag(line: string): string {
  return line.split(' ', 1)[0];
}

/** For TriggerSpec.serverLine: the tagged reply (OK, NO or BAD) to the command that armed it. */
export function imapTaggedReply(armingLine: string): RegExp {
  return new RegExp(`^${imapTag(armingLine).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (OK|NO|BAD)\\b`, 'i');
}
