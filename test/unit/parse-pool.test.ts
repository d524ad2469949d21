import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { isParseFailure, parseEmail } from '../../src/lib/mail-mapper';
import type { EmailMessage, Pop3Origin } from '../../src/lib/mail-mapper';
import { MailError } from '../../src/lib/mail-error';
import { ParsePool } from '../../src/lib/parse/parse-pool';

const origin = (n: number): Pop3Origin => ({ uidl: `u${n}`, messageId: undefined, connection: 'c', key: `c/u${n}` });

function message(n: number, attachmentBytes = 0): Buffer {
  const attachment = Buffer.alloc(attachmentBytes, n % 251);
  const lines = [
    'From: "Ünïcode Sender" <sender@example.test>',
    'To: a@example.test, "B" <b@example.test>',
    'Cc: c@example.test',
    `Subject: =?UTF-8?Q?M=C3=A9ssage_${n}?=`,
    'Date: Tue, 01 Dec 2026 10:00:00 +0000',
    `Message-ID: <m${n}@example.test>`,
    'X-Custom: one',
    'X-Custom: two',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    `Body ${n} =C3=A9`,
    '--b',
    'Content-Type: text/html; charset=utf-8',
    '',
    `<p>Body ${n}</p>`,
  ];
  if (attachmentBytes > 0) {
    lines.push('--b', 'Content-Type: application/octet-stream; name="data.bin"', 'Content-Disposition: attachment; filename="data.bin"', 'Content-Transfer-Encoding: base64', '', attachment.toString('base64').replace(/.{76}/g, '$&\r\n'));
  }
  lines.push('--b--', '');
  return Buffer.from(lines.join('\r\n'));
}

describe('parsing on a worker thread', () => {
  const pools: ParsePool[] = [];
  after(async () => {
    for (const pool of pools) await pool.close();
  });

  it('gives what parsing here gives: text, addresses, date, headers, attachments as Buffers, the origin back', async () => {
    const pool = new ParsePool(undefined, 2);
    pools.push(pool);
    for (const bytes of [0, 3000, 2 * 1024 * 1024]) {
      const raw = message(7, bytes);
      const expected = (await parseEmail(Buffer.from(raw), origin(7))) as EmailMessage;
      const got = await pool.parse(raw, origin(7));
      assert.ok(!isParseFailure(got));
      assert.deepEqual(got, expected);
      assert.ok(got.date instanceof Date);
      for (const a of got.attachments) assert.ok(Buffer.isBuffer(a.content));
    }
  });

  it('answers in the order asked when many are in flight, small and large mixed', async () => {
    const pool = new ParsePool(undefined, 2);
    pools.push(pool);
    const raws = Array.from({ length: 40 }, (_, i) => message(i, i % 10 === 0 ? 500_000 : 0));
    const results = await Promise.all(raws.map((raw, i) => pool.parse(raw, origin(i))));
    assert.deepEqual(results.map((r) => (isParseFailure(r) ? 'failed' : r.topic)), raws.map((_, i) => `Méssage ${i}`));
    assert.deepEqual(results.map((r) => (isParseFailure(r) ? '' : r.email.key)), raws.map((_, i) => `c/u${i}`));
  });

  it('on one CPU it parses on the calling thread', async () => {
    const pool = new ParsePool(path.join(os.tmpdir(), 'no-such-worker.js'), 1);
    pools.push(pool);
    const got = await pool.parse(message(1), origin(1));
    assert.ok(!isParseFailure(got) && got.topic === 'Méssage 1');
  });

  it('a parser thread that dies fails the emails it held (none emitted, none skipped) and parsing goes on here', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-parse-'));
    const dying = path.join(dir, 'dying-worker.js');
    fs.writeFileSync(dying, "require('node:worker_threads').parentPort.on('message', () => process.exit(3));\n");
    const pool = new ParsePool(dying, 2);
    pools.push(pool);
    await assert.rejects(pool.parse(message(1), origin(1)), (err: unknown) => err instanceof MailError && err.code === 'protocol' && /parser thread stopped/.test(err.message));
    const got = await pool.parse(message(2), origin(2));
    assert.ok(!isParseFailure(got) && got.topic === 'Méssage 2');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
