import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ReceiveSettings } from '../../src/lib/connection-options';
import { validateReceive } from '../../src/lib/validate-receive';
import type { ValidateOutcome } from '../../src/lib/validate';
import { authority, selfSigned } from '../support/certificates';
import { closedPort, imapWithoutStartTls, pop3WithoutStls, silentServer, tlsServer } from '../support/fake-servers';
import type { FakeServer } from '../support/fake-servers';
import { certificatePem, receiveSettings, serverInfo, uniqueUser } from '../support/servers';

const quick = { timeBoxMs: 8000, stepMs: 1500 };

function validate(settings: ReceiveSettings): Promise<ValidateOutcome> {
  return validateReceive(settings, quick);
}

describe('Validate (receive) against Dovecot and scripted servers', () => {
  const user = uniqueUser('validate');
  const fakes: FakeServer[] = [];
  let realFingerprint: string;

  before(() => {
    realFingerprint = new X509Certificate(certificatePem()).fingerprint256;
  });
  after(async () => {
    await Promise.all(fakes.map((f) => f.close()));
  });

  for (const protocol of ['imap', 'pop3'] as const) {
    for (const security of ['none', 'starttls', 'tls'] as const) {
      it(`ok: ${protocol} over ${security}`, async () => {
        const outcome = await validate(receiveSettings(protocol, security, user));
        assert.equal(outcome.code, 'ok');
        assert.equal(outcome.ok, true);
        if (protocol === 'imap') assert.ok(outcome.folders?.includes('INBOX'));
        else assert.equal(outcome.count, 0);
      });
    }
  }

  it('auth: wrong password, and the reply carries no password', async () => {
    const outcome = await validate(receiveSettings('imap', 'tls', user, { password: 'wrong-password-sentinel' }));
    assert.equal(outcome.code, 'auth');
    assert.doesNotMatch(JSON.stringify(outcome), /wrong-password-sentinel/);
    const pop = await validate(receiveSettings('pop3', 'starttls', user, { password: 'wrong-password-sentinel' }));
    assert.equal(pop.code, 'auth');
  });

  it('refused: nothing listens on the port', async () => {
    const outcome = await validate(receiveSettings('imap', 'none', user, { port: await closedPort() }));
    assert.equal(outcome.code, 'refused');
    assert.equal(outcome.details.host, '127.0.0.1');
  });

  it('timeout: the server accepts and never greets', async () => {
    const silent = await silentServer();
    fakes.push(silent);
    const started = Date.now();
    const outcome = await validate(receiveSettings('pop3', 'none', user, { port: silent.port }));
    assert.equal(outcome.code, 'timeout');
    assert.ok(Date.now() - started < quick.timeBoxMs + 1000, 'within the time box');
  });

  it('tls-untrusted: self-signed certificate not pasted, with subject and fingerprint to paste', async () => {
    for (const protocol of ['imap', 'pop3'] as const) {
      for (const security of ['tls', 'starttls'] as const) {
        const outcome = await validate(receiveSettings(protocol, security, user, { certificate: '' }));
        assert.equal(outcome.code, 'tls-untrusted', `${protocol}/${security}`);
        assert.equal(outcome.details.fingerprint, realFingerprint);
        assert.match(outcome.details.subject, /CN=localhost/);
        assert.equal(new X509Certificate(outcome.certificate?.pem ?? '').fingerprint256, realFingerprint);
      }
    }
  });

  it('a pasted certificate is the only root: another self-signed certificate with the same name is refused', async () => {
    const other = selfSigned('localhost');
    const outcome = await validate(receiveSettings('imap', 'tls', user, { certificate: other.cert }));
    assert.equal(outcome.code, 'tls-untrusted');
  });

  it('an IP address host is accepted when the server presents exactly the pasted certificate', async () => {
    const outcome = await validate(receiveSettings('imap', 'tls', user, { host: '127.0.0.1' }));
    assert.equal(outcome.code, 'ok');
  });

  it('tls-hostname: a certificate signed by the pasted CA but naming another host', async () => {
    const ca = authority();
    const server = await tlsServer(ca.issue('other.test'));
    fakes.push(server);
    const byName = await validate(receiveSettings('imap', 'tls', user, { host: 'localhost', port: server.port, certificate: ca.cert }));
    assert.equal(byName.code, 'tls-hostname');
    assert.match(byName.details.subject, /CN=other\.test/);
    // With an IP host, a certificate the pasted CA signed is not the pasted certificate: refused.
    const byAddress = await validate(receiveSettings('imap', 'tls', user, { host: '127.0.0.1', port: server.port, certificate: ca.cert }));
    assert.equal(byAddress.code, 'tls-hostname');
  });

  it('tls-mode: SSL/TLS on a plain port, and None on a TLS port', async () => {
    const info = serverInfo();
    const tlsOnPlain = await validate(receiveSettings('imap', 'tls', user, { port: info.ports.imap }));
    assert.equal(tlsOnPlain.code, 'tls-mode');
    assert.equal(tlsOnPlain.details.found, 'plain');
    const plainOnTls = await validate(receiveSettings('pop3', 'none', user, { port: info.ports.pop3s }));
    assert.equal(plainOnTls.code, 'tls-mode');
    assert.equal(plainOnTls.details.found, 'tls');
  });

  it('starttls-unavailable: IMAP and POP3 servers that do not offer it get no credentials', async () => {
    const imap = await imapWithoutStartTls();
    const pop3 = await pop3WithoutStls();
    fakes.push(imap, pop3);
    const a = await validate(receiveSettings('imap', 'starttls', user, { host: '127.0.0.1', port: imap.port }));
    assert.equal(a.code, 'starttls-unavailable');
    const b = await validate(receiveSettings('pop3', 'starttls', user, { host: '127.0.0.1', port: pop3.port }));
    assert.equal(b.code, 'starttls-unavailable');
    const password = serverInfo().password;
    for (const line of [...imap.received, ...pop3.received]) {
      assert.doesNotMatch(line, /LOGIN|AUTHENTICATE|^USER|^PASS/i);
      assert.ok(!line.includes(password));
    }
  });

  it('protocol: an IMAP client on a POP3 port', async () => {
    const outcome = await validate(receiveSettings('imap', 'none', user, { port: serverInfo().ports.pop3 }));
    assert.equal(outcome.code, 'protocol');
  });

  it('invalid-config: no host, a bad port, a certificate that is not PEM', async () => {
    assert.deepEqual((await validate(receiveSettings('imap', 'none', user, { host: '' }))).details, { problem: 'host' });
    assert.deepEqual((await validate(receiveSettings('imap', 'none', user, { port: 70000 }))).details, { problem: 'port' });
    const notPem = await validate(receiveSettings('imap', 'tls', user, { certificate: 'hello' }));
    assert.equal(notPem.code, 'invalid-config');
  });
});
