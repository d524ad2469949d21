import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type tls from 'node:tls';
import { describe, it } from 'node:test';
import { defaultPort, findSettingsProblem, toReceiveSettings } from '../../src/lib/connection-options';
import { toMilliseconds } from '../../src/lib/duration';
import { MailError, classifyError } from '../../src/lib/mail-error';
import { Poller } from '../../src/lib/poller';
import { FileProgressStore } from '../../src/lib/progress-store';
import { buildTrustOptions, splitPem } from '../../src/lib/tls-trust';
import { selfSigned } from '../support/certificates';
import { tempStateFile } from '../support/collect';
import { sleep } from '../support/wait';

function peer(pem: string): tls.PeerCertificate {
  const x = new X509Certificate(pem);
  // Only the fields tls.checkServerIdentity and our pin check read.
  return { subject: { CN: x.subject.replace(/^CN=/, '') }, subjectaltname: x.subjectAltName, fingerprint256: x.fingerprint256 } as unknown as tls.PeerCertificate;
}

describe('connection options', () => {
  it('default ports follow protocol and security', () => {
    assert.deepEqual([defaultPort('imap', 'none'), defaultPort('imap', 'starttls'), defaultPort('imap', 'tls')], [143, 143, 993]);
    assert.deepEqual([defaultPort('pop3', 'none'), defaultPort('pop3', 'starttls'), defaultPort('pop3', 'tls')], [110, 110, 995]);
    assert.deepEqual([defaultPort('smtp', 'none'), defaultPort('smtp', 'starttls'), defaultPort('smtp', 'tls')], [25, 587, 465]);
  });
  it('typed settings from loose editor JSON', () => {
    const s = toReceiveSettings({ protocol: 'pop3', host: ' mail.example.test ', port: '', security: 'tls' }, { user: 'u', password: 'p' });
    assert.equal(s.host, 'mail.example.test');
    assert.equal(s.port, 995);
    assert.equal(findSettingsProblem(s), null);
    assert.equal(findSettingsProblem({ ...s, host: '' }), 'host');
    assert.equal(findSettingsProblem({ ...s, port: 0 }), 'port');
    assert.equal(findSettingsProblem({ ...s, certificate: 'junk' }), 'certificate');
    assert.equal(findSettingsProblem({ ...s, user: '' }), 'user');
    assert.equal(toReceiveSettings({ protocol: 'imap', host: 'h', security: 'starttls' }, {}).port, 143, 'missing port: default');
    assert.equal(findSettingsProblem(toReceiveSettings({ protocol: 'imap', host: 'h', port: 0 }, {})), 'port', 'a wrong port is reported, not replaced');
  });
  it('with an OAuth2 token source no password is needed, but a user is', () => {
    const tokens = { accessToken: () => Promise.resolve('t'), refused: () => true };
    const s = toReceiveSettings({ protocol: 'imap', host: 'h', security: 'tls' }, { user: 'u' });
    assert.equal(findSettingsProblem({ ...s, tokens }), null);
    assert.equal(findSettingsProblem({ ...s, user: '', tokens }), 'user');
  });
});

describe('TLS trust', () => {
  const own = selfSigned('mail.example.test');
  const other = selfSigned('mail.example.test');

  it('a pasted certificate is the only root, and verification stays on', () => {
    const options = buildTrustOptions('mail.example.test', `comment\n${own.cert}`);
    assert.deepEqual(options.ca, splitPem(own.cert));
    assert.equal(options.servername, 'mail.example.test');
    assert.equal(options.rejectUnauthorized, true, 'explicit, so the environment cannot switch it off');
    assert.equal(buildTrustOptions('mail.example.test', '').ca, undefined, 'no paste: the system roots');
  });

  it('an IP host accepts the exact pasted certificate only', () => {
    const options = buildTrustOptions('127.0.0.1', own.cert);
    assert.equal(options.servername, undefined, 'no SNI for an address');
    assert.equal(options.checkServerIdentity('127.0.0.1', peer(own.cert)), undefined);
    assert.ok(options.checkServerIdentity('127.0.0.1', peer(other.cert)) instanceof Error);
  });

  it('a host name must match the certificate even when pinned', () => {
    const options = buildTrustOptions('other.example.test', own.cert);
    assert.ok(options.checkServerIdentity('other.example.test', peer(own.cert)) instanceof Error);
    assert.equal(buildTrustOptions('mail.example.test', own.cert).checkServerIdentity('mail.example.test', peer(own.cert)), undefined);
  });

  it('text that is not a certificate is a configuration error', () => {
    assert.throws(() => buildTrustOptions('h', 'not pem'), (e: unknown) => e instanceof MailError && e.code === 'invalid-config');
    assert.throws(() => buildTrustOptions('h', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'), (e: unknown) => e instanceof MailError && e.code === 'invalid-config');
  });
});

describe('failure classification', () => {
  const cases: Array<[unknown, string]> = [
    [Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }), 'dns'],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'refused'],
    [Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), 'timeout'],
    [Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'tls-untrusted'],
    [Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' }), 'tls-untrusted'],
    [Object.assign(new Error("Hostname/IP does not match certificate's altnames"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'tls-hostname'],
    [Object.assign(new Error('SSL routines:ssl3_get_record:wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }), 'tls-mode'],
    [Object.assign(new Error('Server does not support STARTTLS'), { tlsFailed: true }), 'starttls-unavailable'],
    [Object.assign(new Error('Command failed'), { authenticationFailed: true }), 'auth'],
    [new Error('wrapped', { cause: Object.assign(new Error('inner'), { code: 'ECONNREFUSED' }) }), 'refused'],
    [new Error('something else'), 'protocol'],
    ['a string', 'protocol'],
  ];
  for (const [err, code] of cases) {
    it(`${code} from ${err instanceof Error ? err.message : String(err)}`, () => {
      assert.equal(classifyError(err).code, code);
    });
  }
});

describe('delay', () => {
  it('converts units and falls back to 5 s on nonsense', () => {
    assert.equal(toMilliseconds(5, 's'), 5000);
    assert.equal(toMilliseconds('250', 'ms'), 250);
    assert.equal(toMilliseconds(2, 'min'), 120000);
    assert.equal(toMilliseconds(1, 'h'), 3600000);
    assert.equal(toMilliseconds(0, 's'), 5000);
    assert.equal(toMilliseconds('x', 's'), 5000);
    assert.equal(toMilliseconds(1, 'ms'), 100, 'floor against hammering the server');
  });
});

describe('poller', () => {
  it('never overlaps polls, and backs off after failures up to the cap', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const waits: number[] = [];
    const poller = new Poller({
      intervalMs: 10,
      minBackoffMs: 20,
      maxBackoffMs: 50,
      run: async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        runs += 1;
        await sleep(30);
        running -= 1;
        if (runs >= 3 && runs <= 5) throw new Error('down');
      },
      onFailure: (_err, wait) => waits.push(wait),
    });
    poller.start();
    while (runs < 7) await sleep(10);
    await poller.stop(1000);
    assert.equal(maxRunning, 1);
    assert.deepEqual(waits, [20, 40, 50]);
    const after = runs;
    await sleep(100);
    assert.equal(runs, after, 'nothing runs after stop');
  });
});

describe('progress store (file)', () => {
  it('survives a new instance, writes atomically, and forgets on remove', () => {
    const file = tempStateFile();
    const a = new FileProgressStore(file);
    a.set('imap://u@h:1/INBOX', { uidValidity: '7', lastUid: 42, skipped: [3] });
    a.set('pop3://u@h:2', { emitted: ['x', 'y'], skipped: [] });
    const b = new FileProgressStore(file);
    assert.deepEqual(b.folder('imap://u@h:1/INBOX'), { uidValidity: '7', lastUid: 42, skipped: [3] });
    assert.deepEqual(b.maildrop('pop3://u@h:2')?.emitted, ['x', 'y']);
    assert.equal(b.folder('pop3://u@h:2'), undefined);
    b.remove();
    assert.equal(fs.existsSync(file), false);
  });
  it('a corrupt file is set aside, not trusted and not lost', () => {
    const file = tempStateFile();
    fs.writeFileSync(file, '{not json');
    const store = new FileProgressStore(file);
    assert.equal(store.folder('x'), undefined);
    const kept = fs.readdirSync(path.dirname(file)).filter((f) => f.includes('corrupt'));
    assert.equal(kept.length, 1);
  });
});
