/**
 * A deliberately small address grammar: `local@domain` or `Display Name <local@domain>`, in a
 * comma-separated list. Anything cleverer that RFC 5322 allows (groups, comments, quoted local
 * parts, routes) is refused, because each of those is a way for crafted text to smuggle in a
 * recipient or change how the next parser splits the list. Linear time, whatever the input.
 */
export interface Address {
  name: string;
  address: string;
}

export type AddressProblem = 'control' | 'syntax' | 'group' | 'comment' | 'quoted' | 'too-many' | 'too-long';

export class AddressError extends Error {
  constructor(readonly reason: AddressProblem) {
    super(`invalid address list: ${reason}`);
    this.name = 'AddressError';
  }
}

export const MAX_ADDRESSES = 500;
const MAX_LIST_LENGTH = 64 * 1024;

// Local part: dot-atom (RFC 5322) plus UTF-8 (RFC 6531). Domain: labels of letters (any script),
// digits and hyphens, or an IPv4 address literal.
// Non-ASCII is any character except Unicode white space (U+00A0, U+1680, U+2000-U+200A, U+2028,
// U+2029, U+202F, U+205F, U+3000, U+FEFF: what JS `\s` matches beyond ASCII) and the C1 controls:
// nodemailer's address parser splits on white space, so "a\u2028b@example.test" would be validated
// here and sent to b@example.test.
const UTF8 = '\\u00A1-\\u167F\\u1681-\\u1FFF\\u200B-\\u2027\\u202A-\\u202E\\u2030-\\u205E\\u2060-\\u2FFF\\u3001-\\uFEFE\\uFF00-\\uFFFF';
const LOCAL = `[A-Za-z0-9!#$%&'*+/=?^_\`{|}~\\-${UTF8}]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_\`{|}~\\-${UTF8}]+)*`;
const LABEL = `[A-Za-z0-9${UTF8}](?:[A-Za-z0-9\\-${UTF8}]{0,61}[A-Za-z0-9${UTF8}])?`;
const DOMAIN = `(?:${LABEL}(?:\\.${LABEL})*|\\[\\d{1,3}(?:\\.\\d{1,3}){3}\\])`;
const ADDR_SPEC = new RegExp(`^${LOCAL}@${DOMAIN}$`);
// A display name without quotes: no specials that would start another construct.
const PLAIN_PHRASE = /^[^"<>()[\]@,;:\\]*$/;

/** Splits on commas that are outside quotes and angle brackets. */
function splitList(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i += 1;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '<') angle = true;
    else if (c === '>') angle = false;
    else if (c === ',' && !angle) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) throw new AddressError('syntax');
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

function unquote(phrase: string): string {
  if (!phrase.startsWith('"')) {
    if (!PLAIN_PHRASE.test(phrase)) throw new AddressError(phrase.includes('(') ? 'comment' : 'syntax');
    return phrase.trim();
  }
  if (!phrase.endsWith('"') || phrase.length < 2) throw new AddressError('syntax');
  const inner = phrase.slice(1, -1);
  let out = '';
  for (let i = 0; i < inner.length; i += 1) {
    if (inner[i] === '\\') {
      i += 1;
      out += inner[i] ?? '';
    } else if (inner[i] === '"') {
      throw new AddressError('syntax');
    } else out += inner[i];
  }
  return out;
}

function parseOne(part: string): Address {
  const open = part.lastIndexOf('<');
  if (open === -1) {
    if (part.startsWith('"')) throw new AddressError('quoted');
    if (/[()]/.test(part)) throw new AddressError('comment');
    if (/[:;]/.test(part)) throw new AddressError('group');
    if (!ADDR_SPEC.test(part)) throw new AddressError('syntax');
    return { name: '', address: part };
  }
  if (!part.endsWith('>')) throw new AddressError('syntax');
  const address = part.slice(open + 1, -1).trim();
  const phrase = part.slice(0, open).trim();
  if (address.startsWith('"')) throw new AddressError('quoted');
  if (/[()]/.test(address)) throw new AddressError('comment');
  if (!ADDR_SPEC.test(address)) throw new AddressError(/[:;]/.test(address) ? 'group' : 'syntax');
  if (!phrase.startsWith('"') && /[:;]/.test(phrase)) throw new AddressError('group');
  return { name: unquote(phrase), address };
}

/**
 * Parses what a user or a flow gave as a list of addresses: text with commas, or an array of
 * such texts (or of `{ name, address }` objects, as mailparser produces them).
 */
export function parseAddressList(input: unknown): Address[] {
  if (input === undefined || input === null || input === '') return [];
  const items = Array.isArray(input) ? input : [input];
  const out: Address[] = [];
  let total = 0;
  for (const item of items) {
    let text: string;
    const isObject = typeof item === 'object' && item !== null && 'address' in item;
    if (isObject) {
      const { name, address } = item as { name?: unknown; address?: unknown };
      text = name ? `"${String(name).replace(/(["\\])/g, '\\$1')}" <${String(address)}>` : String(address);
    } else {
      text = String(item);
    }
    total += text.length;
    if (total > MAX_LIST_LENGTH) throw new AddressError('too-long');
    // CR, LF, NUL; the C1 controls (U+0085 NEL is a line break to some parsers); lone surrogates,
    // which would reach the wire as U+FFFD, another address than the one validated.
    if (/[\r\n\0\u0080-\u009F]/.test(text) || /\p{Cs}/u.test(text)) throw new AddressError('control');
    const parts = splitList(text);
    // One { name, address } object is one address: its address field cannot smuggle in a list.
    if (isObject && parts.length > 1) throw new AddressError('syntax');
    for (const part of parts) {
      out.push(parseOne(part));
      if (out.length > MAX_ADDRESSES) throw new AddressError('too-many');
    }
  }
  return out;
}
