// Guarantee 10: certificate trust. A pasted certificate is the only root for its connection; an IP
// host is accepted only when the server presents exactly the pasted certificate; another
// certificate with the same name, an expired one, and a server that switched to a new key are
// refused, before any credential is sent. And no configuration reaches `rejectUnauthorized: false`
// except the documented display-only probe of Validate.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { ServerSettings, Security } from '../../src/lib/connection-options';
import { transportOptions, SMTP_RUNTIME_TIMEOUTS } from '../../src/lib/smtp/smtp-sender';
import { buildTrustOptions, splitPem } from '../../src/lib/tls-trust';
import { validateReceive } from '../../src/lib/validate-receive';
import { validateSend } from '../../src/lib/validate-send';
import { authority, selfSigned } from '../support/certificates';
import type { KeyPair } from '../support/certificates';
import { certificatePem, repoRoot, serverInfo, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { attempt } from './attempts';
import type { Protocol } from './attempts';
import { credentialTraces, sentinel } from './credentials';
import { expiredSelfSigned } from './expired-certificate';
import { RecordingServer } from './recording-servers';

strictProcess();

const PROTOCOLS: Protocol[] = ['imap', 'pop3', 'smtp'];
const SECURE: Array<'starttls' | 'tls'> = ['starttls', 'tls'];
const HOSTS = ['localhost', '127.0.0.1'];

/** The real server's port for a protocol and security method. */
function realPort(protocol: Protocol, security: Security): number {
  const p = serverInfo().ports as Required<ReturnType<typeof serverInfo>['ports']>;
  if (protocol === 'imap') return security === 'tls' ? p.imaps : p.imap;
  if (protocol === 'pop3') return security === 'tls' ? p.pop3s : p.pop3;
  return security === 'tls' ? p.submissions : security === 'starttls' ? p.submission : p.smtp;
}

function real(protocol: Protocol, security: Security, host: string, certificate: string, user = uniqueUser('trust')): ServerSettings {
  return { host, port: realPort(protocol, security), security, certificate, user, password: serverInfo().password };
}

describe('Certificate trust (guarantee 10)', () => {
  const fakes: RecordingServer[] = [];
  let expired: KeyPair;
  let oldKey: KeyPair;
  let newKey: KeyPair;
  let otherSameName: KeyPair;

  const fake = async (protocol: Protocol, security: 'starttls' | 'tls', pair: KeyPair): Promise<RecordingServer> => {
    const f = await RecordingServer.start(protocol, security === 'tls' ? 'tls' : 'plain', pair);
    fakes.push(f);
    return f;
  };

  before(() => {
    expired = expiredSelfSigned('localhost');
    [oldKey, newKey, otherSameName] = [selfSigned('localhost'), selfSigned('localhost'), selfSigned('localhost')];
    assert.ok(new Date(new X509Certificate(expired.cert).validTo) < new Date(), 'the expired certificate is expired');
  });
  after(async () => {
    await Promise.all(fakes.map((f) => f.close()));
  });

  it('the pasted certificate with its name is accepted: Dovecot and Postfix as "localhost", IMAP/POP3/SMTP over StartTLS and SSL/TLS', async () => {
    for (const protocol of PROTOCOLS) {
      for (const security of SECURE) {
        assert.equal(await attempt(protocol, real(protocol, security, 'localhost', certificatePem())), 'ok', `${protocol}/${security}`);
      }
    }
  });

  it('an IP host with the same pasted certificate is accepted (127.0.0.1, which the certificate does not name)', async () => {
    assert.doesNotMatch(new X509Certificate(certificatePem()).subjectAltName ?? '', /IP Address/, 'the server certificate names no IP');
    for (const protocol of PROTOCOLS) {
      for (const security of SECURE) {
        assert.equal(await attempt(protocol, real(protocol, security, '127.0.0.1', certificatePem())), 'ok', `${protocol}/${security}`);
      }
    }
  });

  it('another self-signed certificate with the same name, pasted, is refused (by name and by IP)', async () => {
    for (const protocol of PROTOCOLS) {
      for (const security of SECURE) {
        for (const host of HOSTS) {
          assert.equal(await attempt(protocol, real(protocol, security, host, otherSameName.cert)), 'tls-untrusted', `${protocol}/${security}/${host}`);
        }
      }
    }
  });

  it('an expired certificate is refused even though it is the pasted one; the server never sees a credential', async () => {
    for (const protocol of PROTOCOLS) {
      for (const security of SECURE) {
        const server = await fake(protocol, security, expired);
        for (const host of HOSTS) {
          const user = uniqueUser('expired');
          const password = sentinel();
          const code = await attempt(protocol, { host, port: server.port, security, certificate: expired.cert, user, password });
          assert.equal(code, 'tls-untrusted', `${protocol}/${security}/${host}`);
          assert.deepEqual(credentialTraces(server.text, user, password), [], `${protocol}/${security}/${host}: ${server.text}`);
        }
      }
    }
  });

  it('the server switched to a new key (same name, new self-signed certificate; the old one pasted): refused; with the old key: accepted', async () => {
    for (const protocol of PROTOCOLS) {
      for (const security of SECURE) {
        for (const host of HOSTS) {
          // Before the switch: the fake server logs the client in, and sees the password (the
          // control that shows this fake would have caught a credential).
          const before = await fake(protocol, security, oldKey);
          const user = uniqueUser('rekey');
          const password = sentinel();
          const settings = { host, security, certificate: oldKey.cert, user, password };
          assert.equal(await attempt(protocol, { ...settings, port: before.port }), 'ok', `old key ${protocol}/${security}/${host}`);
          assert.notDeepEqual(credentialTraces(before.text, user, password), [], 'the control login reached the fake server');
          const switched = await fake(protocol, security, newKey);
          const code = await attempt(protocol, { ...settings, port: switched.port });
          assert.equal(code, 'tls-untrusted', `new key ${protocol}/${security}/${host}`);
          assert.deepEqual(credentialTraces(switched.text, user, password), [], `${protocol}/${security}/${host}: ${switched.text}`);
        }
      }
    }
  });

  it('a pasted CA: a leaf it signed is trusted by name, but an IP host needs exactly the pasted certificate', async () => {
    const ca = authority();
    const leaf = ca.issue('localhost');
    for (const protocol of PROTOCOLS) {
      for (const security of SECURE) {
        const server = await fake(protocol, security, leaf);
        const user = uniqueUser('ca');
        const password = sentinel();
        const settings = { port: server.port, security, certificate: ca.cert, user, password };
        assert.equal(await attempt(protocol, { ...settings, host: 'localhost' }), 'ok', `${protocol}/${security} by name`);
        const seenBefore = server.text.length;
        assert.equal(await attempt(protocol, { ...settings, host: '127.0.0.1' }), 'tls-hostname', `${protocol}/${security} by IP`);
        assert.deepEqual(credentialTraces(server.text.slice(seenBefore), user, password), [], `${protocol}/${security} by IP`);
      }
    }
  });

  it('Validate on an untrusted server: the display-only probe reads the certificate and sends nothing over it', async () => {
    for (const protocol of PROTOCOLS) {
      for (const security of SECURE) {
        const server = await fake(protocol, security, newKey);
        const user = uniqueUser('probe');
        const password = sentinel();
        const settings = { host: 'localhost', port: server.port, security, certificate: oldKey.cert, user, password };
        const quick = { timeBoxMs: 8000, stepMs: 3000 };
        const outcome = protocol === 'smtp' ? await validateSend(settings, quick) : await validateReceive({ ...settings, protocol }, quick);
        assert.equal(outcome.code, 'tls-untrusted', `${protocol}/${security}`);
        assert.equal(outcome.details.fingerprint, new X509Certificate(newKey.cert).fingerprint256, 'the fingerprint of what the server presented');
        assert.ok(server.connections >= 2, 'the attempt and the probe');
        assert.deepEqual(credentialTraces(server.text, user, password), [], `${protocol}/${security}: ${server.text}`);
        assert.ok(!JSON.stringify(outcome).includes(password));
        if (security === 'tls') assert.equal(server.text, '', 'not one byte of application data over implicit TLS');
      }
    }
  });

  it('no configuration reaches rejectUnauthorized: false: protocol x security x certificate x host, at tls.connect and in the imapflow options', async () => {
    type Recorded = { options: tls.ConnectionOptions; stack: string };
    const handshakes: Recorded[] = [];
    const imapOptions: Array<Record<string, unknown>> = [];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tlsModule = require('node:tls') as typeof tls;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const imapflowModule = require('imapflow') as { ImapFlow: new (options: Record<string, unknown>) => object };
    const originalConnect = tlsModule.connect;
    const OriginalImapFlow = imapflowModule.ImapFlow;
    tlsModule.connect = function spy(this: unknown, ...args: unknown[]) {
      const options = args.find((a) => typeof a === 'object' && a !== null) as tls.ConnectionOptions | undefined;
      handshakes.push({ options: { ...(options ?? {}) }, stack: new Error().stack ?? '' });
      return (originalConnect as (...a: unknown[]) => tls.TLSSocket).apply(this, args);
    } as typeof tls.connect;
    imapflowModule.ImapFlow = class extends (OriginalImapFlow as new (options: Record<string, unknown>) => object) {
      constructor(options: Record<string, unknown>) {
        imapOptions.push(options);
        super(options);
      }
    };
    const outcomes: string[] = [];
    try {
      for (const protocol of PROTOCOLS) {
        for (const security of ['none', 'starttls', 'tls'] as const) {
          for (const certificate of ['', certificatePem()]) {
            for (const host of HOSTS) {
              const label = `${protocol}/${security}/${certificate ? 'pasted' : 'empty'}/${host}`;
              const before = handshakes.length;
              const code = await attempt(protocol, real(protocol, security, host, certificate, security === 'none' && protocol === 'smtp' ? '' : uniqueUser('matrix')));
              outcomes.push(`${label}: ${code}`);
              const made = handshakes.slice(before);
              if (security === 'none') {
                assert.equal(made.length, 0, `${label}: plain stays plain, no TLS at all`);
                assert.equal(code, 'ok', label);
              } else {
                assert.ok(made.length >= 1, `${label}: a TLS handshake was made`);
                // Verification really happened: the self-signed server is trusted only when pasted.
                assert.equal(code, certificate ? 'ok' : 'tls-untrusted', label);
              }
              for (const h of made) {
                // Spelled out, so NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment cannot turn it off either.
                assert.equal(h.options.rejectUnauthorized, true, `${label}: rejectUnauthorized at tls.connect`);
                assert.equal(typeof h.options.checkServerIdentity, 'function', `${label}: our identity check is in place`);
                if (certificate) assert.deepEqual(h.options.ca, splitPem(certificate), `${label}: the pasted certificate is the only root`);
                else assert.equal(h.options.ca, undefined, `${label}: the system store`);
              }
            }
          }
        }
      }
    } finally {
      tlsModule.connect = originalConnect;
      imapflowModule.ImapFlow = OriginalImapFlow;
    }
    assert.equal(imapOptions.length, 12, 'every IMAP attempt went through the recorded constructor');
    for (const options of imapOptions) {
      assert.notEqual(options.rejectUnauthorized, false);
      const t = options.tls as Record<string, unknown>;
      assert.ok(t && t.rejectUnauthorized !== false, `imapflow tls options: ${JSON.stringify(t?.rejectUnauthorized)}`);
    }
    // none, starttls, tls: four each (two certificates x two hosts); StartTLS required, never opportunistic.
    assert.deepEqual(imapOptions.map((o) => `${o.secure}/${o.doSTARTTLS}`), [...Array(4).fill('false/false'), ...Array(4).fill('false/true'), ...Array(4).fill('true/false')]);
  });

  it('NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment does not turn verification off', async () => {
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    // Node warns once when the variable is set; the warning is not what is under test.
    const warnings = process.listeners('warning');
    process.removeAllListeners('warning');
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      for (const protocol of PROTOCOLS) {
        for (const security of SECURE) {
          for (const host of HOSTS) {
            assert.equal(await attempt(protocol, real(protocol, security, host, '')), 'tls-untrusted', `${protocol}/${security}/${host}: the system store does not trust the test server`);
            assert.equal(await attempt(protocol, real(protocol, security, host, otherSameName.cert)), 'tls-untrusted', `${protocol}/${security}/${host}: another certificate pasted`);
          }
        }
      }
    } finally {
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
      for (const listener of warnings) process.on('warning', listener);
    }
  });

  it('the option builders never carry rejectUnauthorized: false: buildTrustOptions and transportOptions for every combination', () => {
    for (const security of ['none', 'starttls', 'tls'] as const) {
      for (const certificate of ['', certificatePem()]) {
        for (const host of [...HOSTS, 'mail.example.test', '[::1]', '::1']) {
          const trust = buildTrustOptions(host, certificate);
          assert.notEqual((trust as { rejectUnauthorized?: unknown }).rejectUnauthorized, false, `buildTrustOptions(${host})`);
          assert.equal(typeof trust.checkServerIdentity, 'function');
          const options = transportOptions({ host, port: 587, security, certificate, user: 'u', password: 'p' }, SMTP_RUNTIME_TIMEOUTS) as Record<string, unknown>;
          assert.notEqual(options.rejectUnauthorized, false, 'transportOptions top level');
          assert.notEqual((options.tls as { rejectUnauthorized?: unknown }).rejectUnauthorized, false, 'transportOptions.tls');
          assert.equal(options.requireTLS, security === 'starttls');
          assert.equal(options.ignoreTLS, security === 'none');
          assert.equal(options.secure, security === 'tls');
        }
      }
    }
  });

  it('static: the only rejectUnauthorized: false in src/ is the display-only probe, and only Validate imports the probe', () => {
    const srcDir = path.join(repoRoot, 'src');
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (/\.(ts|js|html)$/.test(entry.name)) files.push(full);
      }
    };
    walk(srcDir);
    const rel = (f: string): string => path.relative(repoRoot, f).split(path.sep).join('/');
    const falses: string[] = [];
    const others: string[] = [];
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      text.split('\n').forEach((line, i) => {
        if (/rejectUnauthorized/.test(line)) (/rejectUnauthorized['"]?\s*[:=]\s*(false|0|!1|!true)\b/.test(line) ? falses : others).push(`${rel(file)}:${i + 1}: ${line.trim()}`);
      });
      assert.doesNotMatch(text, /process\.env(\.|\[['"`])NODE_TLS_REJECT_UNAUTHORIZED/, `${rel(file)} touches NODE_TLS_REJECT_UNAUTHORIZED`);
      assert.doesNotMatch(text, /checkServerIdentity\s*[:=]\s*\(\)\s*=>/, `${rel(file)}: an identity check that checks nothing`);
    }
    assert.equal(falses.length, 1, falses.join('\n'));
    assert.match(falses[0], /^src\/lib\/certificate-probe\.ts:\d+: rejectUnauthorized: false, \/\/ look only/);
    for (const line of others) assert.match(line, /rejectUnauthorized: true/, line);

    // Who imports the probe (value imports; `import type` is erased), directly and transitively.
    const imports = new Map<string, string[]>();
    for (const file of files.filter((f) => f.endsWith('.ts'))) {
      const text = fs.readFileSync(file, 'utf8');
      const targets = [...text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+'(\.[^']+)'/gm), ...text.matchAll(/require\('(\.[^']+)'\)/g)].map((m) => rel(path.resolve(path.dirname(file), `${m[1]}.ts`)));
      imports.set(rel(file), targets);
    }
    const probe = 'src/lib/certificate-probe.ts';
    const direct = [...imports].filter(([, targets]) => targets.includes(probe)).map(([f]) => f);
    assert.deepEqual(direct, ['src/lib/validate.ts'], 'only the Validate core imports the probe');
    const validateCode = new Set(['src/lib/validate.ts', 'src/lib/validate-receive.ts', 'src/lib/validate-send.ts', 'src/nodes/receive-connection.ts', 'src/nodes/send-connection.ts']);
    const reaches = (from: string, seen = new Set<string>()): boolean => {
      if (from === probe) return true;
      if (seen.has(from)) return false;
      seen.add(from);
      return (imports.get(from) ?? []).some((t) => reaches(t, seen));
    };
    const reaching = [...imports.keys()].filter((f) => f !== probe && reaches(f)).sort();
    for (const f of reaching) assert.ok(validateCode.has(f), `${f} reaches the probe`);
    for (const runtime of ['src/lib/imap/imap-source.ts', 'src/lib/pop3/pop3-source.ts', 'src/lib/smtp/smtp-sender.ts', 'src/nodes/receive-email.ts', 'src/nodes/send-email.ts']) {
      assert.ok(!reaches(runtime), `${runtime} must not reach the probe`);
    }
    // Within validate.ts the probe runs only in diagnose(), after the real attempt failed.
    const validateText = fs.readFileSync(path.join(srcDir, 'lib', 'validate.ts'), 'utf8');
    const calls = [...validateText.matchAll(/\b(probeCertificate|speaksTls)\(/g)].length;
    const diagnose = /export async function diagnose[\s\S]*?\n}\n/.exec(validateText)?.[0] ?? '';
    assert.equal([...diagnose.matchAll(/\b(probeCertificate|speaksTls)\(/g)].length, calls, 'every probe call is inside diagnose()');
  });
});
