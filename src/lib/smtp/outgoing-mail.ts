import { AddressError, parseAddressList } from './addresses';
import type { Address } from './addresses';

/** What the Send Email node's dialog holds. */
export interface TypedFields {
  from: string;
  to: string;
  cc: string;
  bcc: string;
  subject: string;
  text: string;
}

/** `consumed`: values on the incoming message win; `input`: the typed values win. */
export type Priority = 'consumed' | 'input';

export interface OutgoingAttachment {
  filename?: string;
  content: string | Buffer;
  contentType?: string;
  encoding?: string;
  cid?: string;
  contentDisposition?: 'attachment' | 'inline';
}

/** A message ready for nodemailer: every address parsed, the envelope spelled out. */
export interface OutgoingMail {
  from: Address;
  to: Address[];
  cc: Address[];
  bcc: Address[];
  subject: string;
  text: string;
  html: string | undefined;
  attachments: OutgoingAttachment[];
  envelope: { from: string; to: string[] };
}

/** Bad input: refused before anything is sent. `key` names the locale text under `errors.`. */
export class InputError extends Error {
  constructor(
    readonly key: string,
    readonly details: Record<string, string> = {},
  ) {
    super(`${key} ${JSON.stringify(details)}`);
    this.name = 'InputError';
  }
}

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '') || (Array.isArray(value) && value.length === 0);
}

/** The winning side of one field; an empty value on the winning side falls back to the other. */
function pick(typed: string, consumed: unknown, priority: Priority): unknown {
  const [first, second] = priority === 'input' ? [typed, consumed] : [consumed, typed];
  return isEmpty(first) ? second : first;
}

function bodyText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function addresses(field: string, value: unknown): Address[] {
  try {
    return parseAddressList(value);
  } catch (err) {
    if (err instanceof AddressError) throw new InputError('bad-address', { field, reason: err.reason });
    throw err;
  }
}

function headerText(field: string, value: unknown): string {
  const text = bodyText(value);
  if (/[\r\n\0]/.test(text)) throw new InputError('bad-header', { field });
  return text;
}

const ATTACHMENT_KEYS = new Set(['filename', 'content', 'contentType', 'encoding', 'cid', 'contentDisposition', 'size', 'checksum', 'headers', 'related', 'contentId', 'type', 'partId', 'headerLines']);

/**
 * Only content travels: a file path or URL in msg.attachments would let a flow's data read the
 * server's files or reach other hosts, so those are refused rather than ignored.
 */
function attachmentsOf(value: unknown): OutgoingAttachment[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new InputError('bad-attachment', { index: '0', reason: 'not-object' });
  return value.map((item: unknown, index) => {
    const at = String(index);
    if (typeof item !== 'object' || item === null) throw new InputError('bad-attachment', { index: at, reason: 'not-object' });
    const a = item as Record<string, unknown>;
    if ('path' in a) throw new InputError('bad-attachment', { index: at, reason: 'path' });
    if ('href' in a) throw new InputError('bad-attachment', { index: at, reason: 'href' });
    if ('raw' in a) throw new InputError('bad-attachment', { index: at, reason: 'raw' });
    for (const key of Object.keys(a)) {
      if (!ATTACHMENT_KEYS.has(key)) throw new InputError('bad-attachment', { index: at, reason: 'content' });
    }
    const content = a.content;
    if (!(typeof content === 'string' || Buffer.isBuffer(content))) throw new InputError('bad-attachment', { index: at, reason: 'content' });
    const filename = a.filename === undefined ? undefined : headerText(`attachments[${at}].filename`, a.filename);
    const contentType = a.contentType === undefined ? undefined : headerText(`attachments[${at}].contentType`, a.contentType);
    const cid = a.cid === undefined ? undefined : headerText(`attachments[${at}].cid`, a.cid);
    const encoding = typeof a.encoding === 'string' && ['base64', 'hex', 'utf8', 'utf-8', 'binary'].includes(a.encoding) ? a.encoding : undefined;
    const contentDisposition = a.contentDisposition === 'inline' ? 'inline' : a.contentDisposition === undefined ? undefined : 'attachment';
    return { filename, content, contentType, cid, encoding, contentDisposition };
  });
}

/**
 * Decides every field between the typed values and the incoming message (SPEC section 4),
 * and refuses anything that could change the envelope or inject a header.
 */
export function composeMail(typed: TypedFields, msg: Record<string, unknown>, priority: Priority): OutgoingMail {
  // From is required in the node itself; the message may override it only in "consumed" mode.
  if (isEmpty(typed.from)) throw new InputError('no-from');
  const fromList = addresses('from', pick(typed.from, msg.from, priority));
  if (fromList.length !== 1) throw new InputError('bad-address', { field: 'from', reason: 'one-from' });
  const to = addresses('to', pick(typed.to, msg.to, priority));
  const cc = addresses('cc', pick(typed.cc, msg.cc, priority));
  const bcc = addresses('bcc', pick(typed.bcc, msg.bcc, priority));
  if (to.length + cc.length + bcc.length === 0) throw new InputError('no-recipient');
  const consumedSubject = isEmpty(msg.subject) ? msg.topic : msg.subject;
  const subject = headerText('subject', pick(typed.subject, consumedSubject, priority));
  const text = bodyText(pick(typed.text, msg.payload, priority));
  const html = isEmpty(msg.html) ? undefined : bodyText(msg.html);
  const from = fromList[0];
  return {
    from,
    to,
    cc,
    bcc,
    subject,
    text,
    html,
    attachments: attachmentsOf(msg.attachments),
    envelope: { from: from.address, to: [...to, ...cc, ...bcc].map((a) => a.address) },
  };
}
