// One side of the push latency benchmark (push.ts), in a process of its own so the two sides do
// not share an event loop:
//   node:  our Receive Email node in a Node-RED runtime (node-red-node-test-helper, loaded as
//          run-one.ts loads it), IMAPS to localhost with the server certificate pinned;
//   floor: a bare imapflow session on the same INBOX, over the same IMAPS, that holds IDLE and on
//          each EXISTS fetches what is new (UID FETCH <last+1>:* BODY.PEEK[]) and parses it with
//          mailparser: the least any IDLE client has to do.
// Started by push.ts with the job as JSON in argv[2]; tells the parent over IPC when it is ready
// and every message it handed on (with the clock() time), until the parent says stop.
import fs from 'node:fs';
import type { SimpleParserOptions } from 'mailparser';
import type { Node, NodeMessage, NodeStatus } from 'node-red';
import type { NodeInitializer } from '../test/support/flows';
import { drainMarker, drainSubject } from './messages';
import { clock } from './smtp';

export interface PushJob {
  side: 'node' | 'floor';
  user: string;
  password: string;
  host: string;
  port: number;
  certificatePem: string;
  /** Our node only: its Push setting and Delay (seconds). */
  push: boolean;
  delayS: number;
}

export type PushChildMessage =
  | { type: 'ready' }
  /** A message handed on: `index` from its subject (-1: not one of ours), `intact`: subject and text as sent. */
  | { type: 'message'; index: number; intact: boolean; at: number }
  /** Floor only: the server announced a mailbox of `count` messages. */
  | { type: 'exists'; count: number; at: number }
  /** Something the parent should print: an error from the node or the session. */
  | { type: 'problem'; text: string };

export type PushParentMessage = { type: 'stop' };

const job = JSON.parse(process.argv[2] ?? '{}') as PushJob;

/** The options our node passes to simpleParser. */
const PARSER_OPTIONS: SimpleParserOptions = { skipImageLinks: true, skipTextToHtml: true };

function tell(message: PushChildMessage): void {
  process.send?.(message);
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 300);
}

/** Which of the bench's messages this is, and whether its subject and text part arrived intact. */
function identify(subject: string | undefined, text: string | undefined): { index: number; intact: boolean } {
  const match = /^Bench (\d{5}):/.exec(subject ?? '');
  if (!match) return { index: -1, intact: false };
  const index = Number(match[1]);
  return { index, intact: (subject ?? '').startsWith(drainSubject(index)) && (text ?? '').includes(drainMarker(index)) };
}

let stopping: (() => Promise<void>) | undefined;
process.on('message', (message: PushParentMessage) => {
  if (message.type !== 'stop') return;
  const exit = (): void => process.exit(0);
  Promise.race([(stopping?.() ?? Promise.resolve()).catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]).finally(exit);
});
process.on('disconnect', () => process.exit(0));
process.on('uncaughtException', (err) => {
  tell({ type: 'problem', text: `uncaught: ${errorText(err)}` });
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  tell({ type: 'problem', text: `unhandled rejection: ${errorText(err)}` });
  process.exit(1);
});

// ---- our node -----------------------------------------------------------------------------

type FlowsModule = typeof import('../test/support/flows');
type Flow = Parameters<FlowsModule['helper']['load']>[1];

interface SpiedMethod {
  /** Set by sinon on its spies: the method it wraps. */
  wrappedMethod?: unknown;
}

async function runNode(): Promise<void> {
  const flows: FlowsModule = await import('../test/support/flows');
  const { helper } = flows;
  const userDir = flows.useTempUserDir();
  stopping = async () => {
    await helper.unload().catch(() => undefined);
    await flows.stopServer().catch(() => undefined);
    fs.rmSync(userDir, { recursive: true, force: true });
  };
  await flows.startServer();
  const nodes = [flows.nodeModule('receive-connection'), flows.nodeModule('receive-email'), flows.coreNode('common/25-catch.js')] as unknown as NodeInitializer;
  const flow = [
    { id: 'tab', type: 'tab' },
    { id: 'conn', type: 'mailwire-receive-connection', name: 'bench', protocol: 'imap', host: job.host, port: job.port, security: 'tls', certificate: job.certificatePem },
    {
      id: 'recv', type: 'mailwire-receive-email', z: 'tab', connection: 'conn', folder: '', unseenOnly: true, delay: job.delayS, delayUnit: 's', maxEmails: -1, push: job.push,
      wires: [['out']],
    },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ] as unknown as Flow;
  await helper.load(nodes, flow, { conn: { user: job.user, password: job.password } });
  const recv = helper.getNode('recv');

  // The moment the node hands an email on is when it calls send(). The test helper's sinon spy
  // on send (which keeps every message) is left out, as in run-one.ts: real Node-RED has none.
  const spied = (recv as unknown as { send: SpiedMethod & Node['send'] }).send;
  const send = (typeof spied.wrappedMethod === 'function' ? spied.wrappedMethod : spied) as (this: Node, msg: NodeMessage) => void;
  Object.defineProperty(recv, 'send', {
    configurable: true,
    writable: true,
    value: (msg: NodeMessage & { topic?: string; payload?: unknown }) => {
      const at = clock();
      send.call(recv, msg);
      tell({ type: 'message', ...identify(msg.topic, typeof msg.payload === 'string' ? msg.payload : undefined), at });
    },
  });

  // Ready once the first poll has ended (green), and a moment later the session idles (push).
  let firstPollAt = 0;
  const status = recv.status.bind(recv);
  recv.status = (s: string | NodeStatus): void => {
    status(s);
    if (typeof s !== 'object') return;
    if (s.fill === 'green' && !firstPollAt) firstPollAt = clock();
    if (s.fill === 'red') tell({ type: 'problem', text: `status: ${String(s.text)}` });
  };
  helper.getNode('caught').on('input', (msg: NodeMessage & { error?: { message?: string } }) => {
    tell({ type: 'problem', text: `Catch: ${msg.error?.message ?? 'error'}` });
  });
  const deadline = clock() + 30_000;
  while (!firstPollAt) {
    if (clock() > deadline) throw new Error('the node did not finish its first poll within 30 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 500));
  tell({ type: 'ready' });
}

// ---- the floor: imapflow alone ------------------------------------------------------------

async function runFloor(): Promise<void> {
  const { ImapFlow } = await import('imapflow');
  const { simpleParser } = await import('mailparser');
  const client = new ImapFlow({
    host: job.host,
    port: job.port,
    secure: true,
    tls: { ca: job.certificatePem, servername: 'localhost' },
    auth: { user: job.user, pass: job.password },
    logger: false,
    disableAutoIdle: true,
  });
  client.on('error', (err: unknown) => tell({ type: 'problem', text: `imapflow: ${errorText(err)}` }));
  await client.connect();
  // EXAMINE: the floor changes nothing on the server (BODY.PEEK, no flags), so it cannot start
  // Dovecot's notification clock for the node's session.
  const mailbox = await client.mailboxOpen('INBOX', { readOnly: true });
  let lastUid = Number(mailbox.uidNext) - 1;
  let running = true;
  stopping = async () => {
    running = false;
    await client.logout().catch(() => client.close());
  };

  const fetchNew = async (): Promise<void> => {
    for await (const message of client.fetch(`${lastUid + 1}:*`, { uid: true, source: true }, { uid: true })) {
      // "n:*" also matches the highest UID when that is below n. And while the FETCH runs the
      // server reports other sessions' changes (the node's \Seen) as untagged FETCH responses,
      // often without a UID, which imapflow hands out of the same iterator: only new messages
      // with a body count.
      if (typeof message.uid !== 'number' || message.uid <= lastUid || !Buffer.isBuffer(message.source)) continue;
      const parsed = await simpleParser(message.source, PARSER_OPTIONS);
      const at = clock();
      lastUid = Math.max(lastUid, message.uid);
      tell({ type: 'message', ...identify(parsed.subject, parsed.text), at });
    }
  };
  let fetching: Promise<void> | undefined;
  let again = false;
  const kick = (): void => {
    if (fetching) {
      again = true;
      return;
    }
    fetching = fetchNew()
      .catch((err: unknown) => tell({ type: 'problem', text: `fetch: ${errorText(err)}` }))
      .finally(() => {
        fetching = undefined;
        if (again) {
          again = false;
          kick();
        }
      });
  };
  client.on('exists', (data: { count: number; prevCount: number }) => {
    if (data.count <= data.prevCount) return;
    tell({ type: 'exists', count: data.count, at: clock() });
    kick();
  });
  // A FETCH breaks the IDLE (imapflow sends DONE first); the loop then idles again behind it.
  void (async () => {
    while (running && client.usable) await client.idle();
  })().catch((err: unknown) => {
    if (running) tell({ type: 'problem', text: `idle: ${errorText(err)}` });
  });
  await new Promise((r) => setTimeout(r, 200));
  tell({ type: 'ready' });
}

(job.side === 'node' ? runNode() : runFloor()).catch((err: unknown) => {
  tell({ type: 'problem', text: `could not start: ${errorText(err)}` });
  process.exit(1);
});
