// A real Node-RED process killed with SIGKILL (no close handlers, nothing flushed) and started
// again on the same user directory: the Receive Email nodes emit only the mail that is new, with
// Unseen Only off (progress from the node's state file) and on (the server's flags), and a node
// whose first run took only mail from then on (push on) keeps that starting point.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { NodeRedProcess } from '../support/node-red-process';
import { duplicates } from '../support/receive-watch';
import { appendMessages, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until } from '../support/wait';

strictProcess();

const subjects = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}`);

function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}

/** Receive Email → change (payload = subject) → file (one line per email), for each user. */
interface Receiving {
  id: string;
  user: string;
  unseenOnly: boolean;
  file: string;
  start?: 'all' | 'new';
  push?: boolean;
}

function flows(receivers: Receiving[]): unknown[] {
  const info = serverInfo();
  return [
    { id: 'tab', type: 'tab', label: 'restart' },
    ...receivers.flatMap((r) => [
      {
        id: `conn-${r.id}`,
        type: 'mailwire-receive-connection',
        name: r.id,
        description: '',
        protocol: 'imap',
        host: '127.0.0.1',
        port: info.ports.imap,
        security: 'none',
        certificate: '',
        credentials: { user: r.user, password: info.password },
      },
      { id: r.id, type: 'mailwire-receive-email', z: 'tab', name: '', connection: `conn-${r.id}`, folder: '', unseenOnly: r.unseenOnly, delay: 300, delayUnit: 'ms', maxEmails: -1, start: r.start, push: r.push, wires: [[`subject-${r.id}`]] },
      { id: `subject-${r.id}`, type: 'change', z: 'tab', name: '', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'topic', tot: 'msg' }], wires: [[`file-${r.id}`]] },
      { id: `file-${r.id}`, type: 'file', z: 'tab', name: '', filename: r.file, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', wires: [] },
    ]),
  ];
}

describe('Node-RED killed with SIGKILL and restarted', () => {
  it('emits only the new mail after the restart (Unseen Only off and on; first run from now on, with push)', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-sigkill-'));
    const all: Receiving = { id: 'recv-all', user: uniqueUser('killall'), unseenOnly: false, file: path.join(out, 'all.txt') };
    const unseen: Receiving = { id: 'recv-unseen', user: uniqueUser('killunseen'), unseenOnly: true, file: path.join(out, 'unseen.txt') };
    const fromNow: Receiving = { id: 'recv-new', user: uniqueUser('killnew'), unseenOnly: true, file: path.join(out, 'new.txt'), start: 'new', push: true };
    const before = subjects('before', 5);
    const later = subjects('while down', 3);
    for (const r of [all, unseen, fromNow]) await appendMessages(r.user, before.map((s) => simpleMessage(s)));

    let red = await NodeRedProcess.start();
    const userDir = red.userDir;
    try {
      const deployed = await red.api('POST', '/flows', { flows: flows([all, unseen, fromNow]) });
      assert.equal(deployed.status, 200, await deployed.text());
      await until(() => lines(all.file).length === 5 && lines(unseen.file).length === 5, 20_000, 'the first five in both files');
      await sleep(700); // idle polls: the state is on disk
      assert.deepEqual(lines(fromNow.file), [], 'the first run "from now on" took nothing that was there');
      await red.kill('SIGKILL');

      for (const r of [all, unseen, fromNow]) await appendMessages(r.user, later.map((s) => simpleMessage(s)));
      red = await NodeRedProcess.start({ userDir });
      await until(() => lines(all.file).length >= 8 && lines(unseen.file).length >= 8 && lines(fromNow.file).length >= 3, 30_000, 'the three new ones in every file');
      await sleep(1500); // several more polls: anything emitted a second time would show now
      for (const r of [all, unseen]) {
        const got = lines(r.file);
        assert.deepEqual(got, [...before, ...later], `${r.id}: only the new ones after the restart`);
        assert.deepEqual(duplicates(got), []);
      }
      assert.deepEqual(lines(fromNow.file), later, 'from now on: the restart did not move the starting point');
      assert.ok(fs.existsSync(path.join(userDir, 'mailwire-state', 'recv-all.json')), 'progress kept in the user directory');
    } finally {
      await red.stop();
    }
  });
});
