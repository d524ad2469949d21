// Clean redeploys and close of the real Receive Email node (node-red-node-test-helper: unload +
// load of the same flow, same user directory): every close is done within 2 s, a closed node
// emits nothing, nothing is marked read that was not emitted, no connection, timer or socket is
// left behind, and the backlog still arrives, once each.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { seenUids, serverConnections } from '../support/dovecot-admin';
import { FaultProxy } from '../support/fault-proxy';
import { nodeRedSuite } from '../support/node-red-suite';
import { Watch, connection, credentials, duplicates, flow, receiver, uidOf } from '../support/receive-watch';
import { appendMessages, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until } from '../support/wait';

strictProcess();

const CLOSE_WITHIN_MS = 2000;
const filler = 'r'.repeat(76);
const message = (subject: string, kb: number): Buffer => simpleMessage(subject, Array.from({ length: Math.ceil((kb * 1024) / 78) }, () => filler).join('\r\n'));
const subjects = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${String(i + 1).padStart(3, '0')}`);

/** Active handles and requests by type (process.getActiveResourcesInfo()). */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** Types that have more active resources now than in `before`. */
function leftBehind(before: Map<string, number>, now: Map<string, number>): string[] {
  return [...now].filter(([type, n]) => n > (before.get(type) ?? 0)).map(([type, n]) => `${type}: ${before.get(type) ?? 0} -> ${n}`);
}

/** The UIDs read on the server that were not emitted. */
async function readNotEmitted(user: string, watch: Watch): Promise<number[]> {
  const emitted = new Set(watch.keys().map(uidOf));
  const { seen } = await seenUids(user);
  return [...seen].filter((uid) => !emitted.has(uid));
}

describe('redeploys and close', () => {
  let baseline: Map<string, number>;
  // The proxies here are closed by the tests themselves, before counting what was left behind.
  nodeRedSuite();
  before(async () => {
    await sleep(200);
    baseline = resources();
  });

  it('50 redeploys while a backlog of 30 drains: closes within 2 s, nothing from a closed node, nothing left behind', async () => {
    const watch = new Watch();
    const user = uniqueUser('redeploy');
    await appendMessages(user, subjects('redeploy', 30).map((s) => message(s, 24)));
    const proxy = await FaultProxy.start(serverInfo().ports.imap);
    // Fetches take a while (each server chunk held 15 ms), so closes land in every phase of a poll.
    proxy.setMode({ slowMs: 15 });
    const deploy = flow([connection('imap', proxy.port)], [receiver({ delay: 300, maxEmails: 2, unseenOnly: true })]);
    const closeTimes: number[] = [];
    try {
      for (let generation = 1; generation <= 50; generation += 1) {
        await watch.load(deploy, credentials(user));
        await sleep(20 + ((generation * 67) % 380));
        closeTimes.push(await watch.unload());
        const closed = watch.current();
        assert.equal(closed.generation, generation);
        assert.deepEqual(await readNotEmitted(user, watch), [], `generation ${generation}: nothing read that was not emitted`);
      }
      const sentByClosed = watch.instances.reduce((n, i) => n + i.sent.filter((s) => s.at > (i.closingAt ?? Infinity)).length, 0);
      const drainedDuringRedeploys = new Set(watch.keys()).size;

      // The last deploy stays and drains the rest.
      await watch.load(deploy, credentials(user));
      await until(() => new Set(watch.keys()).size === 30, 30_000, 'all 30 emitted');
      await until(async () => (await seenUids(user)).seen.size === 30, 10_000, 'all 30 read');
      await until(async () => (await serverConnections(user, 'imap')) === 1, 10_000, 'one server connection');
      assert.equal(proxy.open, 1, 'one connection at the proxy');

      const perGeneration = watch.instances.map((i) => i.sent.length);
      console.log(
        `close times: max ${Math.max(...closeTimes)} ms, mean ${Math.round(closeTimes.reduce((a, b) => a + b, 0) / closeTimes.length)} ms; ` +
          `${drainedDuringRedeploys} of 30 emitted during the 50 redeploys (per generation: ${perGeneration.join(' ')}); ` +
          `${proxy.total} connections; duplicates: ${duplicates(watch.keys()).length}`,
      );
      assert.ok(Math.max(...closeTimes) < CLOSE_WITHIN_MS, `slowest close ${Math.max(...closeTimes)} ms`);
      assert.equal(sentByClosed, 0);
      assert.deepEqual(watch.instances.flatMap((i) => i.sentWhileClosing.map((s) => `${i.generation}:${s.msg.topic}`)), [], 'no email from a node being closed');
      assert.ok(drainedDuringRedeploys >= 10, `the backlog drained while redeploying (${drainedDuringRedeploys})`);
      assert.deepEqual(duplicates(watch.keys()), [], 'none twice (the journal carries over redeploys)');
      assert.equal(watch.instances.length, 51);
    } finally {
      await watch.unload();
      await proxy.close();
    }
    // Give sockets that were just destroyed a moment to be released.
    await until(() => leftBehind(baseline, resources()).length === 0, 3000, 'resources back to the baseline').catch(() => undefined);
    const now = resources();
    console.log(`active resources before the first deploy: ${JSON.stringify(Object.fromEntries(baseline))}; after the last close: ${JSON.stringify(Object.fromEntries(now))}`);
    assert.deepEqual(leftBehind(baseline, now), [], 'no timers or sockets left behind');
  });

  it('close during a 100-message fetch: done within 2 s, nothing emitted after it, nothing read that was not emitted', async () => {
    const watch = new Watch();
    const user = uniqueUser('closefetch');
    await appendMessages(user, subjects('fetch', 100).map((s) => message(s, 10)));
    const proxy = await FaultProxy.start(serverInfo().ports.imap);
    proxy.setMode({ slowMs: 10 });
    try {
      await watch.load(flow([connection('imap', proxy.port)], [receiver({ maxEmails: -1 })]), credentials(user));
      const recv = watch.current();
      await until(() => recv.sent.length >= 10, 20_000, 'ten emails');
      const closeMs = await watch.unload();
      const atClose = recv.sent.length;
      assert.ok(atClose < 100, 'the close came during the fetch');
      assert.ok(closeMs < CLOSE_WITHIN_MS, `close took ${closeMs} ms`);
      assert.deepEqual(recv.sentWhileClosing, []);
      assert.deepEqual(await readNotEmitted(user, watch), [], 'nothing read that was not emitted');
      await sleep(1000);
      assert.equal(recv.sent.length, atClose, 'nothing emitted after the close');
      assert.deepEqual(await readNotEmitted(user, watch), [], 'still nothing read that was not emitted');
      assert.equal(proxy.open, 0, 'the connection is gone');
      await until(async () => (await serverConnections(user, 'imap')) === 0, 3000, 'no server connection');
      console.log(`close during fetch: ${closeMs} ms, ${atClose} emitted before, ${(await seenUids(user)).seen.size} read`);

      // Deployed again: the rest arrives, and what the closed node emitted is not emitted again.
      proxy.setMode({ slowMs: 0 });
      await watch.load(flow([connection('imap', proxy.port)], [receiver({ maxEmails: -1 })]), credentials(user));
      await until(() => new Set(watch.keys()).size === 100, 30_000, 'all 100');
      await until(async () => (await seenUids(user)).seen.size === 100, 10_000, 'all 100 read');
      assert.deepEqual(duplicates(watch.keys()), [], 'nothing emitted twice across the close');
    } finally {
      await proxy.close();
    }
  });
});
