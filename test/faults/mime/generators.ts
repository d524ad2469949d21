// fast-check generators of hostile email: header lines (encoded words in many charsets, broken
// base64 and quoted-printable, folding, bare LF), MIME trees (random depth and boundaries,
// missing closing boundaries, nested message/rfc822), raw bytes, and mutations of valid seed
// messages (bit flips, truncation, duplicated/removed lines, huge header lines).
import fc from 'fast-check';

const CRLF = '\r\n';

/** "日本語のメール、テスト件名" in the Japanese charsets, and text in a few others. */
const SAMPLES: Record<string, Buffer> = {
  'ISO-2022-JP': Buffer.from('1b2442467c4b5c386c244e2561213c256b2122254625392548376f4c3e1b2842', 'hex'),
  Shift_JIS: Buffer.from('93fa967b8cea82cc8381815b838b81418365835883678c8f96bc', 'hex'),
  'EUC-JP': Buffer.from('c6fccbdcb8eca4cea5e1a1bca5eba1a2a5c6a5b9a5c8b7efccbe', 'hex'),
  'UTF-8': Buffer.from('日本語のメール、テスト件名 — Grüße 😀', 'utf8'),
  'ISO-8859-1': Buffer.from('Gr\xfc\xdfe aus K\xf6ln', 'latin1'),
  'UTF-16': Buffer.from('\ufeffhello', 'utf16le'),
};

const charset = fc.constantFrom(
  'UTF-8', 'utf-8', 'ISO-2022-JP', 'iso-2022-jp', 'Shift_JIS', 'SJIS', 'x-sjis', 'EUC-JP', 'ISO-8859-1', 'windows-1252',
  'UTF-16', 'UTF-7', 'GB2312', 'Big5', 'KOI8-R', 'x-unknown-charset', '', '"utf-8"', 'utf-8*ja', 'ISO-2022-JP-2', 'CP932',
);

const chars = (set: string): fc.Arbitrary<string> => fc.constantFrom(...set.split(''));
const text = (set: string, maxLength: number): fc.Arbitrary<string> => fc.string({ unit: chars(set), maxLength });

/** Bytes that end up inside an encoded word or a body: real text in some charset, or noise. */
const payloadBytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom(...Object.values(SAMPLES)),
  fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => Buffer.from(s, 'utf8')),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  // A Japanese sample cut anywhere, so escape sequences and double-byte pairs break.
  fc.tuple(fc.constantFrom(SAMPLES['ISO-2022-JP'], SAMPLES.Shift_JIS, SAMPLES['EUC-JP']), fc.nat()).map(([b, n]) => b.subarray(0, n % (b.length + 1))),
);

export function qpEncode(bytes: Buffer, underscoreSpaces = false): string {
  let out = '';
  for (const byte of bytes) {
    if (underscoreSpaces && byte === 0x20) out += '_';
    else if (byte > 0x20 && byte < 0x7f && byte !== 0x3d && byte !== 0x3f && byte !== 0x5f) out += String.fromCharCode(byte);
    else out += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const brokenBase64 = text('ABCDEFGHxyz0189+/=-_*?. \t', 40);
const brokenQp = text('=AZaz09_?.\t =3D=E3=8', 40);

export const encodedWord: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(charset, fc.constantFrom('B', 'b'), fc.oneof(payloadBytes.map((b) => b.toString('base64')), brokenBase64)),
  fc.tuple(charset, fc.constantFrom('Q', 'q'), fc.oneof(payloadBytes.map((b) => qpEncode(b, true)), brokenQp)),
  fc.tuple(charset, fc.constantFrom('X', '', 'BQ'), text('abc=?', 10)),
).map(([cs, enc, data]) => `=?${cs}?${enc}?${data}?=`);

const token = text('abcdefghijklmnopqrstuvwxyzABCXYZ0123456789-_.', 20);
const address: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(token, token).map(([l, d]) => `${l}@${d}.test`),
  fc.tuple(encodedWord, token, token).map(([n, l, d]) => `${n} <${l}@${d}.test>`),
  fc.tuple(token, fc.array(fc.tuple(token, token).map(([l, d]) => `${l}@${d}`), { maxLength: 4 })).map(([g, m]) => `${g}: ${m.join(', ')};`),
  text('<>@",;:()\\ab ', 20),
);

const headerName: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('Subject', 'From', 'To', 'Cc', 'Bcc', 'Reply-To', 'Date', 'Message-ID', 'In-Reply-To', 'References', 'Content-Type', 'Content-Transfer-Encoding', 'Content-Disposition', 'Content-ID', 'MIME-Version', 'Received', 'DKIM-Signature', 'List-Unsubscribe', 'X-Priority', 'Sender') },
  { weight: 1, arbitrary: text('abcXYZ-_:0 \t\u00e9', 24) },
);

const headerValue: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.oneof(encodedWord, token, address, fc.constantFrom(' ', '  ', '\t', '"', '(comment)', ';', '=?', '?=')), { maxLength: 8 }).map((parts) => parts.join(' ')),
  fc.array(address, { maxLength: 5 }).map((a) => a.join(', ')),
  fc.constantFrom('Mon, 31 Feb 2099 25:61:61 +9999', 'yesterday', 'Thu, 01 Jan 1970 00:00:00 GMT', '', '1.0 (garbage)'),
  fc.tuple(fc.constantFrom('text/plain', 'text/html', 'multipart/mixed', 'multipart/alternative', 'message/rfc822', 'application/octet-stream', 'x/y', '/', ''), charset, text('abc"*\'%=;', 20)).map(
    ([t, cs, extra]) => `${t}; charset=${cs}; name*0*=${cs}''%E3%81%82; name*1="${extra}"; boundary="${extra}"`,
  ),
  fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a).toString('latin1')),
);

/** One header line, sometimes folded at random, sometimes missing its colon. */
const headerLine: fc.Arbitrary<string> = fc
  .tuple(headerName, headerValue, fc.constantFrom(': ', ':', ' : ', ''), fc.array(fc.nat(), { maxLength: 3 }), fc.constantFrom('\r\n ', '\r\n\t', '\n ', '\r\n'))
  .map(([name, value, colon, folds, fold]) => {
    let v = value;
    for (const at of folds) {
      const i = v.length === 0 ? 0 : at % v.length;
      v = `${v.slice(0, i)}${fold}${v.slice(i)}`;
    }
    return `${name}${colon}${v}`;
  });

const eol = fc.constantFrom(CRLF, CRLF, CRLF, '\n', '\r');

function base64Lines(bytes: Buffer, width: number): string {
  const b64 = bytes.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
  return lines.join(CRLF);
}

const body: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.tuple(payloadBytes, fc.integer({ min: 1, max: 100 })).map(([b, w]) => base64Lines(b, w)),
  payloadBytes.map((b) => qpEncode(b)),
  brokenBase64,
  brokenQp,
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a).toString('latin1')),
);

/** A message made of random header lines and a random body. */
export const headerMessage: fc.Arbitrary<Buffer> = fc
  .tuple(fc.array(headerLine, { minLength: 0, maxLength: 30 }), eol, body, fc.boolean())
  .map(([lines, end, b, blank]) => Buffer.from(`${lines.join(end)}${blank ? end + end : end}${b}`, 'latin1'));

// ---------------------------------------------------------------------------------------------
// MIME trees

type Leaf = { kind: 'leaf'; type: string; charset: string; cte: string; disposition: string; filename: string; body: Buffer; brokenEncoding: boolean };
type Multi = { kind: 'multi'; subtype: string; boundary: string; quote: boolean; children: MimeNode[]; closed: boolean; preamble: string; epilogue: string };
type Rfc822 = { kind: 'rfc822'; headers: string[]; inner: MimeNode };
export type MimeNode = Leaf | Multi | Rfc822;

const boundary: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('b', 'B', 'bb', 'boundary', '----=_Part_0_1', 'a b', '=?x?=', '--', '', 'b--', '"', '\u00e9t\u00e9'),
  text("abcdefghijXYZ0123456789'()+_,-./:=? ", 70),
);

const tree = fc.letrec<{ node: MimeNode; leaf: Leaf; multi: Multi; rfc822: Rfc822 }>((tie) => ({
  node: fc.oneof({ maxDepth: 5, depthIdentifier: 'mime' }, tie('leaf'), tie('multi'), tie('rfc822')),
  leaf: fc.record({
    kind: fc.constant('leaf' as const),
    type: fc.constantFrom('text/plain', 'text/html', 'text/plain; format=flowed; delsp=yes', 'application/octet-stream', 'image/png', 'text/calendar', 'message/delivery-status', 'application/ms-tnef', 'text/rfc822-headers', 'garbage', ''),
    charset,
    cte: fc.constantFrom('7bit', '8bit', 'base64', 'BASE64', 'quoted-printable', 'binary', 'x-uuencode', 'bogus', ''),
    disposition: fc.constantFrom('', 'inline', 'attachment', 'attachment; filename*=UTF-8\'\'%E6%97%A5%E6%9C%AC.txt', 'attachment; filename="=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=.txt"'),
    filename: fc.oneof(fc.constant(''), encodedWord, token),
    body: fc.oneof(payloadBytes, fc.string({ unit: 'grapheme', maxLength: 120 }).map((s) => Buffer.from(s)), fc.constantFrom(Buffer.from('<html><body><p>hi<br>there</p></body></html>'))),
    brokenEncoding: fc.boolean(),
  }),
  multi: fc.record({
    kind: fc.constant('multi' as const),
    subtype: fc.constantFrom('mixed', 'alternative', 'related', 'digest', 'signed', 'report', 'x-weird', ''),
    boundary,
    quote: fc.boolean(),
    children: fc.array(tie('node'), { maxLength: 5, depthIdentifier: 'mime' }),
    closed: fc.boolean(),
    preamble: fc.oneof(fc.constant(''), text('abc-- \r\n', 40)),
    epilogue: fc.oneof(fc.constant(''), text('abc-- \r\n', 40)),
  }),
  rfc822: fc.record({
    kind: fc.constant('rfc822' as const),
    headers: fc.array(headerLine, { maxLength: 5 }),
    inner: tie('node'),
  }),
}));

function renderLeaf(leaf: Leaf): string {
  const head: string[] = [];
  if (leaf.type) head.push(`Content-Type: ${leaf.type}; charset=${leaf.charset}${leaf.filename ? `; name="${leaf.filename}"` : ''}`);
  if (leaf.cte) head.push(`Content-Transfer-Encoding: ${leaf.cte}`);
  if (leaf.disposition) head.push(`Content-Disposition: ${leaf.disposition}`);
  let content: string;
  const cte = leaf.cte.toLowerCase();
  if (cte === 'base64') content = base64Lines(leaf.body, 76);
  else if (cte === 'quoted-printable') content = qpEncode(leaf.body);
  else if (cte === 'x-uuencode') content = `begin 644 f.bin${CRLF}${leaf.body.toString('base64')}${CRLF}end`;
  else content = leaf.body.toString('latin1');
  if (leaf.brokenEncoding && content.length > 0) content = `${content.slice(0, Math.floor(content.length / 2))}=\r\n=Z*${content.slice(Math.floor(content.length / 2))}`;
  return `${head.join(CRLF)}${CRLF}${CRLF}${content}`;
}

export function renderNode(node: MimeNode): string {
  switch (node.kind) {
    case 'leaf':
      return renderLeaf(node);
    case 'rfc822':
      return `Content-Type: message/rfc822${CRLF}${CRLF}${[...node.headers, 'Subject: inner'].join(CRLF)}${CRLF}${renderNode(node.inner)}`;
    case 'multi': {
      const b = node.quote ? `"${node.boundary}"` : node.boundary;
      let out = `Content-Type: multipart/${node.subtype}; boundary=${b}${CRLF}${CRLF}${node.preamble}`;
      for (const child of node.children) out += `${CRLF}--${node.boundary}${CRLF}${renderNode(child)}`;
      if (node.closed) out += `${CRLF}--${node.boundary}--${CRLF}`;
      return out + node.epilogue;
    }
  }
}

/** A whole message around a random MIME tree. */
export const treeMessage: fc.Arbitrary<Buffer> = fc
  .tuple(tree.node, fc.array(headerLine, { maxLength: 4 }))
  .map(([root, extra]) => Buffer.from(
    ['From: Fuzz <fuzz@example.test>', 'To: rcpt@example.test', 'Subject: tree', 'MIME-Version: 1.0', ...extra].join(CRLF) + CRLF + renderNode(root),
    'latin1',
  ));

// ---------------------------------------------------------------------------------------------
// Raw bytes

export const randomMessage: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 8192 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.array(headerLine, { maxLength: 5 }), fc.uint8Array({ maxLength: 4096 })).map(([h, a]) => Buffer.concat([Buffer.from(h.join(CRLF) + CRLF + CRLF, 'latin1'), Buffer.from(a)])),
  fc.tuple(fc.constantFrom('\r', '\n', '\r\n', ':', ' ', '\0', '=', '-'), fc.integer({ min: 1, max: 50000 })).map(([c, n]) => Buffer.from(c.repeat(n), 'latin1')),
);

// ---------------------------------------------------------------------------------------------
// Mutations of valid seeds

const seedText = (lines: string[]): Buffer => Buffer.from(lines.join(CRLF), 'latin1');

export const SEEDS: Record<string, Buffer> = {
  plain: seedText([
    'From: "Yamada Taro" <yamada@example.test>', 'To: info@example.test, "Two" <two@example.test>', 'Cc: cc@example.test',
    'Subject: Plain seed', 'Date: Tue, 25 Nov 2025 10:00:00 +0900', 'Message-ID: <plain@example.test>', 'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', Buffer.from('Hello — こんにちは\r\nSecond line', 'utf8').toString('latin1'), '',
  ]),
  alternative: seedText([
    'From: a@example.test', 'To: b@example.test', 'Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=', 'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="alt-1"', '', 'preamble', '--alt-1', 'Content-Type: text/plain; charset=iso-8859-1',
    'Content-Transfer-Encoding: quoted-printable', '', 'Gr=FC=DFe aus K=F6ln, a long line that is soft=', ' broken', '--alt-1',
    'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: base64', '', Buffer.from('<p>Grüße <b>aus</b> Köln</p>').toString('base64'), '--alt-1--', '',
  ]),
  attachment: seedText([
    'From: a@example.test', 'To: b@example.test', 'Subject: attachment', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=mix',
    '', '--mix', 'Content-Type: text/plain', '', 'see attached', '--mix', 'Content-Type: image/png; name="x.png"',
    'Content-Disposition: attachment; filename*=UTF-8\'\'%E5%9B%B3.png', 'Content-Transfer-Encoding: base64', '',
    ...base64Lines(Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 37) % 256)), 76).split(CRLF), '--mix--', '',
  ]),
  japanese: seedText([
    'From: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= <jp@example.test>', 'To: b@example.test',
    `Subject: =?ISO-2022-JP?B?${SAMPLES['ISO-2022-JP'].toString('base64')}?= =?Shift_JIS?B?${SAMPLES.Shift_JIS.toString('base64')}?=`,
    'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="jp"', '', '--jp', 'Content-Type: text/plain; charset=ISO-2022-JP',
    'Content-Transfer-Encoding: 7bit', '', SAMPLES['ISO-2022-JP'].toString('latin1'), '--jp', 'Content-Type: text/plain; charset=Shift_JIS',
    'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename="=?Shift_JIS?B?k/qWe4zqLnR4dA==?="', '',
    SAMPLES.Shift_JIS.toString('base64'), '--jp--', '',
  ]),
  nested: seedText([
    'From: a@example.test', 'To: b@example.test', 'Subject: Fwd: nested', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=outer',
    '', '--outer', 'Content-Type: text/plain', '', 'forwarded below', '--outer', 'Content-Type: message/rfc822', '',
    'From: c@example.test', 'Subject: inner', 'Content-Type: multipart/alternative; boundary=inner', '', '--inner',
    'Content-Type: text/plain', '', 'inner text', '--inner', 'Content-Type: text/html', '', '<div>inner <i>html</i></div>', '--inner--',
    '--outer--', '',
  ]),
  htmlOnly: seedText([
    'From: a@example.test', 'To: b@example.test', 'Subject: html only', 'MIME-Version: 1.0', 'Content-Type: text/html; charset=utf-8', '',
    '<html><head><style>p{}</style></head><body><table><tr><td>cell</td></tr></table><p>para &amp; <a href="http://example.test/">link</a></p></body></html>', '',
  ]),
};

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'dupLine'; line: number; times: number }
  | { op: 'delLine'; line: number }
  | { op: 'swapLines'; a: number; b: number }
  | { op: 'hugeHeader'; size: number; fill: string; folded: boolean }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'bareLf' }
  | { op: 'unclose' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('dupLine' as const), line: fc.nat(), times: fc.integer({ min: 1, max: 2000 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delLine' as const), line: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('hugeHeader' as const), size: fc.integer({ min: 1000, max: 2_500_000 }), fill: fc.constantFrom('a', ' ', '=?', '\t', ',', '<a@b>,'), folded: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'bareLf' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'unclose' as const }) },
);

/** Mutations stop growing a message past this: the point is odd input, not running out of memory. */
const MUTATED_MAX = 6 * 1024 * 1024;

export function mutate(seed: Buffer, mutations: Mutation[]): Buffer {
  let raw: Buffer = Buffer.from(seed);
  for (const m of mutations) {
    if (raw.length > MUTATED_MAX) break;
    const lines = (): string[] => raw.toString('latin1').split(CRLF);
    const join = (l: string[]): Buffer => Buffer.from(l.join(CRLF), 'latin1');
    switch (m.op) {
      case 'flip':
        if (raw.length > 0) raw[m.at % raw.length] ^= 1 << m.bit;
        break;
      case 'truncate':
        raw = raw.subarray(0, m.at % (raw.length + 1));
        break;
      case 'dupLine': {
        const l = lines();
        const i = m.line % l.length;
        const times = Math.min(m.times, Math.floor(MUTATED_MAX / (l[i].length + 2)));
        l.splice(i, 0, ...Array<string>(times).fill(l[i]));
        raw = join(l);
        break;
      }
      case 'delLine': {
        const l = lines();
        l.splice(m.line % l.length, 1);
        raw = join(l);
        break;
      }
      case 'swapLines': {
        const l = lines();
        const a = m.a % l.length;
        const b = m.b % l.length;
        [l[a], l[b]] = [l[b], l[a]];
        raw = join(l);
        break;
      }
      case 'hugeHeader': {
        const fill = m.fill.repeat(Math.ceil(m.size / m.fill.length)).slice(0, m.size);
        const value = m.folded ? fill.replace(/(.{900})/g, `$1${CRLF} `) : fill;
        raw = Buffer.concat([Buffer.from(`X-Huge: ${value}${CRLF}`, 'latin1'), raw]);
        break;
      }
      case 'insert': {
        const at = m.at % (raw.length + 1);
        raw = Buffer.concat([raw.subarray(0, at), Buffer.from(m.bytes), raw.subarray(at)]);
        break;
      }
      case 'bareLf':
        raw = Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
        break;
      case 'unclose':
        raw = join(lines().filter((l) => !/^--.*--\s*$/.test(l)));
        break;
    }
  }
  return raw;
}

export const mutatedMessage: fc.Arbitrary<Buffer> = fc
  .tuple(fc.constantFrom(...Object.keys(SEEDS)), fc.array(mutation, { minLength: 1, maxLength: 6 }))
  .map(([name, ms]) => mutate(SEEDS[name], ms));
