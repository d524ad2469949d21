// Sends 500 messages through one Send Email node (a Node-RED runtime from the test helper, the
// connection's pooled transport) and the same 500 with nodemailer alone over one pooled
// connection, against the private Postfix (submissions: implicit TLS + AUTH), in one run.
// Time is from the first send until the server accepted the last message.
import fs from 'node:fs';
import nodemailer from 'nodemailer';
import type { NodeMessage } from 'node-red';
import type { NodeInitializer } from '../test/support/flows';
import { coreNode, helper, nodeModule, startServer, stopServer, useTempUserDir } from '../test/support/flows';
import { certificatePem, serverInfo, uniqueUser } from '../test/support/servers';
import { until } from '../test/support/wait';

const COUNT = Number(process.env.MAILWIRE_SEND_COUNT ?? 500);

interface Row {
  implementation: string;
  ms: number;
  failures: number;
}

function body(i: number): { subject: string; text: string } {
  return { subject: `bench ${i}`, text: `Message ${i} of the send benchmark.\n`.repeat(20) };
}

async function ourNode(rcpt: string): Promise<Row> {
  useTempUserDir();
  await startServer();
  const info = serverInfo();
  const flow = [
    { id: 'tab', type: 'tab' },
    { id: 'sconn', type: 'mailwire-send-connection', host: 'localhost', port: info.ports.submissions, security: 'tls', certificate: certificatePem() },
    { id: 'send', type: 'mailwire-send-email', z: 'tab', connection: 'sconn', from: 'bench@example.test', to: `${rcpt}@example.test`, subject: '', text: '', cc: '', bcc: '', priority: 'consumed', wires: [['out']] },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ];
  // The helper's typings take one initializer; its code takes an array as well.
  const nodes = [nodeModule('send-connection'), nodeModule('send-email'), coreNode('common/25-catch.js')] as unknown as NodeInitializer;
  await helper.load(nodes, flow as unknown as Parameters<typeof helper.load>[1], { sconn: { user: 'bench', password: info.password } });
  let done = 0;
  let failures = 0;
  helper.getNode('out').on('input', () => (done += 1));
  helper.getNode('caught').on('input', () => (failures += 1));
  const send = helper.getNode('send');
  const started = process.hrtime.bigint();
  for (let i = 0; i < COUNT; i += 1) {
    const { subject, text } = body(i);
    send.receive({ subject, payload: text } as unknown as NodeMessage);
  }
  await until(() => done + failures >= COUNT, 300000, 'all sends');
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await helper.unload();
  await stopServer();
  return { implementation: 'mailwire Send Email node (pooled, 3 connections)', ms, failures };
}

async function bareNodemailer(rcpt: string, maxConnections: number): Promise<Row> {
  const info = serverInfo();
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections,
    maxMessages: Infinity,
    host: 'localhost',
    port: info.ports.submissions ?? 0,
    secure: true,
    auth: { user: 'bench', pass: info.password },
    tls: { ca: fs.readFileSync(info.certificate, 'utf8'), servername: 'localhost' },
  });
  let failures = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: COUNT }, (_, i) => {
      const { subject, text } = body(i);
      return transport.sendMail({ from: 'bench@example.test', to: `${rcpt}@example.test`, subject, text }).catch(() => (failures += 1));
    }),
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  transport.close();
  return { implementation: `nodemailer alone (pool, ${maxConnections} connection${maxConnections > 1 ? 's' : ''})`, ms, failures };
}

export async function runSendBench(): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push(await bareNodemailer(uniqueUser('bench-nm1'), 1));
  rows.push(await ourNode(uniqueUser('bench-node')));
  rows.push(await bareNodemailer(uniqueUser('bench-nm3'), 3));
  return rows;
}

export function printSendRows(rows: Row[]): void {
  process.stdout.write(`\nSend ${COUNT} messages to Postfix (submissions: implicit TLS + AUTH)\n`);
  process.stdout.write(`${'implementation'.padEnd(52)}${'time ms'.padStart(10)}${'msg/s'.padStart(9)}${'failed'.padStart(8)}\n`);
  for (const r of rows) {
    process.stdout.write(`${r.implementation.padEnd(52)}${r.ms.toFixed(0).padStart(10)}${((COUNT / r.ms) * 1000).toFixed(0).padStart(9)}${String(r.failures).padStart(8)}\n`);
  }
}

if (require.main === module) {
  runSendBench().then(
    (rows) => {
      printSendRows(rows);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
