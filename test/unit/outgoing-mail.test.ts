import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressError, MAX_ADDRESSES, parseAddressList } from '../../src/lib/smtp/addresses';
import { InputError, composeMail } from '../../src/lib/smtp/outgoing-mail';
import type { TypedFields } from '../../src/lib/smtp/outgoing-mail';

const typed: TypedFields = { from: 'node@example.test', to: 'typed-to@example.test', cc: '', bcc: '', subject: 'typed subject', text: 'typed text' };

function refusedWith(reason: string) {
  return (err: unknown): boolean => err instanceof AddressError && err.reason === reason;
}

describe('address lists', () => {
  it('accepts plain, named and quoted-name addresses, text or arrays', () => {
    assert.deepEqual(parseAddressList('a@example.test, "Yamada, Taro" <taro@example.test>,Bob <bob@example.test>'), [
      { name: '', address: 'a@example.test' },
      { name: 'Yamada, Taro', address: 'taro@example.test' },
      { name: 'Bob', address: 'bob@example.test' },
    ]);
    assert.deepEqual(parseAddressList(['x@example.test', { name: '山田', address: 'y@例え.jp' }]), [
      { name: '', address: 'x@example.test' },
      { name: '山田', address: 'y@例え.jp' },
    ]);
    assert.deepEqual(parseAddressList(''), []);
    assert.deepEqual(parseAddressList(undefined), []);
    assert.deepEqual(parseAddressList('a@example.test,'), [{ name: '', address: 'a@example.test' }]);
  });

  const corpus: Array<[string, string]> = [
    ['a@example.test\r\nBcc: evil@example.test', 'control'],
    ['a@example.test\nBcc: evil@example.test', 'control'],
    ['a@example.test\0evil@example.test', 'control'],
    ['"a@evil.test"@example.test', 'quoted'],
    ['Name <"a@evil.test"@example.test>', 'quoted'],
    ['a@example.test (comment)', 'comment'],
    ['a(evil@x.test)@example.test', 'comment'],
    ['group: a@example.test, b@example.test;', 'group'],
    ['undisclosed-recipients:;', 'group'],
    ['@route:a@example.test', 'group'],
    ['a@b@example.test', 'syntax'],
    ['plainword', 'syntax'],
    ['Name <a@example.test', 'syntax'],
    ['"unterminated <a@example.test>', 'syntax'],
    ['a..b@example.test', 'syntax'],
  ];
  for (const [input, reason] of corpus) {
    it(`refuses ${JSON.stringify(input)} (${reason})`, () => {
      assert.throws(() => parseAddressList(input), refusedWith(reason));
    });
  }

  it('refuses 10,000 nested groups quickly and too many addresses', (t) => {
    const nested = `${'g:'.repeat(10000)}a@example.test${';'.repeat(10000)}`;
    const started = process.hrtime.bigint();
    assert.throws(() => parseAddressList(nested), (e: unknown) => e instanceof AddressError);
    t.diagnostic(`10,000 nested groups refused in ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
    const many = Array.from({ length: MAX_ADDRESSES + 1 }, (_, i) => `u${i}@example.test`).join(',');
    assert.throws(() => parseAddressList(many), refusedWith('too-many'));
    assert.throws(() => parseAddressList('a'.repeat(70000)), refusedWith('too-long'));
  });
});

describe('Parameter Priority, field by field', () => {
  const msg = { from: 'msg-from@example.test', to: 'msg-to@example.test', cc: 'msg-cc@example.test', bcc: '', subject: 'msg subject', payload: 'msg text' };

  it('consumed (the default): values on the message win, typed values are defaults', () => {
    const mail = composeMail({ ...typed, bcc: 'typed-bcc@example.test' }, msg, 'consumed');
    assert.equal(mail.from.address, 'msg-from@example.test');
    assert.deepEqual(mail.to.map((a) => a.address), ['msg-to@example.test']);
    assert.deepEqual(mail.cc.map((a) => a.address), ['msg-cc@example.test']);
    assert.deepEqual(mail.bcc.map((a) => a.address), ['typed-bcc@example.test'], 'empty on the message: the typed value');
    assert.equal(mail.subject, 'msg subject');
    assert.equal(mail.text, 'msg text');
  });

  it('input: typed values win, an empty typed value falls back to the message', () => {
    const mail = composeMail(typed, msg, 'input');
    assert.equal(mail.from.address, 'node@example.test');
    assert.deepEqual(mail.to.map((a) => a.address), ['typed-to@example.test']);
    assert.deepEqual(mail.cc.map((a) => a.address), ['msg-cc@example.test'], 'typed cc empty: the message');
    assert.equal(mail.subject, 'typed subject');
    assert.equal(mail.text, 'typed text');
  });

  it('subject falls back to msg.topic; arrays work; the envelope is exactly From and the recipients', () => {
    const mail = composeMail({ ...typed, to: '', subject: '' }, { topic: 'from topic', to: ['a@example.test', 'B <b@example.test>'], bcc: 'hidden@example.test' }, 'consumed');
    assert.equal(mail.subject, 'from topic');
    assert.deepEqual(mail.envelope, { from: 'node@example.test', to: ['a@example.test', 'b@example.test', 'hidden@example.test'] });
  });

  it('refuses bad input before anything is sent', () => {
    const refused = (key: string) => (e: unknown) => e instanceof InputError && e.key === key;
    assert.throws(() => composeMail({ ...typed, from: '' }, { from: 'x@example.test' }, 'consumed'), refused('no-from'));
    assert.throws(() => composeMail({ ...typed, to: '' }, {}, 'consumed'), refused('no-recipient'));
    assert.throws(() => composeMail(typed, { from: 'a@example.test, b@example.test' }, 'consumed'), refused('bad-address'));
    assert.throws(() => composeMail(typed, { from: 'a@example.test\r\nBcc: x@example.test' }, 'consumed'), refused('bad-address'));
    assert.throws(() => composeMail(typed, { subject: 'hi\r\nBcc: x@example.test' }, 'consumed'), refused('bad-header'));
    assert.throws(() => composeMail(typed, { attachments: [{ path: '/etc/passwd' }] }, 'consumed'), refused('bad-attachment'));
    assert.throws(() => composeMail(typed, { attachments: [{ href: 'http://127.0.0.1/' }] }, 'consumed'), refused('bad-attachment'));
    assert.throws(() => composeMail(typed, { attachments: [{ filename: 'a.txt', content: 'x', raw: 'Content-Type: x' }] }, 'consumed'), refused('bad-attachment'));
    assert.throws(() => composeMail(typed, { attachments: [{ filename: 'a\r\n.txt', content: 'x' }] }, 'consumed'), refused('bad-header'));
    assert.throws(() => composeMail(typed, { attachments: 'x' }, 'consumed'), refused('bad-attachment'));
  });

  it('attachments as Receive Email emits them pass through', () => {
    const content = Buffer.from([0, 1, 2, 255]);
    const mail = composeMail(typed, { attachments: [{ filename: 'b.bin', contentType: 'application/octet-stream', size: 4, content }] }, 'consumed');
    assert.deepEqual(mail.attachments[0].content, content);
    assert.equal(mail.attachments[0].filename, 'b.bin');
  });
});
