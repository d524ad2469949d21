// The POP3 reader's handling of the `+ ` continuations an AUTH exchange brings (RFC 5034).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Pop3FramingError, Pop3ResponseReader } from '../../src/lib/pop3/pop3-response-reader';

describe('POP3 reader and SASL continuations', () => {
  it('reads "+ " and "+ <base64>" as challenges only when an AUTH step expects them', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(false, true);
    reader.expect(false, true);
    reader.expect(false, true);
    assert.deepEqual(reader.push(Buffer.from('+ \r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\n-ERR [AUTH] no\r\n')), [
      { ok: false, text: '', challenge: '' },
      { ok: false, text: '', challenge: 'eyJzdGF0dXMiOiI0MDEifQ==' },
      { ok: false, text: '[AUTH] no' },
    ]);
    reader.expect(false, true);
    assert.deepEqual(reader.push(Buffer.from('+OK logged in\r\n')), [{ ok: true, text: 'logged in' }]);
  });

  it('a "+ " line for any other command is still a framing error', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(false);
    assert.throws(() => reader.push(Buffer.from('+ \r\n')), Pop3FramingError);
  });
});
