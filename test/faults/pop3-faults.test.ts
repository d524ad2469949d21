// POP3 under faults, against Dovecot through the fault proxy: a reset after 25 of 50 deletions
// (before QUIT) loses nothing and emits nothing twice; and RETR framing holds when the server's
// bytes arrive in awkward pieces (terminator split across packets, dot-stuffed lines, 8-bit
// bytes, one byte per packet): every message comes back byte for byte.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SIZE_LIMIT } from '../../src/lib/mail-source';
import { connectPop3 } from '../../src/lib/pop3/pop3-connect';
import { collector, tempStateFile } from '../support/collect';
import { pop3Source } from '../support/mail-sources';
import { FaultProxy } from '../support/fault-proxy';
import type { ForwardMode, ProxyConnection } from '../support/fault-proxy';
import { duplicates } from '../support/receive-watch';
import { appendMessages, listMailbox, receiveSettings, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { until, within } from '../support/wait';

strictProcess();

/** What the node gives a POP3 reply: 20 s of silence (pop3-maildrop.ts); every RETR must finish within it. */
const COMMAND_TIMEOUT_MS = 20_000;
const subjects = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${String(i + 1).padStart(2, '0')}`);

describe('POP3 faults', () => {
  let proxy: FaultProxy;
  before(async () => {
    proxy = await FaultProxy.start(serverInfo().ports.pop3);
  });
  after(async () => {
    await proxy.close();
  });

  it('a reset after 25 of 50 deletions, before QUIT: the server keeps all 50, the next session emits only those not emitted before and deletes all', async () => {
    const user = uniqueUser('pop3rst');
    const names = subjects('dele', 50);
    await appendMessages(user, names.map((s) => simpleMessage(s)));
    const firstConnection = proxy.total;
    // The 25th DELE reaches the server and is answered; the answer never reaches the client.
    const reset = proxy.when({ clientLine: /^DELE /, nth: 25, serverLine: /^\+OK/, action: 'reset' });
    const source = pop3Source({
      settings: receiveSettings('pop3', 'none', user, { port: proxy.port }),
      connectionId: 'conn-1',
      stateFile: tempStateFile(),
      sizeLimit: DEFAULT_SIZE_LIMIT,
      deleteAfterEmit: true,
      pop3Timeouts: { commandTimeoutMs: COMMAND_TIMEOUT_MS },
    });
    const request = { folder: '', unseenOnly: true, maxEmails: -1 };
    try {
      const first = collector();
      await assert.rejects(source.poll(request, first));
      await within(reset.fired, 5000, 'the reset');
      const session1 = proxy.connections[firstConnection];
      assert.equal((session1.clientText.match(/^DELE /gm) ?? []).length, 25);
      assert.doesNotMatch(session1.clientText, /^QUIT/m);
      // The RETRs run a few ahead of the DELEs, so a few more may have been emitted before the
      // reset was noticed: at least the 25 whose DELE went out, oldest first.
      const before = first.emitted.length;
      assert.ok(before >= 25 && before < 50, `${before} emitted in the first session`);
      assert.deepEqual(first.emitted.map((m) => m.topic), names.slice(0, before));
      assert.equal((await listMailbox(user)).length, 50, 'no QUIT: the server keeps all 50');

      const second = collector();
      const result = await source.poll(request, second);
      assert.equal(result.emitted, 50 - before);
      assert.deepEqual(second.emitted.map((m) => m.topic), names.slice(before), 'only those not emitted before');
      const keys = [...first.emitted, ...second.emitted].map((m) => m.email.key);
      assert.equal(keys.length, 50);
      assert.deepEqual(duplicates(keys), []);
      for (const m of [...first.emitted, ...second.emitted]) assert.equal(m.email.key, `conn-1/${(m.email as { uidl: string }).uidl}`);
      const session2 = proxy.connections[firstConnection + 1].clientText;
      assert.equal((session2.match(/^DELE /gm) ?? []).length, 50, 'those emitted before are deleted now, the others after their emit');
      assert.match(session2, /^QUIT/m);
      await until(async () => (await listMailbox(user)).length === 0, 5000, 'an empty maildrop');
      const third = collector();
      assert.deepEqual(await source.poll(request, third), { emitted: 0, skipped: 0 });
    } finally {
      await source.close();
    }
  });

  describe('RETR framing through awkward packets', () => {
    const user = uniqueUser('framing');
    const messages = framingMessages();
    before(async () => {
      await appendMessages(user, messages);
    });

    const retrieveAll = async (mode: Partial<ForwardMode>, count = messages.length): Promise<{ connection: ProxyConnection; slowest: number }> => {
      proxy.setMode({ ...mode });
      const client = await connectPop3(receiveSettings('pop3', 'none', user, { port: proxy.port }), { connectTimeoutMs: COMMAND_TIMEOUT_MS, commandTimeoutMs: COMMAND_TIMEOUT_MS });
      const connection = proxy.connections[proxy.total - 1];
      let slowest = 0;
      try {
        for (let n = 1; n <= count; n += 1) {
          const started = Date.now();
          const got = await client.retr(n);
          slowest = Math.max(slowest, Date.now() - started);
          assert.equal(got.length, messages[n - 1].length, `message ${n}: length`);
          assert.ok(got.equals(messages[n - 1]), `message ${n} differs from what was appended`);
        }
        await client.quit();
      } finally {
        client.destroy();
        proxy.setMode({ stalled: false, slowMs: 0, byteByByte: false, splitter: undefined, splitPauseMs: 1 });
      }
      return { connection, slowest };
    };

    it('the terminator "\\r\\n.\\r\\n" and stuffed ".." split across packets at every position', async () => {
      let turn = 0;
      const splitter = (chunk: Buffer): Buffer[] => {
        const cuts: number[] = [];
        for (let i = chunk.indexOf('\r\n.'); i >= 0; i = chunk.indexOf('\r\n.', i + 1)) {
          // Inside the terminator or a stuffed line: after CR, after LF, after the first dot, after the second.
          cuts.push(i + 1 + (turn % 4));
          turn += 1;
        }
        const pieces: Buffer[] = [];
        let from = 0;
        for (const cut of cuts.filter((c, i, a) => c < chunk.length && c > 0 && a.indexOf(c) === i).sort((a, b) => a - b)) {
          if (cut > from) pieces.push(chunk.subarray(from, cut));
          from = cut;
        }
        pieces.push(chunk.subarray(from));
        return pieces;
      };
      const { connection, slowest } = await retrieveAll({ splitter, splitPauseMs: 2 });
      assert.ok(turn >= messages.length * 2, `${turn} splits`);
      assert.ok(connection.writesToClient > turn / 2);
      assert.ok(slowest < COMMAND_TIMEOUT_MS);
    });

    it('one byte per packet', async (t) => {
      // Every byte of the session its own write, 1 ms apart.
      const { connection, slowest } = await retrieveAll({ byteByByte: { pauseMs: 1 } });
      assert.ok(connection.writesToClient >= messages.reduce((n, m) => n + m.length, 0), `${connection.writesToClient} writes`);
      // The command timeout is silence, not total time: one byte per packet must never trip it,
      // however long the whole RETR takes on a loaded machine (retrieveAll fails on a timeout).
      t.diagnostic(`slowest RETR ${slowest} ms with a ${COMMAND_TIMEOUT_MS} ms command timeout`);
    });

    it('odd piece sizes with pauses, and slow chunks', async () => {
      const sizes = [1, 2, 3, 5, 7, 11, 13];
      let k = 0;
      const splitter = (chunk: Buffer): Buffer[] => {
        const pieces: Buffer[] = [];
        for (let from = 0; from < chunk.length; k += 1) {
          const size = sizes[k % sizes.length];
          pieces.push(chunk.subarray(from, from + size));
          from += size;
        }
        return pieces;
      };
      await retrieveAll({ splitter, splitPauseMs: 1 }, 3);
      const { slowest } = await retrieveAll({ slowMs: 30 });
      assert.ok(slowest < COMMAND_TIMEOUT_MS);
    });
  });
});

/**
 * CRLF messages that make POP3 framing work: dot-stuffed lines (".x", "..", a lone "." inside the
 * body, "." as the last line), 8-bit bytes, a body line that looks like a terminator, sizes that
 * end right at awkward places.
 */
function framingMessages(): Buffer[] {
  const head = (subject: string): string =>
    `From: Sender <sender@example.test>\r\nTo: rcpt@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${randomBytes(8).toString('hex')}@example.test>\r\n` +
    'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n';
  const eightBit = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0 && b !== 0x0a && b !== 0x0d));
  return [
    Buffer.from(`${head('dots')}.hidden\r\n..two dots\r\n.\r\nafter a lone dot\r\n...three\r\n. space\r\n.\r\n`, 'latin1'),
    Buffer.concat([Buffer.from(head('eight bit'), 'latin1'), eightBit, Buffer.from('\r\n\xe4\xf6\xfc\xdf\r\n.\xff\r\n\x80.\r\n', 'latin1')]),
    Buffer.from(`${head('terminator-like')}line\r\n.\r\n\r\n.\r\n..\r\nend\r\n`, 'latin1'),
    Buffer.from(`${head('long')}${Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? `.${'d'.repeat(70)}` : 'e'.repeat(75))).join('\r\n')}\r\n`, 'latin1'),
    simpleMessage('plain'),
  ];
}
