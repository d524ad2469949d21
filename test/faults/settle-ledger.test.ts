// Nothing owed is lost: with settle ack and onSuccess move, an acknowledgement whose MOVE the
// server never answered (the connection was cut after the server carried it out, or before it
// got there) is carried out, or found done, on the next connection before anything new is
// emitted; and a real Node-RED killed with SIGKILL while emails were acknowledged but not moved,
// and others were still in flight, ends with every email moved once: the owed ones from the
// ledger, the ones in flight emitted again with the same msg.email.key.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import { createFolders } from '../support/dovecot-admin';
import { imapTaggedReply } from '../support/fault-proxy';
import type { FaultProxy } from '../support/fault-proxy';
import { helper } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { NodeRedProcess } from '../support/node-red-process';
import { Watch, connection, credentials, duplicates, flow, receiver } from '../support/receive-watch';
import type { Msg } from '../support/receive-watch';
import { appendMessages, listMailbox, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until, within } from '../support/wait';

strictProcess();

const subjects = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${String(i + 1).padStart(2, '0')}`);

const inFolder = async (user: string, folder: string): Promise<string[]> => (await listMailbox(user, folder)).map((m) => m.subject).sort();

describe('settle ack: the ledger under faults', () => {
  const proxyTo = nodeRedSuite();
  const done = [
    { id: 'done-ok', type: 'mailwire-email-done', result: 'success', wires: [['settled']] },
    { id: 'settled', type: 'helper' },
  ];

  /** Deploys a node acknowledging every email at once (success, move to Done), through a proxy. */
  async function deployAcking(user: string, proxy: FaultProxy): Promise<{ watch: Watch; settled: Array<Msg & { email: { settled?: { ok: boolean } } }> }> {
    const watch = new Watch();
    await watch.load(flow([connection('imap', proxy.port)], [receiver({ settle: 'ack', onSuccess: 'move', successFolder: 'Done', delay: 300, delayUnit: 'ms' })], done), credentials(user));
    const settled: Array<Msg & { email: { settled?: { ok: boolean } } }> = [];
    helper.getNode('settled').on('input', (msg: NodeMessage) => settled.push(msg as Msg & { email: { settled?: { ok: boolean } } }));
    helper.getNode('out').on('input', (msg: NodeMessage) => (helper.getNode('done-ok') as unknown as { receive(m: unknown): void }).receive(msg));
    return { watch, settled };
  }

  for (const when of ['after the server moved it', 'before the server got it'] as const) {
    it(`a cut ${when}: the move happens (or is found done) on the next connection, before new mail; each email in Done once`, async () => {
      const user = uniqueUser(when.startsWith('after') ? 'cutafter' : 'cutbefore');
      await createFolders(user, 'Done');
      const first = subjects('ledger', 5);
      await appendMessages(user, first.map((s) => simpleMessage(s)));
      const proxy = await proxyTo(serverInfo().ports.imap);
      const cut = when.startsWith('after')
        ? proxy.when({ clientLine: /UID MOVE/, serverLine: imapTaggedReply, action: 'reset' })
        : proxy.when({ clientLine: /UID MOVE/, action: 'reset' });
      const { watch, settled } = await deployAcking(user, proxy);
      await within(cut.fired, 15_000, 'the cut');
      await until(() => settled.length >= 1, 10_000, 'the acknowledgements answered');
      await appendMessages(user, [simpleMessage('after the cut')]);
      await until(async () => (await inFolder(user, 'Done')).length === 6, 20_000, 'all six in Done');
      await sleep(800);
      assert.deepEqual(await inFolder(user, 'Done'), [...first, 'after the cut'].sort(), 'each once');
      assert.deepEqual(await inFolder(user, 'INBOX'), []);
      assert.deepEqual(duplicates(watch.keys()), [], 'none emitted twice: the owed ones were not in flight any more');
      assert.ok(settled.some((m) => m.email.settled?.ok === false), 'the cut one was reported as not confirmed');
      // On the connection after the cut, the owed MOVE comes before any body is fetched.
      const next = proxy.connections[1].clientText;
      const move = next.search(/UID MOVE/);
      const fetch = next.search(/UID FETCH \S+ \(UID BODY\.PEEK\[\]/);
      assert.ok(when.startsWith('after') || (move >= 0 && (fetch < 0 || move < fetch)), next.split('\r\n').slice(0, 20).join(' | '));
    });
  }

  it('Node-RED killed with SIGKILL with acknowledged-but-unmoved and in-flight emails: after the restart every email is in Done once, none lost', async () => {
    const user = uniqueUser('settlekill');
    await createFolders(user, 'Done');
    const names = subjects('kill', 12);
    await appendMessages(user, names.map((s) => simpleMessage(s)));
    const proxy = await proxyTo(serverInfo().ports.imap);
    // The server never gets a MOVE: every acknowledgement stays owed.
    proxy.onClientLine = (line) => !/UID MOVE/.test(line);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-settlekill-'));
    const keysFile = path.join(out, 'keys.txt');
    const info = serverInfo();
    const flows = [
      { id: 'tab', type: 'tab', label: 'settle kill' },
      { id: 'conn', type: 'mailwire-receive-connection', name: 'k', description: '', protocol: 'imap', host: '127.0.0.1', port: proxy.port, security: 'none', certificate: '', credentials: { user, password: info.password } },
      { id: 'recv', type: 'mailwire-receive-email', z: 'tab', name: '', connection: 'conn', folder: '', unseenOnly: true, delay: 300, delayUnit: 'ms', maxEmails: -1, settle: 'ack', onSuccess: 'move', successFolder: 'Done', wires: [['slow-down']] },
      // Half a second per email: some are acknowledged, the rest still in flight when the process dies.
      { id: 'slow-down', type: 'delay', z: 'tab', name: '', pauseType: 'rate', timeout: '5', timeoutUnits: 'seconds', rate: '2', nbRateUnits: '1', rateUnits: 'second', randomFirst: '1', randomLast: '5', randomUnits: 'seconds', drop: false, allowrate: false, outputs: 1, wires: [['ack']] },
      { id: 'ack', type: 'mailwire-email-done', z: 'tab', name: '', result: 'success', wires: [['to-key']] },
      { id: 'to-key', type: 'change', z: 'tab', name: '', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'email.key', tot: 'msg' }], wires: [['write-keys']] },
      { id: 'write-keys', type: 'file', z: 'tab', name: '', filename: keysFile, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', wires: [] },
    ];
    const lines = (): string[] => (fs.existsSync(keysFile) ? fs.readFileSync(keysFile, 'utf8').split('\n').filter((l) => l !== '') : []);
    let red = await NodeRedProcess.start();
    const userDir = red.userDir;
    try {
      const deployed = await red.api('POST', '/flows', { flows });
      assert.equal(deployed.status, 200, await deployed.text());
      // Acknowledgements wait for the MOVE the server never gets; the flow's later steps wait for them.
      await until(() => proxy.clientText.includes('UID FETCH'), 20_000, 'the emails fetched');
      await sleep(2500);
      await red.kill('SIGKILL');
      assert.deepEqual(await inFolder(user, 'Done'), [], 'nothing moved before the kill');
      proxy.onClientLine = undefined;
      red = await NodeRedProcess.start({ userDir });
      await until(async () => (await inFolder(user, 'Done')).length === names.length, 60_000, 'every email in Done');
      await sleep(1500);
      assert.deepEqual(await inFolder(user, 'Done'), [...names].sort(), 'each once, none lost');
      assert.deepEqual(await inFolder(user, 'INBOX'), []);
      // The acknowledged ones were moved from the ledger without going through the flow again; the
      // ones in flight at the kill went through once more, with their key, and were acknowledged.
      const keys = lines();
      assert.ok(keys.length > 0 && keys.length < names.length, `some were in flight at the kill, not all: ${keys.length}`);
      assert.deepEqual(duplicates(keys), [], 'each of them once after the restart');
    } finally {
      await red.stop();
    }
  });
});
