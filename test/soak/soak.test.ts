// The soak: a Receive Email node in a Node-RED runtime, behind a fault proxy, while mail keeps
// arriving, a second client keeps toggling flags on every message (a mail program open on the
// same inbox), and the connection is cut, stalled and kicked, the server restarted and the flow
// redeployed. Then: nothing lost, nothing emitted twice, nothing marked read without being
// emitted, one connection at a time, and memory that does not keep growing.
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
import { kick } from '../support/dovecot-admin';
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
const nodes = (): NodeInitializer => [nodeModule('receive-connection'), nodeModule('receive-email')] as unknown as NodeInitializer;

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

describe(`soak: ${minutes} min of arrivals, cuts, stalls, kicks, a server restart and a redeploy`, () => {
  const user = uniqueUser('soak');
  let proxy: FaultProxy;
  let busy: BusyClient | undefined;

  before(async () => {
    useTempUserDir();
    await startServer();
    proxy = await FaultProxy.start(serverInfo().ports.imap);
  });
  after(async () => {
    await busy?.stop().catch(() => undefined);
    await helper.unload().catch(() => undefined);
    await stopServer();
    await proxy.close();
  });

  it('keeps every guarantee throughout', { timeout: durationMs + 180_000 }, async (t) => {
    const flow = [
      { id: 'tab', type: 'tab' },
      { id: 'conn', type: 'mailwire-receive-connection', protocol: 'imap', host: '127.0.0.1', port: proxy.port, security: 'none', certificate: '' },
      { id: 'recv', type: 'mailwire-receive-email', z: 'tab', connection: 'conn', folder: '', unseenOnly: true, delay: 500, delayUnit: 'ms', maxEmails: -1, wires: [['out']] },
      { id: 'out', type: 'helper', z: 'tab' },
    ] as unknown as Flow;
    const credentials = { conn: { user, password: serverInfo().password } };
    const emitted = new Map<string, number>();
    const emittedWithoutBody: string[] = [];
    const keys = new Set<string>();
    let duplicates = 0;
    const deploy = async (): Promise<void> => {
      await helper.load(nodes(), flow, credentials);
      helper.getNode('out').on('input', (msg: NodeMessage) => {
        const subject = String(msg.topic);
        const { key, uid } = (msg as unknown as { email: { key: string; uid?: number } }).email;
        if (typeof uid !== 'number' || String(msg.payload).trim() !== `Body of ${subject}`) emittedWithoutBody.push(key);
        if (keys.has(key)) duplicates += 1;
        keys.add(key);
        emitted.set(subject, (emitted.get(subject) ?? 0) + 1);
      });
    };
    await deploy();

    const sent: string[] = [];
    let counter = 0;
    const append = async (n: number): Promise<void> => {
      const batch = Array.from({ length: n }, () => `soak ${(counter += 1)}`);
      await appendMessages(user, batch.map((s) => simpleMessage(s)));
      sent.push(...batch);
    };

    // The INBOX needs a message before the toggling has anything to toggle.
    await append(1);
    // A round every 100 ms: busy, but leaving the machine to the suite that runs beside the soak.
    busy = await BusyClient.start(user, [{ kind: 'toggle-flags', pauseMs: 100 }], { reconnect: true });
    const actions: Record<string, number> = { append: 0, cut: 0, stall: 0, kick: 0, restart: 0, redeploy: 0 };
    const memory: Array<[number, number]> = [];
    const started = Date.now();
    const warmUp = started + durationMs * 0.2;
    let restarted = false;
    let redeployed = false;
    let maxOpen = 0;
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
        await helper.unload();
        await deploy();
      } else if (roll < 0.55) {
        actions.append += 1;
        await append(1 + Math.floor(random() * 5));
      } else if (roll < 0.7) {
        actions.cut += 1;
        proxy.cutAll();
      } else if (roll < 0.8) {
        actions.stall += 1;
        proxy.stallOpen();
        // Longer than the node's 20 s silence limit: it must give up on the connection itself.
        await sleep(22_000);
        proxy.setMode({ stalled: false });
        for (const c of proxy.openConnections()) c.resume();
      } else {
        actions.kick += 1;
        // False when there was nothing to kick, between two connections.
        await kick(user);
      }
      maxOpen = Math.max(maxOpen, proxy.maxOpen);
      await sleep(1000 + random() * 2000);
      if (Date.now() > warmUp && (memory.length === 0 || Date.now() - started - memory[memory.length - 1][0] > 10_000)) {
        forgetSpyHistory();
        collectGarbage();
        memory.push([Date.now() - started, process.memoryUsage().heapUsed]);
      }
    }

    // The chaos stops, but for the other client; everything sent must come out.
    await until(() => sent.every((s) => emitted.has(s)), 120_000, 'every appended email to be emitted');
    await sleep(2000);
    const busyRecord = await busy.stop();
    busy = undefined;
    const box = await listMailbox(user);
    const emittedSubjects = new Set(emitted.keys());
    const readNotEmitted = box.filter((m) => m.seen && !emittedSubjects.has(m.subject));
    const unread = box.filter((m) => !m.seen);
    const perHour = memory.length >= 3 ? (slope(memory) * 3_600_000) / MiB : 0;

    t.diagnostic(`actions: ${JSON.stringify(actions)}; emails: ${sent.length}; emitted keys: ${keys.size}; duplicates: ${duplicates}`);
    t.diagnostic(`the other client: ${busyRecord.toggles} flag rounds, ${busyRecord.reconnects} new sessions`);
    t.diagnostic(`connections: ${proxy.total} in all, at most ${maxOpen} open at once, ${proxy.open} open at the end`);
    t.diagnostic(`heap after warm-up: ${memory.map(([, h]) => (h / MiB).toFixed(1)).join(' ')} MiB; trend ${perHour.toFixed(1)} MiB/hour`);

    assert.ok(actions.restart === 1 && actions.redeploy === 1 && actions.append > 0, 'the chaos ran');
    assert.ok(busyRecord.toggles > 0, 'the other client kept busy');
    assert.deepEqual(emittedWithoutBody, [], 'every emitted message a whole email');
    assert.deepEqual(sent.filter((s) => !emitted.has(s)), [], 'nothing lost');
    assert.equal(duplicates, 0, 'nothing emitted twice');
    assert.deepEqual(readNotEmitted, [], 'nothing marked read without being emitted');
    assert.deepEqual(unread, [], 'everything emitted was marked read');
    assert.ok(proxy.open <= 1, `one connection at the end, ${proxy.open} open`);
    assert.ok(maxOpen <= 2, `at most one connection plus one being replaced, saw ${maxOpen}`);
    if (minutes >= 5) assert.ok(perHour < 20, `heap grows ${perHour.toFixed(1)} MiB/hour after warm-up`);
  });
});
