import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { MailError } from '../mail-error';
import { parseEmail } from '../mail-mapper';
import type { EmailMessage, ImapOrigin, ParseFailure, Pop3Origin } from '../mail-mapper';
import type { ParseAnswer, ParseRequest } from './parsed-transfer';
import { asBuffer, movable, ownsItsMemory } from './parsed-transfer';

/** A raw email larger than this that would have to be copied to reach the worker is parsed here instead. */
const COPY_AT_MOST_BYTES = 1024 * 1024;
/** An idle worker is let go after this long; the next email starts one again (tens of ms). */
const IDLE_MS = 30_000;

interface Waiting {
  origin: ImapOrigin | Pop3Origin;
  resolve: (result: EmailMessage | ParseFailure) => void;
  reject: (err: MailError) => void;
}

/**
 * Parses emails on a worker thread, so that mailparser (most of the CPU a drain costs) runs
 * beside the thread that reads the next emails from the server and hands the parsed ones to the
 * flow. One worker for the whole Node-RED process, started when the first email comes and let go
 * when idle. Answers come in the order asked. On a single CPU, where there is nothing to run
 * beside, or when a worker cannot be started, emails are parsed on the calling thread as before.
 */
export class ParsePool {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private unavailable: boolean;

  constructor(
    private readonly script = path.join(__dirname, 'parse-worker.js'),
    cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
  ) {
    this.unavailable = cpus < 2;
  }

  /**
   * `raw` as one Buffer, or as a list of parts (a large POP3 email as it came off the socket),
   * which is parsed here: moving it to the worker would mean joining it first, a copy of it all.
   */
  parse(raw: Buffer | Buffer[], origin: ImapOrigin | Pop3Origin): Promise<EmailMessage | ParseFailure> {
    if (!Buffer.isBuffer(raw)) return parseEmail(raw, origin);
    const worker = this.unavailable || (!ownsItsMemory(raw) && raw.byteLength > COPY_AT_MOST_BYTES) ? undefined : this.started();
    if (!worker) return parseEmail(raw, origin);
    const id = this.nextId++;
    const [bytes, transfer] = movable(raw);
    const request: ParseRequest = { id, raw: bytes };
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { origin, resolve, reject });
      worker.postMessage(request, transfer);
    });
  }

  /** Ends the worker (tests; Node-RED lets it go by itself when idle). */
  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private started(): Worker | undefined {
    if (this.worker) return this.worker;
    try {
      const worker = new Worker(this.script);
      // A worker never keeps Node-RED from exiting.
      worker.unref();
      worker.on('message', (answer: ParseAnswer) => this.answered(answer));
      worker.on('error', (err) => this.lost(worker, err));
      worker.on('exit', (code) => this.lost(worker, new Error(`parser thread exited with code ${code}`)));
      this.worker = worker;
      return worker;
    } catch {
      this.unavailable = true;
      return undefined;
    }
  }

  private answered(answer: ParseAnswer): void {
    const waiting = this.waiting.get(answer.id);
    if (!waiting) return;
    this.waiting.delete(answer.id);
    if ('reason' in answer) waiting.resolve({ reason: answer.reason });
    else {
      const { messageId, attachments, ...rest } = answer.email;
      waiting.resolve({
        ...rest,
        attachments: attachments.map((a) => ({ ...a, content: asBuffer(a.content) })),
        email: { ...waiting.origin, messageId },
      });
    }
    if (this.waiting.size === 0) this.idleTimer = setTimeout(() => void this.close(), IDLE_MS).unref();
  }

  /**
   * The worker died (out of memory on one email, most likely, but which of those it held is not
   * known): every email it held fails its poll, so none is emitted, marked or skipped, and from
   * now on emails are parsed on the calling thread, where the next poll finds them again.
   */
  private lost(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.unavailable = true;
    for (const [id, waiting] of this.waiting) {
      this.waiting.delete(id);
      waiting.reject(new MailError('protocol', `the email parser thread stopped (${err.message}); parsing on the main thread from now on`));
    }
  }
}

/** The process's parse pool, shared by every Receive Email node. */
export const parsePool = new ParsePool();
