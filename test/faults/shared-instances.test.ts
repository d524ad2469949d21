// Three real Node-RED processes run the same flow with a shared Receive Email on one mailbox of
// 300 emails (settle ack, move to Done after success). Each email is processed exactly once and
// all three take part; then one is killed with SIGKILL while it holds claims: the other two take
// those over within the lease plus one Delay, nothing is lost, and the only emails processed twice
// are ones the dead process held.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { adminClient } from '../support/dovecot-admin';
import { NodeRedProcess } from '../support/node-red-process';
import { duplicates } from '../support/receive-watch';
import { listMailbox, serverInfo, simpleMessage, uniqueUser, writeMaildir } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { until } from '../support/wait';

strictProcess();

const COUNT = 300;
const LEASE_S = 10;
const DELAY_S = 1;
const subject = (i: number): string => `shared ${String(i).padStart(3, '0')}`;

function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}

/** Receive Email (shared) -> 40 emails a second -> the subject into this process's file (the work) -> Email Done. */
function flows(user: string, file: string): unknown[] {
  const info = serverInfo();
  return [
    { id: 'tab', type: 'tab', label: 'shared' },
    { id: 'conn', type: 'mailwire-receive-connection', name: 'shared', description: '', protocol: 'imap', host: '127.0.0.1', port: info.ports.imap, security: 'none', certificate: '', credentials: { user, password: info.password } },
    { id: 'recv', type: 'mailwire-receive-email', z: 'tab', name: '', connection: 'conn', folder: '', unseenOnly: true, delay: DELAY_S, delayUnit: 's', maxEmails: 20, shared: true, lease: LEASE_S, settle: 'ack', onSuccess: 'move', successFolder: 'Done', wires: [['pace']] },
    { id: 'pace', type: 'delay', z: 'tab', name: '', pauseType: 'rate', timeout: '5', timeoutUnits: 'seconds', rate: '40', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: false, allowrate: false, outputs: 1, wires: [['to-subject']] },
    { id: 'to-subject', type: 'change', z: 'tab', name: '', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'topic', tot: 'msg' }], wires: [['write']] },
    { id: 'write', type: 'file', z: 'tab', name: '', filename: file, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', wires: [['ack']] },
    { id: 'ack', type: 'mailwire-email-done', z: 'tab', name: '', result: 'success', wires: [] },
  ];
}

/** The subjects waiting in each claims folder (the heartbeat, marked \Deleted, is not one). */
async function claimed(user: string): Promise<Map<string, string[]>> {
  const client = await adminClient(user);
  try {
    const out = new Map<string, string[]>();
    for (const folder of (await client.list()).map((m) => m.path).filter((p) => p.startsWith('Mailwire Claims/'))) {
      await client.mailboxOpen(folder, { readOnly: true });
      const uids = (await client.search({ deleted: false }, { uid: true })) || [];
      const subjects: string[] = [];
      if (uids.length > 0) for await (const m of client.fetch(uids, { envelope: true }, { uid: true })) subjects.push(m.envelope?.subject ?? '');
      out.set(folder, subjects);
    }
    return out;
  } finally {
    await client.logout().catch(() => client.close());
  }
}

describe('three Node-RED instances share one mailbox', () => {
  it('300 emails: each processed once by one of three; one killed holding claims: the others take over within lease + Delay; nothing lost', { timeout: 240_000 }, async () => {
    const user = uniqueUser('three');
    const names = Array.from({ length: COUNT }, (_, i) => subject(i + 1));
    const admin = await adminClient(user);
    await admin.mailboxCreate('Done');
    await admin.logout();
    writeMaildir(user, names.map((s) => simpleMessage(s)));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-three-'));
    const files = [0, 1, 2].map((i) => path.join(out, `instance-${i}.txt`));
    const reds: NodeRedProcess[] = [];
    try {
      for (const file of files) {
        const red = await NodeRedProcess.start();
        reds.push(red);
        const deployed = await red.api('POST', '/flows', { flows: flows(user, file) });
        assert.equal(deployed.status, 200, await deployed.text());
      }
      // All three at work, and the first one holding claims (emitted, or waiting in its folder).
      await until(() => files.every((f) => lines(f).length >= 10), 60_000, 'all three processing');
      // Its claims folder: the name the receive connection gives it (host, user directory, node id).
      const victimFolder = `Mailwire Claims/${createHash('sha256').update(`${os.hostname()}|${reds[0].userDir}|recv`).digest('hex').slice(0, 10)}`;
      await until(async () => ((await claimed(user)).get(victimFolder) ?? []).length > 0, 20_000, 'the first instance holding claims');
      await reds[0].kill('SIGKILL');
      const killedAt = Date.now();
      const victim = reds.shift();
      assert.ok(victim);
      const held = new Set((await claimed(user)).get(victimFolder) ?? []);
      assert.ok(held.size > 0);
      const survivors = (): Set<string> => new Set([...lines(files[1]), ...lines(files[2])]);
      // (reds now holds the two that live on; the dead one is not stopped again.)
      await until(() => [...held].every((s) => survivors().has(s)), (LEASE_S + DELAY_S) * 1000 + 15_000, 'what the dead one held, processed by the others');
      const takenOverAfter = Date.now() - killedAt;
      await until(async () => (await listMailbox(user, 'Done')).length === COUNT, 120_000, 'all 300 in Done');
      const finishedAfter = Date.now() - killedAt;

      const done = (await listMailbox(user, 'Done')).map((m) => m.subject);
      assert.deepEqual([...done].sort(), names, 'every email in Done, once');
      assert.deepEqual(await listMailbox(user), [], 'nothing left in the INBOX');
      const written = files.map(lines);
      assert.ok(written.every((w) => w.length > 0), `all three took part: ${written.map((w) => w.length).join(', ')}`);
      const all = written.flat();
      assert.deepEqual([...new Set(all)].sort(), names, 'nothing lost: every email went through a flow');
      const twice = duplicates(all);
      assert.deepEqual(twice.filter((s) => !held.has(s)), [], 'processed twice only if the dead one held it');
      for (const w of written) assert.deepEqual(duplicates(w), [], 'no instance processed an email twice');
      assert.ok(takenOverAfter <= (LEASE_S + DELAY_S) * 1000 + 5000, `taken over within lease + Delay (+ 5 s to process them): ${takenOverAfter} ms`);
      console.log(`written per instance: ${written.map((w) => w.length).join(', ')}; held by the dead one at the kill: ${held.size}; processed twice: ${twice.length}; its claims processed by the others ${takenOverAfter} ms after the kill; all done after ${finishedAfter} ms (lease ${LEASE_S} s, Delay ${DELAY_S} s)`);
    } finally {
      await Promise.all(reds.map((r) => r.stop().catch(() => undefined)));
    }
  });
});
