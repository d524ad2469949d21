// First run "only emails that arrive from now on" (start: new) under the real Receive Email node
// against the real Dovecot: nothing in the folder at the first deploy is emitted or changed
// (IMAP with Unseen Only on and off, POP3 with delete on), a later email is, and a redeploy or a
// Node-RED restart (a new runtime over the same user directory) does not move the starting point.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { helper } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { appendMessages, listMailbox, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { Watch, connection, credentials, flow, receiver } from '../support/receive-watch';
import { sleep, until } from '../support/wait';

strictProcess();

const POLLED = 'mailwire-receive-email.status.polled';
const subjects = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${String(i + 1).padStart(2, '0')}`);

describe('first run: only emails that arrive from now on', () => {
  nodeRedSuite();

  /** Deploys, lets it poll a few times, and returns the instance. */
  async function deploy(watch: Watch, protocol: 'imap' | 'pop3', user: string, overrides: Record<string, unknown>): Promise<void> {
    await watch.load(flow([connection(protocol)], [receiver({ delay: 200, delayUnit: 'ms', maxEmails: -1, start: 'new', ...overrides })]), credentials(user));
    const recv = watch.current();
    await until(() => recv.statuses.filter((s) => s.text === POLLED).length >= 3, 10_000, 'three polls');
  }

  for (const unseenOnly of [true, false]) {
    it(`IMAP, Unseen Only ${unseenOnly ? 'on' : 'off'}: the ten waiting are neither emitted nor changed; a later one is; a redeploy changes nothing`, async () => {
      const watch = new Watch();
      const user = uniqueUser(unseenOnly ? 'newunseen' : 'newall');
      await appendMessages(user, subjects('old read', 2).map((s) => simpleMessage(s)), { seen: true });
      await appendMessages(user, subjects('old unread', 10).map((s) => simpleMessage(s)));
      const before = await listMailbox(user);

      await deploy(watch, 'imap', user, { unseenOnly });
      assert.deepEqual(watch.allSent(), [], 'nothing that was there is emitted');
      assert.deepEqual(await listMailbox(user), before, 'nor changed');

      await appendMessages(user, [simpleMessage('later one')]);
      await until(() => watch.allSent().length === 1, 10_000, 'the later one');
      assert.equal(watch.allSent()[0].msg.topic, 'later one');

      // Redeploy: the same node over the same user directory.
      await helper.unload();
      await deploy(watch, 'imap', user, { unseenOnly });
      await appendMessages(user, [simpleMessage('after the redeploy')]);
      await until(() => watch.allSent().length === 2, 10_000, 'the one after the redeploy');
      await sleep(600);
      assert.deepEqual(watch.allSent().map((s) => s.msg.topic), ['later one', 'after the redeploy']);
      const box = await listMailbox(user);
      assert.deepEqual(box.slice(0, before.length), before, 'the old ones still as they were');
      assert.equal(box.filter((m) => m.seen).length, before.filter((m) => m.seen).length + (unseenOnly ? 2 : 0), unseenOnly ? 'only the new ones marked read' : 'no flag changed');
    });
  }

  it('POP3 with delete on: the ten waiting are neither emitted nor deleted; a later one is emitted and deleted; a redeploy changes nothing', async () => {
    const watch = new Watch();
    const user = uniqueUser('newpop');
    const old = subjects('old', 10);
    await appendMessages(user, old.map((s) => simpleMessage(s)));

    await deploy(watch, 'pop3', user, { pop3Delete: true });
    assert.deepEqual(watch.allSent(), []);
    await appendMessages(user, [simpleMessage('later one')]);
    await until(() => watch.allSent().length === 1, 10_000, 'the later one');
    await until(async () => (await listMailbox(user)).length === 10, 5000, 'the later one deleted');

    await helper.unload();
    await deploy(watch, 'pop3', user, { pop3Delete: true });
    await appendMessages(user, [simpleMessage('after the redeploy')]);
    await until(() => watch.allSent().length === 2, 10_000, 'the one after the redeploy');
    await until(async () => (await listMailbox(user)).length === 10, 5000, 'that one deleted too');
    assert.deepEqual(watch.allSent().map((s) => s.msg.topic), ['later one', 'after the redeploy']);
    assert.deepEqual((await listMailbox(user)).map((m) => m.subject), old, 'the ten still there, untouched');
  });

  it('start absent (an older flow) keeps taking every email waiting', async () => {
    const watch = new Watch();
    const user = uniqueUser('startabsent');
    await appendMessages(user, subjects('waiting', 3).map((s) => simpleMessage(s)));
    await watch.load(flow([connection('imap')], [receiver({ delay: 200, delayUnit: 'ms', maxEmails: -1 })]), credentials(user));
    await until(() => watch.allSent().length === 3, 10_000, 'the three waiting');
  });
});
