import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import type { ServerSettings } from '../../src/lib/connection-options';
import { MailError } from '../../src/lib/mail-error';
import { composeMail } from '../../src/lib/smtp/outgoing-mail';
import { SmtpRefusal, SmtpSender } from '../../src/lib/smtp/smtp-sender';
import { validateSend } from '../../src/lib/validate-send';
import { closedPort, lineServer } from '../support/fake-servers';
import type { FakeServer } from '../support/fake-servers';
import { FaultProxy } from '../support/fault-proxy';
import { sendSettings, serverInfo, uniqueUser, waitForMessages } from '../support/servers';
import { startTlsAttack } from '../support/starttls-attack';

const quickRetry = { maxConnections: 2, retryDelaysMs: [20, 40, 80] };
const quickValidate = { timeBoxMs: 8000, stepMs: 1500 };

function mailTo(rcpt: string, extra: Record<string, unknown> = {}) {
  return composeMail({ from: 'Sender <sender@example.test>', to: rcpt, cc: '', bcc: '', subject: 'hello', text: 'body' }, extra, 'consumed');
}

/** A proxy that removes STARTTLS from the server's EHLO reply, as a downgrade attacker would. */
async function strippingProxy(port: number): Promise<FaultProxy> {
  return startTlsAttack(await FaultProxy.start(port), 'smtp', 'strip');
}

describe('SMTP sending through Postfix, read back from Dovecot', () => {
  const senders: SmtpSender[] = [];
  const fakes: FakeServer[] = [];
  const sender = (settings: ServerSettings): SmtpSender => {
    const s = new SmtpSender(settings, quickRetry);
    senders.push(s);
    return s;
  };
  after(async () => {
    for (const s of senders) s.close();
    await Promise.all(fakes.map((f) => f.close()));
  });

  for (const security of ['none', 'starttls', 'tls'] as const) {
    it(`delivers over ${security}`, async () => {
      const rcpt = uniqueUser('smtp');
      const result = await sender(sendSettings(security, 'sender')).send(mailTo(`${rcpt}@example.test`));
      assert.deepEqual(result.accepted, [`${rcpt}@example.test`]);
      assert.match(result.response, /^250 /);
      const [raw] = await waitForMessages(rcpt, 1);
      const parsed = await simpleParser(raw);
      assert.equal(parsed.subject, 'hello');
      assert.equal(parsed.messageId, result.messageId);
    });
  }

  it('From, To, Cc, Bcc without a Bcc header, Japanese subject and body, HTML, an attachment byte for byte', async () => {
    const [to, cc, bcc] = [uniqueUser('to'), uniqueUser('cc'), uniqueUser('bcc')];
    const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256));
    const mail = composeMail(
      { from: '"送信者" <sender@example.test>', to: `${to}@example.test`, cc: `${cc}@example.test`, bcc: `${bcc}@example.test`, subject: '', text: '' },
      { subject: '日本語の件名です', payload: 'こんにちは、世界。', html: '<p>こんにちは</p>', attachments: [{ filename: 'データ.bin', content: binary, contentType: 'application/octet-stream' }] },
      'consumed',
    );
    await sender(sendSettings('starttls', 'sender')).send(mail);
    const [raw] = await waitForMessages(to, 1);
    const parsed = await simpleParser(raw);
    assert.equal(parsed.subject, '日本語の件名です');
    assert.equal(parsed.text?.trim(), 'こんにちは、世界。');
    assert.equal(parsed.html, '<p>こんにちは</p>');
    assert.equal(parsed.from?.value[0].address, 'sender@example.test');
    assert.equal(parsed.from?.value[0].name, '送信者');
    assert.equal(parsed.headers.has('bcc'), false, 'no Bcc header');
    assert.doesNotMatch(raw.toString('latin1'), new RegExp(bcc));
    assert.equal(parsed.attachments[0].filename, 'データ.bin');
    assert.equal(createHash('sha256').update(parsed.attachments[0].content).digest('hex'), createHash('sha256').update(binary).digest('hex'));
    const [ccCopy] = await waitForMessages(cc, 1);
    const [bccCopy] = await waitForMessages(bcc, 1);
    assert.equal((await simpleParser(ccCopy)).subject, '日本語の件名です');
    assert.equal((await simpleParser(bccCopy)).headers.has('bcc'), false);
  });

  it('a refused recipient among several is reported in rejected; the others get it', async () => {
    const ok = uniqueUser('ok');
    const result = await sender(sendSettings('tls', 'sender')).send(mailTo(`${ok}@example.test, rejected@example.test`));
    assert.deepEqual(result.accepted, [`${ok}@example.test`]);
    assert.deepEqual(result.rejected, ['rejected@example.test']);
    await waitForMessages(ok, 1);
  });

  it('5xx is an error at once; 4xx is retried a bounded number of times', async () => {
    const s = sender(sendSettings('tls', 'sender'));
    await assert.rejects(s.send(mailTo('rejected@example.test')), (e: unknown) => e instanceof SmtpRefusal && e.permanent && e.attempts === 1 && e.responseCode >= 500);
    await assert.rejects(s.send(mailTo('tempfail@example.test')), (e: unknown) => e instanceof SmtpRefusal && !e.permanent && e.attempts === 4 && e.responseCode === 451);
  });

  it('a 4xx that clears up on retry is delivered (scripted server)', async () => {
    let mailFromSeen = 0;
    const server = await lineServer('220 fake ESMTP\r\n', (line, socket) => {
      if (/^EHLO/i.test(line)) socket.write('250-fake\r\n250 8BITMIME\r\n');
      else if (/^MAIL FROM/i.test(line)) {
        mailFromSeen += 1;
        socket.write(mailFromSeen === 1 ? '451 4.3.0 busy, try later\r\n' : '250 ok\r\n');
      } else if (/^RCPT TO/i.test(line)) socket.write('250 ok\r\n');
      else if (/^DATA/i.test(line)) socket.write('354 go\r\n');
      else if (line === '.') socket.write('250 queued\r\n');
      else if (/^(RSET|NOOP)/i.test(line)) socket.write('250 ok\r\n');
      else if (/^QUIT/i.test(line)) socket.end('221 bye\r\n');
    });
    fakes.push(server);
    const result = await sender({ host: '127.0.0.1', port: server.port, security: 'none', certificate: '', user: '', password: '' }).send(mailTo('a@example.test'));
    assert.equal(result.response, '250 queued');
    assert.equal(mailFromSeen, 2);
  });

  it('wrong password is an auth failure', async () => {
    await assert.rejects(
      sender(sendSettings('tls', 'sender', { password: 'wrong-password-sentinel' })).send(mailTo('x@example.test')),
      (e: unknown) => e instanceof MailError && e.code === 'auth' && !e.message.includes('wrong-password-sentinel'),
    );
  });

  it('StartTLS stripped by a man in the middle: fails before AUTH, the password never crosses', async () => {
    const proxy = await strippingProxy(serverInfo().ports.submission ?? 0);
    try {
      await assert.rejects(sender(sendSettings('starttls', 'sender', { host: 'localhost', port: proxy.port })).send(mailTo('x@example.test')), (e: unknown) => e instanceof MailError && e.code === 'starttls-unavailable');
      const outcome = await validateSend(sendSettings('starttls', 'sender', { port: proxy.port }), quickValidate);
      assert.equal(outcome.code, 'starttls-unavailable');
      assert.ok(proxy.total >= 2);
      assert.doesNotMatch(proxy.clientText, /AUTH/i);
      assert.ok(!proxy.clientText.includes(serverInfo().password));
      assert.ok(!proxy.clientText.includes(Buffer.from(`\0sender\0${serverInfo().password}`).toString('base64')));
    } finally {
      await proxy.close();
    }
  });

  it('Validate: ok for each security, and the failure codes', async () => {
    for (const security of ['none', 'starttls', 'tls'] as const) {
      const outcome = await validateSend(sendSettings(security, 'sender'), quickValidate);
      assert.equal(outcome.code, 'ok', security);
    }
    assert.equal((await validateSend(sendSettings('tls', 'sender', { password: 'nope' }), quickValidate)).code, 'auth');
    const untrusted = await validateSend(sendSettings('starttls', 'sender', { certificate: '' }), quickValidate);
    assert.equal(untrusted.code, 'tls-untrusted');
    assert.match(untrusted.details.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal((await validateSend(sendSettings('tls', 'sender', { certificate: '' }), quickValidate)).code, 'tls-untrusted');
    assert.equal((await validateSend(sendSettings('none', '', { port: await closedPort() }), quickValidate)).code, 'refused');
    const tlsOnPlain = await validateSend(sendSettings('tls', 'sender', { port: serverInfo().ports.submission }), quickValidate);
    assert.equal(tlsOnPlain.code, 'tls-mode');
  });
});
