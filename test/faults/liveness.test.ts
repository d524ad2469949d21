// Liveness of the real Receive Email node against Dovecot: a connection that goes silent (socket
// open, no bytes) is detected within 30 s and replaced, and the backlog still arrives; a user
// kicked twenty times while 200 emails arrive gets all 200, once each, and ends with one
// connection.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kick, seenUids, serverConnections } from '../support/dovecot-admin';
import type { FireEvent } from '../support/fault-proxy';
import { nodeRedSuite } from '../support/node-red-suite';
import { Watch, connection, credentials, duplicates, flow, receiver } from '../support/receive-watch';
import { appendMessages, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until, within } from '../support/wait';

strictProcess();

const DETECT_WITHIN_MS = 30_000;
const BODY_FETCH = /UID FETCH \S+ \(UID (BODY|BINARY)\.PEEK\[\]/i;
const filler = 'y'.repeat(76);
const message = (subject: string, kb = 4): Buffer => simpleMessage(subject, Array.from({ length: Math.ceil((kb * 1024) / 78) }, () => filler).join('\r\n'));
const subjects = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${String(i + 1).padStart(3, '0')}`);

describe('liveness of the Receive Email node', () => {
  const proxy = nodeRedSuite();

  it('a stalled connection (open, silent) is detected within 30 s and replaced; the backlog arrives; one connection after', async () => {
    const watch = new Watch();
    const info = serverInfo();
    const imapUser = uniqueUser('stallimap');
    const popUser = uniqueUser('stallpop');
    await appendMessages(imapUser, subjects('stall imap', 30).map((s) => message(s)));
    await appendMessages(popUser, subjects('stall pop', 10).map((s) => message(s)));
    const imapProxy = await proxy(info.ports.imap);
    const popProxy = await proxy(info.ports.pop3);
    // Mid-message: 20 kB into the first body fetch, 1.5 kB into the third RETR.
    const imapStall = imapProxy.when({ clientLine: BODY_FETCH, serverBytes: 20_000, action: 'stall' });
    const popStall = popProxy.when({ clientLine: /^RETR /, nth: 3, serverBytes: 1500, action: 'stall' });
    await watch.load(
      flow(
        [connection('imap', imapProxy.port), { ...connection('pop3', popProxy.port), id: 'conn-pop' }],
        [receiver({ delay: 1, delayUnit: 's' }), receiver({ id: 'recv-pop', connection: 'conn-pop', delay: 1, delayUnit: 's' })],
      ),
      { ...credentials(imapUser), ...credentials(popUser, 'conn-pop') },
    );

    const detection = async (fired: Promise<FireEvent>): Promise<number> => {
      const event = await within(fired, 20_000, 'the stall');
      const stalled = event.connection;
      await within(stalled.closed, DETECT_WITHIN_MS + 10_000, 'the stalled connection to close').catch(() => undefined);
      return stalled.open ? Infinity : (stalled.closedAt as number) - event.at;
    };
    const [imapMs, popMs] = await Promise.all([detection(imapStall.fired), detection(popStall.fired)]);
    console.log(`stall detected after: IMAP ${imapMs} ms, POP3 ${popMs} ms`);
    assert.ok(imapMs <= DETECT_WITHIN_MS, `IMAP stall detected after ${imapMs} ms`);
    assert.ok(popMs <= DETECT_WITHIN_MS, `POP3 stall detected after ${popMs} ms`);

    await until(() => new Set(watch.keys('recv')).size === 30 && new Set(watch.keys('recv-pop')).size === 10, 20_000, 'both backlogs');
    assert.deepEqual(duplicates(watch.keys()), []);
    assert.equal((await seenUids(imapUser)).seen.size, 30);
    assert.ok(imapProxy.total >= 2 && popProxy.total >= 2, 'replaced by new connections');
    // The stalled ones are gone on the server too: the IMAP node keeps exactly one connection,
    // the POP3 node at most one session at a time.
    await until(async () => (await serverConnections(imapUser, 'imap')) === 1, 10_000, 'one IMAP connection on the server');
    assert.equal(imapProxy.open, 1);
    assert.ok((await serverConnections(popUser, 'pop3')) <= 1);
    assert.ok(popProxy.open <= 1);
    assert.equal(popProxy.maxOpen, 1, 'a POP3 session never overlapped the stalled one');
  });

  it('doveadm kick twenty times while 200 emails arrive: all 200 once each, one connection at the end', async () => {
    const watch = new Watch();
    const user = uniqueUser('kick');
    const p = await proxy(serverInfo().ports.imap);
    await watch.load(flow([connection('imap', p.port)], [receiver({ delay: 200, maxEmails: 10 })]), credentials(user));
    const recv = watch.current();
    const polledSince = (t: number): boolean => recv.statuses.some((s) => s.at > t && s.text === 'mailwire-receive-email.status.polled');
    // Server chunks held 10 ms each, so that a fetch lasts long enough for a kick to land in it.
    p.setMode({ slowMs: 10 });
    let kicked = 0;
    let attempts = 0;
    for (let batch = 0; kicked < 20 && attempts < 40; attempts += 1) {
      const midFetch = attempts % 2 === 0 && batch < 20;
      // Armed before the batch arrives, so the next body fetch is this batch's.
      const fetching = midFetch ? p.when({ clientLine: BODY_FETCH, action: () => undefined }) : undefined;
      if (batch < 20) {
        await appendMessages(user, subjects(`kick ${String(batch).padStart(2, '0')}`, 10).map((s) => message(s, 2)));
        batch += 1;
      }
      const at = Date.now();
      let hit: Promise<boolean>;
      if (fetching) {
        // Kicked as the node fetches the new batch.
        await within(fetching.fired, 20_000, 'the fetch of the new batch');
        hit = kick(user);
      } else {
        // Kicked between polls, at varying moments.
        await sleep((attempts * 53) % 260);
        await until(async () => (await serverConnections(user, 'imap')) >= 1, 15_000, 'the node to be logged in');
        hit = kick(user);
      }
      // A kick can miss when the connection ends on its own just then; only hits are counted.
      if (await hit) kicked += 1;
      await until(() => polledSince(at), 20_000, 'a good poll after the kick');
    }
    assert.equal(kicked, 20, `${kicked} of ${attempts} kicks hit a connection`);
    await until(() => new Set(watch.keys()).size === 200, 30_000, 'all 200');
    await until(async () => (await seenUids(user)).seen.size === 200, 10_000, 'all 200 read');
    await sleep(600);
    assert.deepEqual(duplicates(watch.keys()), [], 'none twice');
    await until(async () => (await serverConnections(user, 'imap')) === 1, 10_000, 'one connection on the server');
    assert.equal(p.open, 1, 'one connection at the proxy');
    assert.equal(p.maxOpen, 1, 'never two at once');
    console.log(`kicks: ${kicked} of ${attempts}; connections over the run: ${p.total}; polls that failed (kicked mid-poll): ${recv.statuses.filter((s) => s.text === 'mailwire-receive-email.status.retrying').length}`);
  });
});
