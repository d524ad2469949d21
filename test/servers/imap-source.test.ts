import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MailError } from '../../src/lib/mail-error';
import { DEFAULT_SIZE_LIMIT } from '../../src/lib/mail-source';
import type { ReceiveSettings, Security } from '../../src/lib/connection-options';
import { collector, tempStateFile } from '../support/collect';
import { FaultProxy } from '../support/fault-proxy';
import { imapSource } from '../support/mail-sources';
import type { TestSource } from '../support/mail-sources';
import { appendMessages, listMailbox, receiveSettings, simpleMessage, uniqueUser, writeMaildir } from '../support/servers';

function source(settings: ReceiveSettings, stateFile = tempStateFile(), keepAlive = true): TestSource {
  return imapSource({ settings, connectionId: 'conn-1', stateFile, sizeLimit: DEFAULT_SIZE_LIMIT, keepAlive });
}

const subjects = (n: number, prefix = 'm'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(2, '0')}`);

describe('IMAP source against Dovecot', () => {
  for (const security of ['none', 'starttls', 'tls'] as Security[]) {
    it(`polls over ${security}: oldest first, marks read only what it emitted`, async () => {
      const user = uniqueUser('imap');
      await appendMessages(user, subjects(3).map((s) => simpleMessage(s)));
      const src = source(receiveSettings('imap', security, user));
      try {
        const c = collector();
        const result = await src.poll({ folder: '', unseenOnly: true, maxEmails: 2 }, c);
        assert.equal(result.emitted, 2);
        assert.deepEqual(c.emitted.map((m) => m.topic), ['m01', 'm02']);
        const box = await listMailbox(user);
        assert.deepEqual(box.map((m) => [m.subject, m.seen]), [['m01', true], ['m02', true], ['m03', false]]);
        const first = c.emitted[0];
        assert.equal(first.from, '"Sender" <sender@example.test>');
        assert.equal(first.payload.trim(), 'Body of m01');
        assert.equal('uid' in first.email && first.email.folder, 'INBOX');
        assert.match(first.email.key, /^conn-1\/INBOX\/\d+\/1$/);
      } finally {
        await src.close();
      }
    });
  }

  it('the worked example: ten arrive, the oldest five, then the other five, even with newer mail', async () => {
    const user = uniqueUser('worked');
    await appendMessages(user, subjects(10).map((s) => simpleMessage(s)));
    const src = source(receiveSettings('imap', 'none', user));
    try {
      const first = collector();
      await src.poll({ folder: '', unseenOnly: true, maxEmails: 5 }, first);
      assert.deepEqual(first.emitted.map((m) => m.topic), subjects(5));
      await appendMessages(user, [simpleMessage('newer')]);
      const second = collector();
      await src.poll({ folder: '', unseenOnly: true, maxEmails: 5 }, second);
      assert.deepEqual(second.emitted.map((m) => m.topic), subjects(10).slice(5));
      const third = collector();
      await src.poll({ folder: '', unseenOnly: true, maxEmails: 5 }, third);
      assert.deepEqual(third.emitted.map((m) => m.topic), ['newer']);
      const empty = collector();
      assert.deepEqual(await src.poll({ folder: '', unseenOnly: true, maxEmails: 5 }, empty), { emitted: 0, skipped: 0 });
    } finally {
      await src.close();
    }
  });

  it('Unseen Only off: every message once, oldest first, no flag changed, progress kept across instances', async () => {
    const user = uniqueUser('all');
    await appendMessages(user, [simpleMessage('read-before')], { seen: true });
    await appendMessages(user, subjects(3).map((s) => simpleMessage(s)));
    const stateFile = tempStateFile();
    const first = source(receiveSettings('imap', 'none', user), stateFile, false);
    const c1 = collector();
    await first.poll({ folder: 'INBOX', unseenOnly: false, maxEmails: 2 }, c1);
    await first.close();
    assert.deepEqual(c1.emitted.map((m) => m.topic), ['read-before', 'm01']);

    // A new instance with the same state file stands for a redeploy or a Node-RED restart.
    await appendMessages(user, [simpleMessage('later')]);
    const second = source(receiveSettings('imap', 'none', user), stateFile, false);
    const c2 = collector();
    await second.poll({ folder: 'INBOX', unseenOnly: false, maxEmails: -1 }, c2);
    const c3 = collector();
    await second.poll({ folder: 'INBOX', unseenOnly: false, maxEmails: -1 }, c3);
    await second.close();
    assert.deepEqual(c2.emitted.map((m) => m.topic), ['m02', 'm03', 'later']);
    assert.equal(c3.emitted.length, 0);
    const box = await listMailbox(user);
    assert.deepEqual(box.map((m) => m.seen), [true, false, false, false, false], 'flags unchanged');
  });

  it('a folder of 10,000 old messages and 5 new: only the 5 are fetched', async () => {
    const user = uniqueUser('big');
    const filler = Buffer.alloc(2000, 'x').toString();
    writeMaildir(user, Array.from({ length: 10000 }, (_, i) => simpleMessage(`old ${i}`, filler)), { seen: true });
    // Let Dovecot index the 10,000 before the new ones arrive, so UIDs follow arrival order.
    await listMailbox(user).then((box) => assert.equal(box.length, 10000));
    await appendMessages(user, subjects(5, 'new').map((s) => simpleMessage(s)));
    const proxy = await FaultProxy.start(receiveSettings('imap', 'none', user).port);
    const src = source(receiveSettings('imap', 'none', user, { port: proxy.port }));
    try {
      const c = collector();
      await src.poll({ folder: '', unseenOnly: true, maxEmails: -1 }, c);
      assert.deepEqual(c.emitted.map((m) => m.topic), subjects(5, 'new'));
      // 10,000 messages of 2 kB would be 20 MB; five small ones plus the protocol are a few kB.
      assert.ok(proxy.bytesFromServer < 64 * 1024, `read ${proxy.bytesFromServer} bytes`);
      assert.doesNotMatch(proxy.clientText, /FETCH 1:\*|FETCH 1:10000/);
    } finally {
      await src.close();
      await proxy.close();
    }
  });

  it('a missing folder is a "folder" failure that names the folders there are', async () => {
    const user = uniqueUser('nofolder');
    await appendMessages(user, [simpleMessage('x')]);
    const src = source(receiveSettings('imap', 'none', user));
    try {
      await assert.rejects(src.poll({ folder: 'Nope', unseenOnly: true, maxEmails: 5 }, collector()), (err: unknown) => {
        assert.ok(err instanceof MailError);
        assert.equal(err.code, 'folder');
        assert.equal(err.details.folder, 'Nope');
        assert.match(err.details.folders, /INBOX/);
        return true;
      });
      // The node keeps running: the same source polls fine once the folder exists.
      await appendMessages(user, [simpleMessage('in-nope')], { folder: 'Nope', create: true });
      const c = collector();
      await src.poll({ folder: 'Nope', unseenOnly: true, maxEmails: 5 }, c);
      assert.deepEqual(c.emitted.map((m) => m.topic), ['in-nope']);
    } finally {
      await src.close();
    }
  });

  it('decodes an ISO-2022-JP subject and keeps attachments byte for byte', async () => {
    const user = uniqueUser('jp');
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const subject = Buffer.from('=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?='); // テスト
    const raw = Buffer.concat([
      Buffer.from('From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.test>\r\nTo: rcpt@example.test\r\nSubject: '),
      subject,
      Buffer.from('\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'),
      Buffer.from('Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'),
      Buffer.from('\x1b$B$3$s$K$A$O\x1b(B\r\n', 'latin1'), // こんにちは
      Buffer.from('--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="bytes.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'),
      Buffer.from(`${binary.toString('base64')}\r\n`),
      Buffer.from('--b1\r\nContent-Type: text/plain; name="note.txt"\r\nContent-Disposition: attachment; filename="note.txt"\r\n\r\nnote\r\n--b1--\r\n'),
    ]);
    await appendMessages(user, [raw]);
    const src = source(receiveSettings('imap', 'tls', user));
    try {
      const c = collector();
      await src.poll({ folder: '', unseenOnly: true, maxEmails: 5 }, c);
      const m = c.emitted[0];
      assert.equal(m.topic, 'テスト');
      assert.equal(m.payload.trim(), 'こんにちは');
      assert.equal(m.from, '"山田" <yamada@example.test>');
      assert.deepEqual(m.attachments.map((a) => [a.filename, a.contentType, a.size]), [['bytes.bin', 'application/octet-stream', 256], ['note.txt', 'text/plain', 4]]);
      assert.ok(m.attachments[0].content.equals(binary));
      assert.equal(typeof m.headers.subject, 'string');
    } finally {
      await src.close();
    }
  });

  it('a message with more than 1,000 MIME parts is reported once and never fetched again', async () => {
    const user = uniqueUser('poison');
    let parts = '';
    for (let i = 0; i < 1100; i += 1) parts += `--p\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`;
    const poison = Buffer.from(`From: a@example.test\r\nSubject: poison\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n${parts}--p--\r\n`);
    await appendMessages(user, [simpleMessage('good1'), poison, simpleMessage('good2')]);
    const proxy = await FaultProxy.start(receiveSettings('imap', 'none', user).port);
    const src = source(receiveSettings('imap', 'none', user, { port: proxy.port }));
    try {
      const c = collector();
      const result = await src.poll({ folder: '', unseenOnly: true, maxEmails: -1 }, c);
      assert.deepEqual(c.emitted.map((m) => m.topic), ['good1', 'good2']);
      assert.equal(result.skipped, 1);
      assert.equal(c.skipped.length, 1);
      assert.match(c.skipped[0].key, /\/2$/);
      assert.equal(c.skipped[0].reason, 'parse');
      const mark = proxy.clientMark();
      const again = collector();
      await src.poll({ folder: '', unseenOnly: true, maxEmails: -1 }, again);
      assert.equal(again.emitted.length + again.skipped.length, 0);
      assert.doesNotMatch(proxy.clientTextSince(mark), /FETCH/, 'the poison message is not fetched again');
      const box = await listMailbox(user);
      assert.deepEqual(box.map((m) => m.seen), [true, false, true], 'the poison message is left unread');
    } finally {
      await src.close();
      await proxy.close();
    }
  });

  it('wrong password is an "auth" failure', async () => {
    const user = uniqueUser('auth');
    const src = source(receiveSettings('imap', 'none', user, { password: 'not-the-password' }));
    await assert.rejects(src.poll({ folder: '', unseenOnly: true, maxEmails: 5 }, collector()), (err: unknown) => err instanceof MailError && err.code === 'auth');
    await src.close();
  });
});
