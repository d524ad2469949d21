import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pop3FramingError, Pop3ResponseReader } from '../../src/lib/pop3/pop3-response-reader';
import type { Pop3Response } from '../../src/lib/pop3/pop3-response-reader';
import { retrResponse } from '../support/pop3-wire';

function feed(reader: Pop3ResponseReader, chunks: Buffer[]): Pop3Response[] {
  return chunks.flatMap((chunk) => reader.push(chunk));
}

function readMultiline(chunks: Buffer[]): Pop3Response[] {
  const reader = new Pop3ResponseReader();
  reader.expect(true);
  return feed(reader, chunks);
}

function allByteValues(): Buffer {
  return Buffer.from(Array.from({ length: 256 }, (_, i) => i));
}

// The hazards all in one message: stuffed lines, a lone-dot line, a line ".\r" that is not the end,
// 8-bit bytes, and an ending right before the terminator.
const HAZARDS = Buffer.concat([
  Buffer.from('Subject: hazards\r\n\r\n.hidden line\r\n..two dots\r\n.\r\nafter lone dot\r\n'),
  allByteValues(),
  Buffer.from('\r\n.\rnot the end\r\n\xe4\xf6\xfc latin-1 bytes\r\n. \r\n..\r\n', 'latin1'),
]);

describe('Pop3ResponseReader', () => {
  it('reads single-line +OK and -ERR replies, case-insensitively', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(false);
    reader.expect(false);
    reader.expect(false);
    const responses = reader.push(Buffer.from('+OK 2 320\r\n-ERR no such message\r\n+ok\r\n'));
    assert.deepEqual(responses, [
      { ok: true, text: '2 320' },
      { ok: false, text: 'no such message' },
      { ok: true, text: '' },
    ]);
    assert.equal(reader.pendingResponses, 0);
  });

  it('returns the body of a multi-line reply without the terminator, CRLFs kept', () => {
    const [response] = readMultiline([Buffer.from('+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n')]);
    assert.equal(response.ok, true);
    assert.equal(response.text, '2 messages');
    assert.deepEqual(response.body, Buffer.from('1 120\r\n2 200\r\n'));
  });

  it('returns an empty body for an empty multi-line reply', () => {
    const [response] = readMultiline([Buffer.from('+OK\r\n.\r\n')]);
    assert.deepEqual(response.body, Buffer.alloc(0));
  });

  it('treats -ERR to a multi-line command as a single line and reads on', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(true);
    reader.expect(true);
    const responses = reader.push(Buffer.from('-ERR no such message\r\n+OK\r\nx\r\n.\r\n'));
    assert.deepEqual(responses, [
      { ok: false, text: 'no such message' },
      { ok: true, text: '', body: Buffer.from('x\r\n') },
    ]);
  });

  it('finds the terminator split at every possible position across two chunks', () => {
    const wire = retrResponse(HAZARDS);
    for (let split = 0; split <= wire.length; split += 1) {
      const responses = readMultiline([wire.subarray(0, split), wire.subarray(split)]);
      assert.equal(responses.length, 1, `split at ${split}`);
      assert.deepEqual(responses[0].body, HAZARDS, `split at ${split}`);
    }
  });

  it('reads a reply fed one byte at a time', () => {
    const wire = retrResponse(HAZARDS);
    const reader = new Pop3ResponseReader();
    reader.expect(true);
    const responses: Pop3Response[] = [];
    for (let i = 0; i < wire.length; i += 1) {
      responses.push(...reader.push(wire.subarray(i, i + 1)));
      // Nothing may come out before the last byte, however much looks like an ending.
      if (i < wire.length - 1) assert.equal(responses.length, 0, `finished early at byte ${i}`);
    }
    assert.equal(responses.length, 1);
    assert.deepEqual(responses[0].body, HAZARDS);
  });

  it('does not stop at a chunk that is only a dot', () => {
    const message = Buffer.from('line one\r\n.\r\n..\r\nend\r\n');
    const wire = retrResponse(message);
    // The stuffed lone-dot line "..\r\n" cut into ".", ".", "\r\n", and the terminator cut the same way.
    const chunks: Buffer[] = [];
    let last = 0;
    for (let i = 0; i < wire.length; i += 1) {
      if (wire[i] === 0x2e) {
        chunks.push(wire.subarray(last, i), wire.subarray(i, i + 1));
        last = i + 1;
      }
    }
    chunks.push(wire.subarray(last));
    assert.ok(chunks.some((chunk) => chunk.equals(Buffer.from('.'))));
    const responses = readMultiline(chunks);
    assert.equal(responses.length, 1);
    assert.deepEqual(responses[0].body, message);
  });

  it('a lone dot chunk right after CRLF is not the end until CRLF follows', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(true);
    assert.deepEqual(reader.push(Buffer.from('+OK\r\nabc\r\n')), []);
    assert.deepEqual(reader.push(Buffer.from('.')), []);
    assert.deepEqual(reader.push(Buffer.from('.x\r\n')), []);
    assert.deepEqual(reader.push(Buffer.from('.')), []);
    assert.deepEqual(reader.push(Buffer.from('\r')), []);
    assert.deepEqual(reader.push(Buffer.from('\n')), [{ ok: true, text: '', body: Buffer.from('abc\r\n.x\r\n') }]);
  });

  it('removes exactly one dot from stuffed lines', () => {
    const [response] = readMultiline([Buffer.from('+OK\r\n..hidden\r\n...three\r\n..\r\n.single\r\nplain . dot\r\n.\r\n')]);
    assert.deepEqual(response.body, Buffer.from('.hidden\r\n..three\r\n.\r\nsingle\r\nplain . dot\r\n'));
  });

  it('keeps a stuffed lone-dot line in the middle of the body', () => {
    const message = Buffer.from('before\r\n.\r\n.\r\nafter\r\n');
    const [response] = readMultiline([retrResponse(message)]);
    assert.deepEqual(response.body, message);
  });

  it('keeps the CR of a ".\\r" line that is not the terminator', () => {
    const [response] = readMultiline([Buffer.from('+OK\r\n.\rX\r\n.\r\r\n.\r\n')]);
    assert.deepEqual(response.body, Buffer.from('\rX\r\n\r\r\n'));
  });

  it('preserves all 256 byte values, also split inside multi-byte sequences', () => {
    const message = Buffer.concat([allByteValues(), Buffer.from('\r\n'), allByteValues().reverse(), Buffer.from('\r\n')]);
    const wire = retrResponse(message);
    for (const size of [1, 2, 3, 7, 64]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < wire.length; i += size) chunks.push(wire.subarray(i, i + size));
      const [response] = readMultiline(chunks);
      assert.deepEqual(response.body, message, `chunks of ${size}`);
    }
  });

  it("hands the body out as the received slices, unjoined, when expected as 'parts'", () => {
    const wire = retrResponse(HAZARDS);
    for (const size of [1, 3, 7, 64, wire.length]) {
      const reader = new Pop3ResponseReader();
      reader.expect('parts');
      const chunks: Buffer[] = [];
      for (let i = 0; i < wire.length; i += size) chunks.push(wire.subarray(i, i + size));
      const [response] = feed(reader, chunks);
      assert.equal(response.body, undefined);
      assert.ok(response.bodyParts, `chunks of ${size}: no parts`);
      assert.deepEqual(Buffer.concat(response.bodyParts), HAZARDS, `chunks of ${size}`);
      // Slices, not copies: a part of the body shares memory with the chunk it came in.
      if (size === 64) assert.ok(response.bodyParts.some((part) => chunks.some((chunk) => part.buffer === chunk.buffer)));
    }
  });

  it('reads several responses of both kinds from one chunk', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(false);
    reader.expect(true);
    reader.expect(false);
    reader.expect(true);
    const chunk = Buffer.concat([
      Buffer.from('+OK ready\r\n'),
      retrResponse(Buffer.from('first\r\n.dot\r\n')),
      Buffer.from('+OK deleted\r\n'),
      Buffer.from('+OK\r\n1 abc\r\n.\r\n'),
    ]);
    assert.deepEqual(reader.push(chunk), [
      { ok: true, text: 'ready' },
      { ok: true, text: 'message follows', body: Buffer.from('first\r\n.dot\r\n') },
      { ok: true, text: 'deleted' },
      { ok: true, text: '', body: Buffer.from('1 abc\r\n') },
    ]);
  });

  it('holds bytes nobody asked for, parses them once expected, and can drop them', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(false);
    assert.deepEqual(reader.push(Buffer.from('+OK begin TLS\r\n+OK injected\r\n')), [{ ok: true, text: 'begin TLS' }]);
    assert.equal(reader.unexpectedBytes, '+OK injected\r\n'.length);
    reader.discardUnexpected();
    assert.equal(reader.unexpectedBytes, 0);
    reader.expect(false);
    assert.deepEqual(reader.push(Buffer.from('-ERR real\r\n')), [{ ok: false, text: 'real' }]);

    reader.push(Buffer.from('+OK early\r\n'));
    reader.expect(false);
    assert.deepEqual(reader.push(Buffer.alloc(0)), [{ ok: true, text: 'early' }]);
  });

  it('reads a status line split across chunks, also between CR and LF', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(false);
    assert.deepEqual(reader.push(Buffer.from('+O')), []);
    assert.deepEqual(reader.push(Buffer.from('K 1 2\r')), []);
    assert.deepEqual(reader.push(Buffer.from('\n')), [{ ok: true, text: '1 2' }]);
  });

  it('rejects a line that is not a POP3 status', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(false);
    assert.throws(() => reader.push(Buffer.from('* OK IMAP4rev1 ready\r\n')), Pop3FramingError);
    const other = new Pop3ResponseReader();
    other.expect(false);
    assert.throws(() => other.push(Buffer.from('+OKAY\r\n')), Pop3FramingError);
  });

  it('rejects a status line that never ends', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(false);
    assert.throws(() => {
      for (let i = 0; i < 100; i += 1) reader.push(Buffer.alloc(1024, 0x41));
    }, Pop3FramingError);
  });

  it('reads 20 MiB in 64 KiB chunks byte for byte', (t) => {
    const line = Buffer.from('.0123456789abcdefghijklmnopqrstuvwxyz\xc4\xd6\xdc\xe4\xf6\xfc ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n', 'latin1');
    const message = Buffer.alloc(20 * 1024 * 1024 - (20 * 1024 * 1024) % line.length);
    for (let at = 0; at < message.length; at += line.length) line.copy(message, at);
    const wire = retrResponse(message);
    const started = process.hrtime.bigint();
    const chunks: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 65536) chunks.push(wire.subarray(i, i + 65536));
    const [response] = readMultiline(chunks);
    t.diagnostic(`20 MiB parsed in ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
    assert.ok(response.body?.equals(message), 'body differs');
  });
});
