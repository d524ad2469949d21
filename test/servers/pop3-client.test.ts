// The POP3 client against the private Dovecot: the three security modes, login failure, messages
// with 8-bit bytes and dot lines, a 20 MiB message, and what DELE does with and without QUIT.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import type { Security } from '../../src/lib/connection-options';
import { MailError, classifyError } from '../../src/lib/mail-error';
import { Pop3Client } from '../../src/lib/pop3/pop3-client';
import type { Pop3Options } from '../../src/lib/pop3/pop3-client';
import { buildTrustOptions } from '../../src/lib/tls-trust';
import { appendMessages, certificatePem, serverInfo, simpleMessage, uniqueUser } from '../support/servers';

function pop3Options(user: string, security: Security, overrides: Partial<Pop3Options> = {}): Pop3Options {
  const info = serverInfo();
  const host = overrides.host ?? (security === 'none' ? '127.0.0.1' : 'localhost');
  return {
    host,
    port: security === 'tls' ? info.ports.pop3s : info.ports.pop3,
    security,
    trust: buildTrustOptions(host, security === 'none' ? '' : certificatePem()),
    user,
    password: info.password,
    connectTimeoutMs: 5000,
    commandTimeoutMs: 10000,
    ...overrides,
  };
}

/** Runs `body` in one POP3 session that ends with QUIT; on failure the connection is dropped. */
async function withSession<T>(options: Pop3Options, body: (client: Pop3Client) => Promise<T>): Promise<T> {
  const client = await Pop3Client.connect(options);
  try {
    const result = await body(client);
    await client.quit();
    return result;
  } finally {
    client.destroy();
  }
}

/** 8-bit bytes (everything but NUL, CR and LF, which are not text) and lines a careless reader would eat. */
function trickyMessage(): Buffer {
  const eightBit = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0 && b !== 0x0a && b !== 0x0d));
  return Buffer.concat([
    Buffer.from(
      'From: Sender <sender@example.test>\r\nTo: rcpt@example.test\r\nSubject: tricky\r\n' +
      `Message-ID: <${randomBytes(8).toString('hex')}@example.test>\r\n` +
      'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' +
      '.hidden at line start\r\n..two dots\r\n.\r\nthe line above is a lone dot\r\n',
    ),
    eightBit,
    Buffer.from('\r\n\xe4\xf6\xfc\xdf \xc4\xd6\xdc latin-1\r\n. space after dot\r\n..\r\nlast line\r\n', 'latin1'),
  ]);
}

/** About 20 MiB of CRLF lines, some starting with a dot, some with 8-bit bytes. */
function largeMessage(): Buffer {
  const header = Buffer.from(`From: big@example.test\r\nTo: rcpt@example.test\r\nSubject: large\r\nMessage-ID: <${randomBytes(8).toString('hex')}@example.test>\r\n\r\n`);
  const lines: Buffer[] = [header];
  const pool = randomBytes(3 * 1024 * 1024).toString('base64');
  let size = header.length;
  for (let i = 0; size < 20 * 1024 * 1024; i += 1) {
    const text = pool.slice((i * 76) % (pool.length - 76), (i * 76) % (pool.length - 76) + 74);
    const line = i % 7 === 0 ? `.${text}\r\n` : i % 11 === 0 ? `\xe9\xe8${text}\r\n` : `${text}\r\n`;
    const bytes = Buffer.from(line, 'latin1');
    lines.push(bytes);
    size += bytes.length;
  }
  return Buffer.concat(lines, size);
}

describe('Pop3Client against Dovecot', () => {
  it('works in plain text (security none)', async () => {
    const user = uniqueUser('pop3-plain');
    const messages = [simpleMessage('first plain'), simpleMessage('second plain')];
    await appendMessages(user, messages);
    // Before login (empty user name: no USER/PASS) Dovecot offers STLS and USER; after login it does not.
    await withSession(pop3Options(user, 'none', { user: '' }), async (client) => {
      const capabilities = await client.capabilities();
      assert.ok(capabilities.includes('STLS') && capabilities.includes('USER'), capabilities.join(' | '));
    });
    await withSession(pop3Options(user, 'none'), async (client) => {
      assert.equal(client.peerCertificate, undefined);
      const capabilities = await client.capabilities();
      assert.ok(capabilities.includes('UIDL') && !capabilities.includes('STLS'), capabilities.join(' | '));
      assert.deepEqual(await client.stat(), { count: 2, size: messages[0].length + messages[1].length });
      assert.deepEqual(await client.retr(1), messages[0]);
      assert.deepEqual(await client.retr(2), messages[1]);
    });
  });

  it('upgrades with STLS to localhost and verifies the pinned certificate', async () => {
    const user = uniqueUser('pop3-stls');
    const message = simpleMessage('over stls');
    await appendMessages(user, [message]);
    await withSession(pop3Options(user, 'starttls'), async (client) => {
      assert.equal(client.peerCertificate?.fingerprint256, new X509Certificate(certificatePem()).fingerprint256);
      assert.ok(!(await client.capabilities()).includes('STLS'), 'STLS is offered only before TLS');
      assert.deepEqual(await client.retr(1), message);
    });
  });

  it('speaks POP3S (security tls) to localhost and to 127.0.0.1 with the pinned certificate', async () => {
    const user = uniqueUser('pop3-tls');
    const message = simpleMessage('over pop3s');
    await appendMessages(user, [message]);
    for (const host of ['localhost', '127.0.0.1']) {
      await withSession(pop3Options(user, 'tls', { host }), async (client) => {
        assert.equal(client.peerCertificate?.fingerprint256, new X509Certificate(certificatePem()).fingerprint256, host);
        assert.deepEqual(await client.retr(1), message, host);
      });
    }
  });

  it('rejects a certificate that is not trusted, before logging in', async () => {
    const user = uniqueUser('pop3-untrusted');
    for (const security of ['tls', 'starttls'] as const) {
      const options = pop3Options(user, security, { trust: buildTrustOptions('localhost', '') });
      await assert.rejects(Pop3Client.connect(options), (err: unknown) => {
        assert.equal(classifyError(err).code, 'tls-untrusted', `${security}: ${String(err)}`);
        return true;
      });
    }
  });

  it('reports TLS spoken to the plain port as tls-mode', async () => {
    const info = serverInfo();
    const options = pop3Options(uniqueUser('pop3-mode'), 'tls', { port: info.ports.pop3 });
    await assert.rejects(Pop3Client.connect(options), (err: unknown) => {
      assert.equal(classifyError(err).code, 'tls-mode', String(err));
      return true;
    });
  });

  it('reports a wrong password as auth, without the password in the message', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    const options = pop3Options(uniqueUser('pop3-auth'), 'starttls', { password: wrong });
    await assert.rejects(Pop3Client.connect(options), (err: unknown) => {
      assert.ok(err instanceof MailError, String(err));
      assert.equal(err.code, 'auth', err.message);
      assert.ok(!err.message.includes(wrong));
      return true;
    });
  });

  it('returns 8-bit bytes and dot lines byte for byte', async () => {
    const user = uniqueUser('pop3-8bit');
    const message = trickyMessage();
    await appendMessages(user, [message]);
    await withSession(pop3Options(user, 'none'), async (client) => {
      assert.deepEqual(await client.list(), [{ number: 1, size: message.length }]);
      const retrieved = await client.retr(1);
      assert.equal(retrieved.length, message.length);
      assert.ok(retrieved.equals(message), 'the retrieved message differs from the appended one');
    });
  });

  it('retrieves a 20 MiB message byte-identical', async (t) => {
    const user = uniqueUser('pop3-large');
    const message = largeMessage();
    await appendMessages(user, [message]);
    await withSession(pop3Options(user, 'starttls'), async (client) => {
      const started = process.hrtime.bigint();
      const retrieved = await client.retr(1);
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      t.diagnostic(`RETR of ${message.length} bytes over STLS took ${elapsedMs.toFixed(0)} ms`);
      assert.equal(retrieved.length, message.length);
      assert.ok(retrieved.equals(message), 'the retrieved message differs from the appended one');
    });
  });

  it('lists with UIDL, LIST and STAT, and removes a DELE\'d message only on QUIT', async () => {
    const user = uniqueUser('pop3-dele');
    const messages = [simpleMessage('one'), simpleMessage('two'), simpleMessage('three')];
    await appendMessages(user, messages);
    const options = pop3Options(user, 'none');

    const before = await withSession(options, async (client) => {
      const uidls = await client.uidl();
      assert.deepEqual(uidls.map((m) => m.number), [1, 2, 3]);
      assert.equal(new Set(uidls.map((m) => m.uidl)).size, 3);
      assert.deepEqual(await client.list(), messages.map((m, i) => ({ number: i + 1, size: m.length })));
      assert.deepEqual(await client.stat(), { count: 3, size: messages.reduce((sum, m) => sum + m.length, 0) });
      return uidls;
    });

    // Without QUIT the server must keep what was marked deleted.
    const dropped = await Pop3Client.connect(options);
    await dropped.dele(2);
    assert.equal((await dropped.stat()).count, 2, 'a DELE\'d message leaves the listing of its session');
    dropped.destroy();
    assert.equal(dropped.closed, true);
    assert.deepEqual(await withSession(options, (client) => client.uidl()), before);

    await withSession(options, (client) => client.dele(2));
    const after = await withSession(options, async (client) => {
      assert.deepEqual(await client.stat(), { count: 2, size: messages[0].length + messages[2].length });
      assert.deepEqual(await client.retr(2), messages[2]);
      return client.uidl();
    });
    assert.deepEqual(after.map((m) => m.uidl), [before[0].uidl, before[2].uidl]);
  });

  it('rejects DELE of a message that does not exist as protocol and carries on', async () => {
    const user = uniqueUser('pop3-noexist');
    await appendMessages(user, [simpleMessage('only')]);
    await withSession(pop3Options(user, 'none'), async (client) => {
      await assert.rejects(client.dele(5), (err: unknown) => err instanceof MailError && err.code === 'protocol');
      await assert.rejects(client.retr(5), (err: unknown) => err instanceof MailError && err.code === 'protocol');
      assert.equal((await client.stat()).count, 1);
    });
  });
});
