// The soak: three Receive Email nodes in a Node-RED runtime, one polling, one pushing (IMAP
// IDLE), one pushing with settle ack (an Email Done node acknowledges each email, which is then
// moved to Done), each on its own mailbox behind its own fault proxy, while mail keeps arriving, a second
// client keeps toggling flags on every message (a mail program open on the same inbox), and the
// connections are cut, stalled and kicked, the server restarted and the flow redeployed. Then,
// for each node: nothing lost, nothing emitted twice (settle ack: but what was in flight at the
// redeploy), nothing marked read (or moved) without being emitted, one connection at a time; and
// memory that does not keep growing.
//
// 10 minutes in CI (CI=true) on the first Node-RED line, 1 minute elsewhere and on the second
// line; MAILWIRE_SOAK_MINUTES overrides both.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import { collectGarbage } from '../faults/mime/memory';
import { BusyClient } from '../support/busy-client';
import { adminClient, kick } from '../support/dovecot-admin';
import { FaultProxy } from '../support/fault-proxy';
import type { NodeInitializer } from '../support/flows';
import { helper, nodeModule, startServer, stopServer, useTempUserDir } from '../support/flows';
import { appendMessages, listMailbox, repoRoot, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until } from '../support/wait';

strictProcess();

const minutes = Number(process.env.MAILWIRE_SOAK_MINUTES ?? (process.env.CI === 'true' && !process.env.MAILWIRE_NODE_RED ? 10 : 1));
const durationMs = minutes * 60_000;
const MiB = 1024 * 1024;

type Flow = Parameters<typeof helper.load>[1];
// The helper's typings take one initializer; its code takes an array as well.
const nodes = (): NodeInitializer => [nodeModule('receive-connection'), nodeModule('receive-email'), nodeModule('email-done')] as unknown as NodeInitializer;

function restartServers(): void {
  // Same configuration, same ports: the servers script stops what runs and starts it again.
  execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'mail-servers.mjs'), 'start'], { stdio: 'ignore' });
}

interface SpyLike {
  resetHistory?: () => void;
}

/**
 * The test helper wraps Node.prototype's send/status/log… in sinon spies that keep every call;
 * over minutes that is the test harness growing, not the node. Forget those calls before each
 * memory sample.
 */
function forgetSpyHistory(): void {
  const internals = helper as unknown as { _NodePrototype?: Record<string, SpyLike>; _logSpy?: SpyLike };
  for (const method of ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send']) internals._NodePrototype?.[method]?.resetHistory?.();
  internals._logSpy?.resetHistory?.();
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** One Receive Email node with its own mailbox, proxy and records: the soak runs two, polling and pushing. */
interface Lane {
  id: string;
  user: string;
  push: boolean;
  /** settle ack, each email acknowledged by an Email Done node and moved to Done. */
  ack: boolean;
  proxy: FaultProxy;
  /** Subjects appended to its mailbox. */
  sent: string[];
  emitted: Map<string, number>;
  emittedWithoutBody: string[];
  keys: Set<string>;
  /** When each key was first emitted. */
  firstAt: Map<string, number>;
  /** Keys emitted again, with when. */
  again: Array<{ key: string; at: number }>;
  maxOpen: number;
}

describe(`soak: ${minutes} min of arrivals, cuts, stalls, kicks, a server restart and a redeploy, polling, with push, and with settle ack`, () => {
  const lanes: Lane[] = [];
  let busy: BusyClient[] = [];

  before(async () => {
    useTempUserDir();
    await startServer();
    for (const [id, push, ack] of [['recv', false, false], ['recv-push', true, false], ['recv-ack', true, true]] as const) {
      const user = uniqueUser(ack ? 'soakack' : push ? 'soakpush' : 'soak');
      if (ack) {
        const admin = await adminClient(user);
        await admin.mailboxCreate('Done').finally(() => admin.logout());
      }
      lanes.push({ id, user, push, ack, proxy: await FaultProxy.start(serverInfo().ports.imap), sent: [], emitted: new Map(), emittedWithoutBody: [], keys: new Set(), firstAt: new Map(), again: [], maxOpen: 0 });
    }
  });
  after(async () => {
    await Promise.all(busy.map((b) => b.stop().catch(() => undefined)));
    await helper.unload().catch(() => undefined);
    await stopServer();
    await Promise.all(lanes.map((lane) => lane.proxy.close()));
  });

  it('keeps every guarantee throughout', { timeout: durationMs + 180_000 }, async (t) => {
    // Polling every 500 ms; pushing with a Delay of 30 s, so push does the work between polls.
    const flow = [
      { id: 'tab', type: 'tab' },
      ...lanes.flatMap((lane) => [
        { id: `conn-${lane.id}`, type: 'mailwire-receive-connection', protocol: 'imap', host: '127.0.0.1', port: lane.proxy.port, security: 'none', certificate: '' },
        {
          id: lane.id,
          type: 'mailwire-receive-email',
          z: 'tab',
          connection: `conn-${lane.id}`,
          folder: '',
          unseenOnly: true,
          maxEmails: -1,
          ...(lane.push ? { delay: 30, delayUnit: 's', push: true } : { delay: 500, delayUnit: 'ms' }),
          ...(lane.ack ? { settle: 'ack', onSuccess: 'move', successFolder: 'Done', wires: [[`out-${lane.id}`, `done-${lane.id}`]] } : { wires: [[`out-${lane.id}`]] }),
        },
        { id: `out-${lane.id}`, type: 'helper', z: 'tab' },
        ...(lane.ack ? [{ id: `done-${lane.id}`, type: 'mailwire-email-done', z: 'tab', result: 'success', wires: [] }] : []),
      ]),
    ] as unknown as Flow;
    const credentials = Object.fromEntries(lanes.map((lane) => [`conn-${lane.id}`, { user: lane.user, password: serverInfo().password }]));
    const deploy = async (): Promise<void> => {
      await helper.load(nodes(), flow, credentials);
      for (const lane of lanes) {
        helper.getNode(`out-${lane.id}`).on('input', (msg: NodeMessage) => {
          const subject = String(msg.topic);
          const { key, uid } = (msg as unknown as { email: { key: string; uid?: number } }).email;
          if (typeof uid !== 'number' || String(msg.payload).trim() !== `Body of ${subject}`) lane.emittedWithoutBody.push(key);
          if (lane.keys.has(key)) lane.again.push({ key, at: Date.now() });
          else lane.firstAt.set(key, Date.now());
          lane.keys.add(key);
          lane.emitted.set(subject, (lane.emitted.get(subject) ?? 0) + 1);
        });
      }
    };
    await deploy();

    let counter = 0;
    const append = async (lane: Lane, n: number): Promise<void> => {
      const batch = Array.from({ length: n }, () => `soak ${(counter += 1)}`);
      await appendMessages(lane.user, batch.map((s) => simpleMessage(s)));
      lane.sent.push(...batch);
    };

    // Each INBOX needs a message before the toggling has anything to toggle.
    for (const lane of lanes) await append(lane, 1);
    // A round every 100 ms: busy, but leaving the machine to the suite that runs beside the soak.
    busy = await Promise.all(lanes.map((lane) => BusyClient.start(lane.user, [{ kind: 'toggle-flags', pauseMs: 100 }], { reconnect: true })));
    const actions: Record<string, number> = { append: 0, cut: 0, stall: 0, kick: 0, restart: 0, redeploy: 0 };
    const memory: Array<[number, number]> = [];
    const started = Date.now();
    const warmUp = started + durationMs * 0.2;
    let restarted = false;
    let redeployed = false;
    let redeployedAt = 0;
    // A fixed pseudo-random sequence, so a failing run can be replayed.
    let seed = 20261126;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };

    while (Date.now() - started < durationMs) {
      const elapsed = (Date.now() - started) / durationMs;
      const roll = random();
      if (!restarted && elapsed > 0.5) {
        restarted = true;
        actions.restart += 1;
        restartServers();
      } else if (!redeployed && elapsed > 0.7) {
        redeployed = true;
        actions.redeploy += 1;
        redeployedAt = Date.now();
        await helper.unload();
        await deploy();
      } else if (roll < 0.55) {
        actions.append += 1;
        for (const lane of lanes) await append(lane, 1 + Math.floor(random() * 5));
      } else if (roll < 0.7) {
        actions.cut += 1;
        for (const lane of lanes) lane.proxy.cutAll();
      } else if (roll < 0.8) {
        actions.stall += 1;
        for (const lane of lanes) lane.proxy.stallOpen();
        // Longer than the node's 20 s silence limit: it must give up on the connection itself.
        await sleep(22_000);
        for (const lane of lanes) {
          lane.proxy.setMode({ stalled: false });
          for (const c of lane.proxy.openConnections()) c.resume();
        }
      } else {
        actions.kick += 1;
        // False when there was nothing to kick, between two connections.
        for (const lane of lanes) await kick(lane.user);
      }
      for (const lane of lanes) lane.maxOpen = Math.max(lane.maxOpen, lane.proxy.maxOpen);
      await sleep(1000 + random() * 2000);
      if (Date.now() > warmUp && (memory.length === 0 || Date.now() - started - memory[memory.length - 1][0] > 10_000)) {
        forgetSpyHistory();
        collectGarbage();
        memory.push([Date.now() - started, process.memoryUsage().heapUsed]);
      }
    }

    // The chaos stops, but for the other clients; everything sent must come out.
    await until(() => lanes.every((lane) => lane.sent.every((s) => lane.emitted.has(s))), 120_000, 'every appended email to be emitted');
    await sleep(2000);
    const busyRecords = await Promise.all(busy.map((b) => b.stop()));
    busy = [];
    const perHour = memory.length >= 3 ? (slope(memory) * 3_600_000) / MiB : 0;
    t.diagnostic(`actions: ${JSON.stringify(actions)}`);
    t.diagnostic(`heap after warm-up: ${memory.map(([, h]) => (h / MiB).toFixed(1)).join(' ')} MiB; trend ${perHour.toFixed(1)} MiB/hour`);
    assert.ok(actions.restart === 1 && actions.redeploy === 1 && actions.append > 0, 'the chaos ran');

    for (const [i, lane] of lanes.entries()) {
      const { proxy } = lane;
      t.diagnostic(`${lane.id}: emails ${lane.sent.length}; emitted keys ${lane.keys.size}; emitted again ${lane.again.length}; connections ${proxy.total} in all, at most ${lane.maxOpen} open at once, ${proxy.open} open at the end; the other client: ${busyRecords[i].toggles} flag rounds, ${busyRecords[i].reconnects} new sessions`);
      assert.ok(busyRecords[i].toggles > 0, `${lane.id}: the other client kept busy`);
      assert.deepEqual(lane.emittedWithoutBody, [], `${lane.id}: every emitted message a whole email`);
      assert.deepEqual(lane.sent.filter((s) => !lane.emitted.has(s)), [], `${lane.id}: nothing lost`);
      if (lane.ack) {
        // Settle ack: an email in flight when the flow was redeployed is emitted again (same key);
        // nothing else is.
        const unexpected = lane.again.filter(({ key }) => !(redeployedAt > 0 && (lane.firstAt.get(key) ?? 0) >= redeployedAt - 3000 && (lane.firstAt.get(key) ?? 0) <= redeployedAt));
        assert.deepEqual(unexpected, [], `${lane.id}: emitted again only if in flight at the redeploy`);
        const done = (await listMailbox(lane.user, 'Done')).map((m) => m.subject);
        assert.deepEqual([...done].sort(), [...lane.sent].sort(), `${lane.id}: every email moved to Done once`);
        assert.deepEqual(await listMailbox(lane.user), [], `${lane.id}: nothing left in the INBOX`);
      } else {
        const box = await listMailbox(lane.user);
        const emittedSubjects = new Set(lane.emitted.keys());
        assert.deepEqual(lane.again, [], `${lane.id}: nothing emitted twice`);
        assert.deepEqual(box.filter((m) => m.seen && !emittedSubjects.has(m.subject)), [], `${lane.id}: nothing marked read without being emitted`);
        assert.deepEqual(box.filter((m) => !m.seen), [], `${lane.id}: everything emitted was marked read`);
      }
      assert.ok(proxy.open <= 1, `${lane.id}: one connection at the end, ${proxy.open} open`);
      assert.ok(lane.maxOpen <= 2, `${lane.id}: at most one connection plus one being replaced, saw ${lane.maxOpen}`);
    }
    if (minutes >= 5) assert.ok(perHour < 20, `heap grows ${perHour.toFixed(1)} MiB/hour after warm-up`);
  });
});
