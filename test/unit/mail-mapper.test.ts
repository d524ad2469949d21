import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isParseFailure, parseEmail } from '../../src/lib/mail-mapper';
import type { EmailMessage, Pop3Origin } from '../../src/lib/mail-mapper';

const origin: Pop3Origin = { uidl: 'u1', messageId: undefined, connection: 'conn', key: 'conn/u1' };

/** A message with a text part and a base64 attachment large enough to span many parse pieces. */
function messageWith(attachment: Buffer): Buffer {
  const base64 = attachment.toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from([
    'From: a@example.test',
    'To: b@example.test',
    'Subject: pieces',
    'Message-ID: <pieces@example.test>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Grüße',
    '--b',
    'Content-Type: application/octet-stream; name="data.bin"',
    'Content-Disposition: attachment; filename="data.bin"',
    'Content-Transfer-Encoding: base64',
    '',
    base64,
    '--b--',
    '',
  ].join('\r\n'));
}

function parsed(result: Awaited<ReturnType<typeof parseEmail>>): EmailMessage {
  assert.ok(!isParseFailure(result), isParseFailure(result) ? result.reason : '');
  return result;
}

describe('parseEmail', () => {
  // Base64 makes this about 3.4 MiB: several of parseEmail's 1 MiB pieces.
  const attachment = randomBytes(2.5 * 1024 * 1024);
  const raw = messageWith(attachment);

  it('parses a message larger than one parse piece, leaving the Buffer as it was', async () => {
    const before = Buffer.from(raw);
    const message = parsed(await parseEmail(raw, origin));
    assert.equal(message.topic, 'pieces');
    assert.equal(message.payload.trim(), 'Grüße');
    assert.equal(message.attachments.length, 1);
    assert.deepEqual(message.attachments[0], { filename: 'data.bin', contentType: 'application/octet-stream', size: attachment.length, content: attachment });
    assert.equal(message.email.messageId, '<pieces@example.test>');
    assert.ok(raw.equals(before));
  });

  it('gives the same message from a list of parts of any size, and empties the list', async () => {
    const whole = parsed(await parseEmail(raw, origin));
    // Smaller than a piece (joined), a piece's size exactly, and larger (sliced).
    for (const size of [4096, 100_000, 1024 * 1024, 1536 * 1024]) {
      const parts: Buffer[] = [];
      for (let i = 0; i < raw.length; i += size) parts.push(raw.subarray(i, i + size));
      const message = parsed(await parseEmail(parts, origin));
      assert.deepEqual(message, whole, `parts of ${size}`);
      assert.equal(parts.length, 0, `parts of ${size} left in the list`);
    }
  });

  it('reports what mailparser refuses as a ParseFailure, from parts too', async () => {
    // mailparser refuses more than 1,000 MIME parts.
    const many = Array.from({ length: 1100 }, () => '--b\r\nContent-Type: text/plain\r\n\r\nx\r\n').join('');
    const bad = Buffer.from(`Subject: many\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${many}--b--\r\n`);
    const fromBuffer = await parseEmail(bad, origin);
    assert.ok(isParseFailure(fromBuffer));
    const fromParts = await parseEmail([bad.subarray(0, 5000), bad.subarray(5000)], origin);
    assert.ok(isParseFailure(fromParts));
  });
});
