// The mail the benchmark drains: realistic ~3-5 kB multipart/alternative messages (a
// quoted-printable text part and a small HTML part under the kind of headers real mail carries),
// and one message with a large random attachment. Deterministic (seeded), CRLF line ends, and no
// line starts with "." so a POP3 client that skips dot-unstuffing still sees the same bytes.
import { createHash, randomBytes } from 'node:crypto';

/** mulberry32: a small seeded PRNG, so every run drains the same messages. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the order invoice shipment delivery account meeting agenda report quarterly update please ' +
  'review attached summary customer support ticket request change schedule tomorrow morning ' +
  'afternoon thanks regards project status budget forecast team release notes version server ' +
  'maintenance window reminder confirm payment received pending approval contract renewal ' +
  'café naïve résumé Zürich Grüße straße déjà-vu €20 façade coöperation'
).split(' ');

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Quoted-printable (RFC 2045) of one line of text: "=" and non-ASCII bytes escaped, soft breaks at 76. */
function quotedPrintable(text: string): string {
  const out: string[] = [];
  let line = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const piece = byte === 0x3d || byte > 0x7e ? `=${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
    if (line.length + piece.length > 75) {
      out.push(`${line}=`);
      line = '';
    }
    // A line starting with "." would be dot-stuffed by POP3; escape it so no client has to care.
    line += line === '' && piece === '.' ? '=2E' : piece;
  }
  out.push(line);
  return out.join('\r\n');
}

export interface DrainMessage {
  raw: Buffer;
  subject: string;
  /** Appears in the text part; lets a run check it parsed the body it was meant to. */
  marker: string;
}

export function drainSubject(index: number): string {
  return `Bench ${String(index).padStart(5, '0')}`;
}

export function drainMarker(index: number): string {
  return `bench-id-${index}`;
}

/** Message number `index` of the drain set: between minBytes and maxBytes long. */
export function drainMessage(index: number, minBytes = 3000, maxBytes = 5000): DrainMessage {
  const rnd = prng(index * 7919 + 17);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)];
  const b64 = (n: number): string => Array.from({ length: n }, () => B64[Math.floor(rnd() * B64.length)]).join('');
  const sentence = (): string => {
    const words = Array.from({ length: 6 + Math.floor(rnd() * 10) }, () => pick(WORDS));
    const first = words[0];
    words[0] = first.charAt(0).toUpperCase() + first.slice(1);
    return `${words.join(' ')}.`;
  };
  const target = minBytes + Math.floor(rnd() * (maxBytes - minBytes));
  const subject = `${drainSubject(index)}: ${sentence().slice(0, 40)}`;
  const marker = drainMarker(index);
  const date = new Date(Date.UTC(2025, 0, 1, 8, 0, 0) + index * 60_000).toUTCString().replace('GMT', '+0000');
  const boundary = `=_bench_${b64(16).replace(/[+/]/g, 'x')}`;
  const header = [
    `Return-Path: <newsletter@shop.example.test>`,
    `Delivered-To: rcpt@example.test`,
    `Received: from mx1.shop.example.test (mx1.shop.example.test [192.0.2.${index % 250}])`,
    `\tby mail.example.test with ESMTPS id ${b64(12).replace(/[+/]/g, 'Q')}`,
    `\tfor <rcpt@example.test>; ${date}`,
    `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example.test; s=sel1;`,
    `\th=from:to:subject:date:message-id:mime-version:content-type;`,
    `\tbh=${b64(43)}=;`,
    ...Array.from({ length: 5 }, (_, i) => `\t${i === 0 ? 'b=' : ''}${b64(68)}`),
    `From: "Shop Notifications" <newsletter@shop.example.test>`,
    `To: Recipient <rcpt@example.test>`,
    `Subject: ${subject}`,
    `Date: ${date}`,
    `Message-ID: <${index}.${b64(16).replace(/[+/]/g, 'z')}@shop.example.test>`,
    `List-Unsubscribe: <mailto:unsubscribe@shop.example.test?subject=${index}>`,
    `MIME-Version: 1.0`,
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
  ].join('\r\n');

  // Each paragraph is encoded once, as it is added: the message is rebuilt after every paragraph
  // until it reaches its size, and re-encoding all of them each time made 10,000 messages slow.
  const textParts: string[] = [];
  const htmlParts: string[] = [];
  const addParagraph = (paragraph: string): void => {
    textParts.push(quotedPrintable(paragraph));
    htmlParts.push(quotedPrintable(`<p>${paragraph}</p>`));
  };
  addParagraph(`Hello, this is message ${index} (${marker}).`);
  const build = (): string => {
    const text = textParts.join('\r\n\r\n');
    const html = quotedPrintable('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Update</title></head><body style="font-family:sans-serif">') +
      '\r\n' + htmlParts.join('\r\n') + '\r\n' + quotedPrintable('</body></html>');
    return `${header}\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n` +
      `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${text}\r\n\r\n` +
      `--${boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${html}\r\n\r\n` +
      `--${boundary}--\r\n`;
  };
  let message = build();
  for (let guard = 0; Buffer.byteLength(message) < target && guard < 200; guard += 1) {
    addParagraph(Array.from({ length: 2 + Math.floor(rnd() * 3) }, sentence).join(' '));
    const next = build();
    if (Buffer.byteLength(next) > maxBytes) break;
    message = next;
  }
  return { raw: Buffer.from(message, 'utf8'), subject, marker };
}

export interface AttachmentMessage {
  raw: Buffer;
  subject: string;
  attachment: { filename: string; size: number; sha256: string };
}

/** One message with a text part and `bytes` random bytes attached as base64 (76-column lines). */
export function attachmentMessage(bytes: number): AttachmentMessage {
  const content = randomBytes(bytes);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const filename = 'random.bin';
  const subject = `Bench attachment ${bytes} bytes`;
  const boundary = '=_bench_attachment_boundary';
  const head = Buffer.from([
    'From: "Backup Robot" <backup@example.test>',
    'To: Recipient <rcpt@example.test>',
    `Subject: ${subject}`,
    `Date: ${new Date(Date.UTC(2025, 0, 2, 9, 0, 0)).toUTCString().replace('GMT', '+0000')}`,
    'Message-ID: <attachment.bench@example.test>',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    `The nightly export is attached (${bytes} bytes, sha256 ${sha256}).`,
    '',
    `--${boundary}`,
    `Content-Type: application/octet-stream; name="${filename}"`,
    `Content-Disposition: attachment; filename="${filename}"`,
    'Content-Transfer-Encoding: base64',
    '',
    '',
  ].join('\r\n'));
  const encoded = content.toString('base64');
  const lines: Buffer[] = [];
  for (let i = 0; i < encoded.length; i += 76) lines.push(Buffer.from(`${encoded.slice(i, i + 76)}\r\n`));
  const tail = Buffer.from(`--${boundary}--\r\n`);
  return { raw: Buffer.concat([head, ...lines, tail]), subject, attachment: { filename, size: bytes, sha256 } };
}
