// Dovecot itself stopped for 30 s under running Receive Email nodes (IMAP and POP3, Delay 2 s):
// the back-off grows to its cap (one delay + 8 s), the status says why, the nodes never stop
// polling, and mail that arrives after the restart is emitted within one delay plus 10 s.
//
// This file stops the shared private Dovecot (not Postfix); it is started again in a finally.
// Other test runs against the same Dovecot at that moment will see it gone for about 30 s.
//
// `dovecot stop` (2.3) ends the master and the login listeners but leaves logged-in IMAP sessions
// running, orphaned (checked by hand: a session answers NOOP with the master gone). A node that
// keeps its IMAP connection between polls would then not notice the outage at all. So the IMAP
// node talks to Dovecot through the fault proxy, which at the stop does what a server shutdown
// with shutdown_clients does: it ends the session and stops listening, so that reconnects are
// refused by the operating system (ECONNREFUSED) until Dovecot is back. The POP3 node (a new
// session per poll) connects to Dovecot directly.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { portOpen, startDovecot, stopDovecot } from '../support/dovecot-admin';
import { nodeRedSuite } from '../support/node-red-suite';
import { Watch, connection, credentials, flow, receiver } from '../support/receive-watch';
import type { Instance } from '../support/receive-watch';
import { appendMessages, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until } from '../support/wait';

strictProcess();

const DELAY_MS = 2000;
const OUTAGE_MS = 30_000;
const BACKOFF_CAP_S = (DELAY_MS + 8000) / 1000;
const RETRYING = 'mailwire-receive-email.status.retrying';
const POLLED = 'mailwire-receive-email.status.polled';

describe('Dovecot stopped for 30 s', () => {
  const faultProxy = nodeRedSuite();
  after(async () => {
    // Whatever happened, Dovecot is left running.
    await startDovecot();
  });

  it('back-off grows to a cap, status says why, polling never stops, new mail within one delay + 10 s of the restart', async () => {
    const watch = new Watch();
    const imapUser = uniqueUser('outimap');
    const popUser = uniqueUser('outpop');
    const proxy = await faultProxy(serverInfo().ports.imap);
    await watch.load(
      flow(
        [connection('imap', proxy.port), { ...connection('pop3'), id: 'conn-pop' }],
        [receiver({ delay: DELAY_MS / 1000, delayUnit: 's' }), receiver({ id: 'recv-pop', connection: 'conn-pop', delay: DELAY_MS / 1000, delayUnit: 's' })],
      ),
      { ...credentials(imapUser), ...credentials(popUser, 'conn-pop') },
    );
    const nodes: Instance[] = [watch.current('recv'), watch.current('recv-pop')];
    await until(() => nodes.every((n) => n.statuses.some((s) => s.text === POLLED)), 15_000, 'a first good poll');

    const stoppedAt = Date.now();
    let restartedAt = 0;
    let startMs = 0;
    try {
      await stopDovecot();
      proxy.stopListening();
      proxy.cutAll();
      await sleep(OUTAGE_MS - (Date.now() - stoppedAt));
    } finally {
      const starting = Date.now();
      await startDovecot();
      await proxy.resumeListening();
      restartedAt = Date.now();
      startMs = restartedAt - starting;
    }
    assert.ok(startMs < 10_000, `Dovecot took ${startMs} ms to start`);
    assert.ok(await portOpen(serverInfo().ports.imap));
    await Promise.all([appendMessages(imapUser, [simpleMessage('after the outage')]), appendMessages(popUser, [simpleMessage('after the outage')])]);
    const arrivedAt = Date.now();
    await until(() => nodes.every((n) => n.sent.length === 1), DELAY_MS + 10_000 + 5000, 'the new mail');
    // The status follows once the poll that emitted it has ended (after its \Seen store).
    await until(() => nodes.every((n) => n.statuses.some((s) => s.at > restartedAt && s.text === POLLED)), 5000, 'a good poll after the restart');

    const measured = nodes.map((n) => {
      const retrying = n.statuses.filter((s) => s.at >= stoppedAt && s.at <= restartedAt && s.text === RETRYING);
      // The values behind each retrying status (the helper's RED._ drops them from the text).
      const retries = retrying.map((s) => watch.valuesOf(s) ?? {});
      return {
        n,
        retrying,
        seconds: retries.map((v) => Number(v.seconds)),
        reasons: [...new Set(retries.map((v) => String(v.reason)))],
        emittedAt: n.sent[0].at,
      };
    });
    console.log(
      `outage ${restartedAt - stoppedAt} ms (Dovecot start ${startMs} ms)\n` +
        measured
          .map(({ n, seconds, reasons, emittedAt }) => `${n.id}: back-off ${seconds.join(', ')} s (${reasons.join(', ')}); first email ${emittedAt - restartedAt} ms after the restart (${emittedAt - arrivedAt} ms after it arrived); ${n.errors.length} node.error`)
          .join('\n'),
    );

    for (const { n, retrying, seconds, reasons, emittedAt } of measured) {
      assert.ok(retrying.length >= 4, `${n.id}: kept retrying through the outage (${retrying.length})`);
      assert.ok(seconds.every((s, i) => i === 0 || s >= seconds[i - 1]), `${n.id}: the back-off only grows: ${seconds.join(', ')}`);
      assert.equal(Math.max(...seconds), BACKOFF_CAP_S, `${n.id}: the back-off reaches its cap: ${seconds.join(', ')}`);
      assert.ok(seconds.filter((s) => s === BACKOFF_CAP_S).length >= 2, `${n.id}: and stays there: ${seconds.join(', ')}`);
      assert.ok(reasons.includes('mailwire-receive-email.short.refused'), `${n.id}: the status says why: ${reasons.join(', ')}`);
      const lastTry = Math.max(...retrying.map((s) => s.at));
      assert.ok(restartedAt - lastTry <= BACKOFF_CAP_S * 1000 + 1500, `${n.id}: still trying at the end of the outage`);
      assert.ok(emittedAt - restartedAt <= DELAY_MS + 10_000, `${n.id}: first email ${emittedAt - restartedAt} ms after the restart`);
      // node.error once per streak of the same failure, not once per retry.
      assert.ok(n.errors.length <= 3 && n.errors.length < retrying.length, `${n.id}: ${n.errors.length} errors for ${retrying.length} retries`);
      assert.ok(n.statuses.some((s) => s.at > restartedAt && s.text === POLLED), `${n.id}: polling again`);
    }
  });
});
