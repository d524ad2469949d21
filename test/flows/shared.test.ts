// Several instances on one mailbox (shared), within one runtime: two Receive Email nodes on two
// connections (two sessions) to the same INBOX stand for two Node-RED instances. Each email is
// emitted by exactly one of them; one that stops renewing its claims has them taken over after
// the lease; POP3, and a server without the extensions a claim needs, are configuration errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node } from 'node-red';
import { adminClient } from '../support/dovecot-admin';
import { helper } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { Watch, connection, credentials, duplicates, errorLines, flow, receiver } from '../support/receive-watch';
import { appendMessages, listMailbox, serverInfo, simpleMessage, uniqueUser, writeMaildir } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until } from '../support/wait';

strictProcess();

const subjects = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${String(i + 1).padStart(3, '0')}`);

/** The claims folders and how many emails each holds (the heartbeat, marked \\Deleted, not counted). */
async function claimsFolders(user: string): Promise<Array<{ path: string; messages: number }>> {
  const client = await adminClient(user);
  try {
    const paths = (await client.list()).map((m) => m.path).filter((p) => p.startsWith('Mailwire Claims/'));
    const out: Array<{ path: string; messages: number }> = [];
    for (const path of paths) {
      await client.mailboxOpen(path, { readOnly: true });
      out.push({ path, messages: ((await client.search({ deleted: false }, { uid: true })) || []).length });
    }
    return out;
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/** Two instances: receivers A and B on connections conn-a and conn-b to the same user. */
function twoInstances(port: number | undefined, a: Record<string, unknown>, b: Record<string, unknown>): { connections: Array<Record<string, unknown>>; receivers: Array<Record<string, unknown>> } {
  return {
    connections: [{ ...connection('imap', port), id: 'conn-a' }, { ...connection('imap', port), id: 'conn-b' }],
    receivers: [
      receiver({ id: 'recv-a', connection: 'conn-a', shared: true, delay: 200, delayUnit: 'ms', maxEmails: 10, ...a }),
      receiver({ id: 'recv-b', connection: 'conn-b', shared: true, delay: 200, delayUnit: 'ms', maxEmails: 10, ...b }),
    ],
  };
}

describe('shared: several instances on one mailbox', () => {
  const proxyTo = nodeRedSuite();

  it('two instances drain 100 emails: each emitted exactly once, both took part, all read in the INBOX at the end', async () => {
    const watch = new Watch();
    const user = uniqueUser('shared2');
    const names = subjects('shared', 100);
    writeMaildir(user, names.map((s) => simpleMessage(s)));
    const { connections, receivers } = twoInstances(undefined, {}, {});
    await watch.load(flow(connections, receivers), { ...credentials(user, 'conn-a'), ...credentials(user, 'conn-b') });
    await until(() => watch.allSent().length >= 100, 30_000, 'all 100 emitted');
    await sleep(1000);
    const topics = watch.allSent().map((s) => s.msg.topic);
    console.log('A', watch.allSent('recv-a').map((s) => s.msg.email.key).slice(0, 12).join(' '), '\nB', watch.allSent('recv-b').map((s) => s.msg.email.key).slice(0, 12).join(' '));
    assert.deepEqual([...topics].sort(), names, 'each exactly once');
    assert.deepEqual(duplicates(topics), []);
    const byA = watch.allSent('recv-a').length;
    const byB = watch.allSent('recv-b').length;
    assert.ok(byA > 0 && byB > 0, `both took part: ${byA} + ${byB}`);
    const inbox = await listMailbox(user);
    assert.deepEqual(inbox.map((m) => m.subject).sort(), names, 'back in the INBOX');
    assert.ok(inbox.every((m) => m.seen), 'read');
    assert.ok((await claimsFolders(user)).every((f) => f.messages === 0), 'nothing left claimed');
    assert.deepEqual(errorLines(), []);
    console.log(`instance A emitted ${byA}, instance B ${byB}`);
  });

  it('an instance that stops (holding claims, never acknowledging) has its claims taken over after the lease', async () => {
    const watch = new Watch();
    const user = uniqueUser('sharedtake');
    const names = subjects('take', 20);
    await appendMessages(user, names.map((s) => simpleMessage(s)));
    // A acknowledges nothing (settle ack, nothing wired to an Email Done); B settles on emit.
    const { connections, receivers } = twoInstances(undefined, { settle: 'ack', ackTimeout: 600, lease: 2, maxEmails: 5 }, { lease: 2, delay: 500 });
    await watch.load(flow(connections, receivers), { ...credentials(user, 'conn-a'), ...credentials(user, 'conn-b') });
    await until(() => watch.allSent('recv-a').length >= 1, 10_000, 'A holding some');
    // A stops: its node closes (no more renewals), as if its Node-RED had died.
    await new Promise<void>((resolve) => (helper.getNode('recv-a') as unknown as Node).close(false).then(() => resolve()));
    const heldByA = new Set(watch.allSent('recv-a').map((s) => s.msg.topic));
    const stoppedAt = Date.now();
    // A settles nothing, so B ends up emitting all 20: the rest as it claims them, A's after the lease.
    await until(() => names.every((n) => watch.allSent('recv-b').some((s) => s.msg.topic === n)), 20_000, () => `B emitted everything, A's too; A ${watch.allSent('recv-a').length}, B ${watch.allSent('recv-b').length}; B statuses ${JSON.stringify(watch.current('recv-b').statuses.slice(-3).map((x) => x.text))}; errors ${JSON.stringify(errorLines())}`);
    const took = Date.now() - stoppedAt;
    const byB = watch.allSent('recv-b').map((s) => s.msg.topic);
    assert.deepEqual(duplicates(byB), [], 'B emitted each once');
    const both = [...heldByA].filter((t) => byB.includes(t));
    assert.deepEqual(both.sort(), [...heldByA].sort(), 'what A held was taken over: emitted again by B, and nothing else twice');
    assert.ok(took <= 2000 + 500 + 5000, `taken over within lease + delay + a margin: ${took} ms`);
    await until(async () => (await listMailbox(user)).filter((m) => m.seen).length === names.length, 10_000, 'all back and read');
    console.log(`A held ${heldByA.size}; B had them ${took} ms after A stopped`);
  });

  it('configuration errors: shared on POP3; a server without MOVE', async () => {
    const watch = new Watch();
    const user = uniqueUser('sharedbad');
    await appendMessages(user, [simpleMessage('waits')]);
    const proxy = await proxyTo(serverInfo().ports.imap);
    proxy.rewriteServerLine = (line) => (/CAPABILITY/i.test(line) ? line.replace(/ MOVE\b/g, '') : line);
    await watch.load(
      flow([{ ...connection('pop3'), id: 'conn-pop' }, connection('imap', proxy.port)], [
        receiver({ id: 'recv-pop', connection: 'conn-pop', shared: true }),
        receiver({ shared: true }),
      ]),
      { ...credentials(user, 'conn-pop'), ...credentials(user) },
    );
    // POP3: refused as the node starts (logged); IMAP without MOVE: at the first poll (to Catch).
    await until(() => watch.current('recv').errors.length >= 1, 10_000, 'the IMAP error');
    assert.deepEqual(errorLines(), ['mailwire-receive-email.errors.shared-pop3']);
    assert.deepEqual(watch.current('recv').errors.map((e) => e.text), ['mailwire-receive-connection.errors.invalid-config']);
    const retrying = watch.current('recv').statuses.find((s) => s.text === 'mailwire-receive-email.status.retrying');
    assert.equal(retrying && watch.valuesOf(retrying)?.reason, 'mailwire-receive-email.short.invalid-config');
    await sleep(500);
    assert.deepEqual(watch.allSent(), [], 'nothing emitted');
    assert.deepEqual((await listMailbox(user)).map((m) => m.seen), [false], 'nothing changed');
  });
});
