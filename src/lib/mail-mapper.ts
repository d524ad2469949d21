import { Readable } from 'node:stream';
import { simpleParser } from 'mailparser';
import type { AddressObject, HeaderValue, ParsedMail } from 'mailparser';

export interface EmailAttachment {
  filename: string | undefined;
  contentType: string;
  size: number;
  content: Buffer;
}

export interface ImapOrigin {
  folder: string;
  uid: number;
  uidValidity: string;
  messageId: string | undefined;
  connection: string;
  /** Stable across polls, restarts and reconnects: what a flow de-duplicates on. */
  key: string;
}

export interface Pop3Origin {
  uidl: string;
  messageId: string | undefined;
  connection: string;
  key: string;
}

/**
 * The Node-RED message one email becomes (SPEC, "The flow-file contract"). A type alias, not an
 * interface, so it is assignable to Node-RED's indexable NodeMessage.
 */
export type EmailMessage = {
  payload: string;
  topic: string;
  from: string;
  to: string;
  cc: string;
  date: Date | undefined;
  html: string | undefined;
  headers: Record<string, HeaderValue>;
  attachments: EmailAttachment[];
  email: ImapOrigin | Pop3Origin;
};

export type ParseFailure = { reason: string };

function addressText(value: AddressObject | AddressObject[] | undefined): string {
  if (!value) return '';
  return Array.isArray(value) ? value.map((a) => a.text).join(', ') : value.text;
}

/**
 * How much of the raw message the parser is given at a time. Handed a 27 MiB message in one write,
 * mailparser turns its whole body into one string and decodes that: about 150 MiB over the
 * message's own size. In 1 MiB pieces it needs about 75 MiB; smaller pieces save a little more
 * memory but cost measurably more CPU (64 KiB: about 60 MiB, and 10-20 % more parse time).
 */
const PARSE_PIECE_BYTES = 1024 * 1024;

/**
 * The raw message as a stream of pieces of about PARSE_PIECE_BYTES. A Buffer is sliced (the
 * pieces share its memory). A list of parts (the POP3 reader's socket chunks, often 4 KiB) is
 * emptied as it is fed, so the message is never held whole while it is parsed; small parts are
 * joined a piece at a time, which costs one copy of a piece and spares the stream thousands of
 * tiny writes.
 */
function pieces(raw: Buffer | Buffer[]): Readable {
  const parts = Buffer.isBuffer(raw) ? [raw] : raw;
  function* slices(): Generator<Buffer> {
    let gathered: Buffer[] = [];
    let gatheredBytes = 0;
    const flush = (): Buffer => {
      const piece = gathered.length === 1 ? gathered[0] : Buffer.concat(gathered, gatheredBytes);
      gathered = [];
      gatheredBytes = 0;
      return piece;
    };
    for (let part = parts.shift(); part !== undefined; part = parts.shift()) {
      if (part.length < PARSE_PIECE_BYTES) {
        gathered.push(part);
        gatheredBytes += part.length;
        if (gatheredBytes >= PARSE_PIECE_BYTES) yield flush();
        continue;
      }
      if (gatheredBytes > 0) yield flush();
      for (let at = 0; at < part.length; at += PARSE_PIECE_BYTES) yield part.subarray(at, at + PARSE_PIECE_BYTES);
    }
    if (gatheredBytes > 0) yield flush();
  }
  return Readable.from(slices(), { objectMode: false });
}

/**
 * Parses one raw message. mailparser refuses some messages (more than 1,000 MIME parts, oversized
 * headers); those come back as a ParseFailure so the caller can report and skip them instead of
 * fetching them again on every poll. A list of parts is emptied as it is parsed.
 */
export async function parseEmail(raw: Buffer | Buffer[], origin: ImapOrigin | Pop3Origin): Promise<EmailMessage | ParseFailure> {
  let parsed: ParsedMail;
  try {
    // No attachment checksum: msg.attachments does not carry one, and hashing 20 MiB is not free.
    // A small message goes in whole: a stream would only add its own overhead to every email of a backlog.
    const input = Buffer.isBuffer(raw) && raw.length <= PARSE_PIECE_BYTES ? raw : pieces(raw);
    parsed = await simpleParser(input, { skipImageLinks: true, skipTextToHtml: true, checksumAlgo: false });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { reason: [e.code, e.message].filter(Boolean).join(': ') || 'unparseable' };
  }
  return toEmailMessage(parsed, origin);
}

export function toEmailMessage(parsed: ParsedMail, origin: ImapOrigin | Pop3Origin): EmailMessage {
  const headers: Record<string, HeaderValue> = {};
  for (const [name, value] of parsed.headers) headers[name] = value;
  return {
    payload: parsed.text ?? '',
    topic: parsed.subject ?? '',
    from: addressText(parsed.from),
    to: addressText(parsed.to),
    cc: addressText(parsed.cc),
    date: parsed.date,
    html: typeof parsed.html === 'string' ? parsed.html : undefined,
    headers,
    attachments: parsed.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      size: a.size,
      content: a.content,
    })),
    email: { ...origin, messageId: parsed.messageId },
  };
}

export function isParseFailure(result: EmailMessage | ParseFailure): result is ParseFailure {
  return 'reason' in result;
}
