// The body of a parse worker thread: mailparser runs here, beside the thread that talks to the
// mail server and to the flow. It answers each request with the parsed email, its attachments
// moved back rather than copied.
import { parentPort } from 'node:worker_threads';
import { isParseFailure, parseEmail } from '../mail-mapper';
import type { ParseAnswer, ParseRequest, ParsedEmail } from './parsed-transfer';
import { asBuffer, movable } from './parsed-transfer';

/** parseEmail wants an origin; the main thread puts the real one back. */
const NO_ORIGIN = { uidl: '', messageId: undefined, connection: '', key: '' };

async function answer(request: ParseRequest): Promise<[ParseAnswer, ArrayBuffer[]]> {
  const result = await parseEmail(asBuffer(request.raw), NO_ORIGIN);
  if (isParseFailure(result)) return [{ id: request.id, reason: result.reason }, []];
  const { email, attachments, ...rest } = result;
  const transfer: ArrayBuffer[] = [];
  const moved = attachments.map((a) => {
    const [content, list] = movable(a.content);
    transfer.push(...list);
    return { ...a, content: content as Buffer };
  });
  const parsed: ParsedEmail = { ...rest, attachments: moved, messageId: email.messageId };
  return [{ id: request.id, email: parsed }, transfer];
}

/**
 * A header value mailparser built from something unusual may not survive the structured clone;
 * then the headers go as JSON (a date among them as its text), which every header value survives.
 */
function send(reply: ParseAnswer, transfer: ArrayBuffer[]): void {
  try {
    parentPort?.postMessage(reply, transfer);
  } catch {
    if (!('email' in reply)) throw new Error('answer could not be sent');
    const headers = JSON.parse(JSON.stringify(reply.email.headers)) as ParsedEmail['headers'];
    parentPort?.postMessage({ ...reply, email: { ...reply.email, headers } }, transfer);
  }
}

parentPort?.on('message', (request: ParseRequest) => {
  answer(request)
    .then(([reply, transfer]) => send(reply, transfer))
    .catch((err: unknown) => parentPort?.postMessage({ id: request.id, reason: err instanceof Error ? err.message : String(err) } satisfies ParseAnswer));
});
