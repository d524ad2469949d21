// Guarantee 9: StartTLS fails closed. A man in the middle in front of the real Dovecot/Postfix
// strips the StartTLS offer, refuses the STARTTLS command, or (IMAP) greets with PREAUTH. The core
// clients, the node adapters (Receive Email / Send Email in node-red-node-test-helper, with a
// Catch node) and the Validate routes must all end in an error, and nothing the client sent
// through the proxy may contain a credential or a login command. The clients are given the REAL
// password, so a client that failed open would log in and the test would see it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import type { ReceiveSettings, SendSettings } from '../../src/lib/connection-options';
import { connectImap } from '../../src/lib/imap/imap-client';
import { MailError, classifyError } from '../../src/lib/mail-error';
import { Pop3Client } from '../../src/lib/pop3/pop3-client';
import { composeMail } from '../../src/lib/smtp/outgoing-mail';
import { SmtpSender } from '../../src/lib/smtp/smtp-sender';
import { buildTrustOptions } from '../../src/lib/tls-trust';
import type { FaultProxy } from '../support/fault-proxy';
import type { NodeInitializer } from '../support/flows';
import { coreNode, helper, nodeModule } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { certificatePem, serverInfo, uniqueUser } from '../support/servers';
import { startTlsAttack } from '../support/starttls-attack';
import type { Attack, MitmProtocol } from '../support/starttls-attack';
import { strictProcess } from '../support/strict-process';
import { until } from '../support/wait';
import { credentialTraces } from './credentials';

strictProcess();

type Flow = Parameters<typeof helper.load>[1];
type Msg = NodeMessage & Record<string, unknown>;

const QUICK = { connectMs: 5000, greetingMs: 5000, idleSocketMs: 5000 };

function record(id: string): Msg[] {
  const seen: Msg[] = [];
  helper.getNode(id).on('input', (msg: NodeMessage) => seen.push(msg as Msg));
  return seen;
}

async function codeOf(work: () => Promise<unknown>): Promise<string> {
  try {
    await work();
  } catch (err) {
    return (err instanceof MailError ? err : classifyError(err)).code;
  }
  return 'ok';
}

function receiveSettingsVia(protocol: 'imap' | 'pop3', port: number, user: string, security: 'starttls' | 'none' = 'starttls'): ReceiveSettings {
  return { protocol, host: '127.0.0.1', port, security, certificate: certificatePem(), user, password: serverInfo().password };
}

function sendSettingsVia(port: number, user: string): SendSettings {
  return { host: '127.0.0.1', port, security: 'starttls', certificate: certificatePem(), user, password: serverInfo().password };
}

/** The core client of each protocol, as the runtime uses it. */
async function coreAttempt(protocol: MitmProtocol, port: number, user: string): Promise<string> {
  if (protocol === 'imap') {
    return codeOf(async () => {
      const client = await connectImap(receiveSettingsVia('imap', port, user), QUICK, () => undefined);
      await client.logout().catch(() => client.close());
    });
  }
  if (protocol === 'pop3') {
    const s = receiveSettingsVia('pop3', port, user);
    return codeOf(async () => {
      const client = await Pop3Client.connect({ ...s, trust: buildTrustOptions(s.host, s.certificate), connectTimeoutMs: 5000, commandTimeoutMs: 5000 });
      await client.quit();
    });
  }
  const sender = new SmtpSender(sendSettingsVia(port, user), { maxConnections: 1, retryDelaysMs: [] });
  try {
    const mail = composeMail({ from: 'mitm@example.test', to: `${uniqueUser('mitm-rcpt')}@example.test`, cc: '', bcc: '', subject: 'mitm', text: 'x' }, {}, 'consumed');
    return await codeOf(() => sender.send(mail));
  } finally {
    sender.close();
  }
}

/** The same attempt through the Node-RED node: the Catch node's message. */
async function nodeAttempt(protocol: MitmProtocol, port: number, user: string): Promise<Msg> {
  const password = serverInfo().password;
  const common = [
    { id: 'tab', type: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
    { id: 'out', type: 'helper', z: 'tab' },
  ];
  if (protocol === 'smtp') {
    const flow = [
      ...common,
      { id: 'conn', type: 'mailwire-send-connection', name: 'mitm', host: '127.0.0.1', port, security: 'starttls', certificate: certificatePem() },
      { id: 'node', type: 'mailwire-send-email', z: 'tab', connection: 'conn', from: 'mitm@example.test', to: 'mitm-rcpt@example.test', subject: 's', text: 't', cc: '', bcc: '', priority: 'input', wires: [['out']] },
    ];
    const nodes = [nodeModule('send-connection'), nodeModule('send-email'), coreNode('common/25-catch.js')] as unknown as NodeInitializer;
    await helper.load(nodes, flow as unknown as Flow, { conn: { user, password } });
    const caught = record('caught');
    const out = record('out');
    helper.getNode('node').receive({ payload: 'x' } as unknown as NodeMessage);
    await until(() => caught.length + out.length >= 1, 10000, 'the Send Email outcome');
    assert.equal(out.length, 0, 'nothing was sent');
    return caught[0];
  }
  const flow = [
    ...common,
    { id: 'conn', type: 'mailwire-receive-connection', name: 'mitm', protocol, host: '127.0.0.1', port, security: 'starttls', certificate: certificatePem() },
    { id: 'node', type: 'mailwire-receive-email', z: 'tab', connection: 'conn', folder: '', unseenOnly: true, delay: 1, delayUnit: 's', maxEmails: 5, wires: [['out']] },
  ];
  const nodes = [nodeModule('receive-connection'), nodeModule('receive-email'), coreNode('common/25-catch.js')] as unknown as NodeInitializer;
  await helper.load(nodes, flow as unknown as Flow, { conn: { user, password } });
  const caught = record('caught');
  await until(() => caught.length >= 1, 10000, 'the Receive Email error');
  return caught[0];
}

async function validateAttempt(protocol: MitmProtocol, port: number, user: string): Promise<{ ok: boolean; code: string }> {
  const password = serverInfo().password;
  const body = protocol === 'smtp'
    ? { ...sendSettingsVia(port, user), password }
    : { ...receiveSettingsVia(protocol, port, user), password };
  const res = await helper.request().post(`/mailwire/validate/${protocol === 'smtp' ? 'send' : 'receive'}`).send(body).expect(200);
  return res.body as { ok: boolean; code: string };
}

interface Case {
  protocol: MitmProtocol;
  attack: Attack;
  what: string;
}

const CASES: Case[] = [
  { protocol: 'imap', attack: 'strip', what: 'STARTTLS removed from the greeting and CAPABILITY' },
  { protocol: 'imap', attack: 'refuse', what: 'STARTTLS answered NO by the proxy' },
  { protocol: 'imap', attack: 'preauth', what: 'a PREAUTH greeting' },
  { protocol: 'pop3', attack: 'strip', what: 'STLS removed from CAPA' },
  { protocol: 'pop3', attack: 'refuse', what: 'STLS answered -ERR by the proxy' },
  { protocol: 'smtp', attack: 'strip', what: 'STARTTLS removed from the EHLO reply' },
  { protocol: 'smtp', attack: 'refuse', what: 'STARTTLS answered 454 by the proxy' },
];

function targetPort(protocol: MitmProtocol): number {
  const ports = serverInfo().ports;
  return protocol === 'imap' ? ports.imap : protocol === 'pop3' ? ports.pop3 : (ports.submission as number);
}

describe('StartTLS fails closed (guarantee 9)', () => {
  const faultProxy = nodeRedSuite();
  const proxy = async (protocol: MitmProtocol, attack: Attack): Promise<FaultProxy> => startTlsAttack(await faultProxy(targetPort(protocol)), protocol, attack);

  for (const c of CASES) {
    it(`${c.protocol.toUpperCase()}, ${c.what}: core, node and Validate fail, no credential crosses the wire`, async () => {
      const mitm = await proxy(c.protocol, c.attack);
      const user = uniqueUser(`mitm-${c.protocol}`);
      const password = serverInfo().password;

      const core = await coreAttempt(c.protocol, mitm.port, user);
      const caught = await nodeAttempt(c.protocol, mitm.port, user);
      // With the node still loaded (and, for Receive Email, still retrying through the proxy).
      const validated = await validateAttempt(c.protocol, mitm.port, user);

      // Strip and PREAUTH: we say exactly why. Refuse: the library's error, which must still be an error.
      const expected = 'starttls-unavailable';
      assert.equal(core, expected, `core client: ${core}`);
      const nodeCode = c.protocol === 'smtp' ? (caught.error as { code?: string }).code : caught.topic;
      assert.equal(nodeCode, expected, `node: ${JSON.stringify(caught.error)}`);
      assert.equal(validated.ok, false);
      assert.equal(validated.code, expected, `Validate: ${JSON.stringify(validated)}`);

      // The attack really happened, and every attempt went through the proxy.
      assert.ok(mitm.total >= 3, `connections through the proxy: ${mitm.total}`);
      const told = mitm.toClientText;
      if (c.attack === 'strip') assert.doesNotMatch(told, c.protocol === 'pop3' ? /^STLS/m : /STARTTLS/, 'the offer was stripped');
      if (c.attack === 'refuse') assert.match(mitm.clientText, c.protocol === 'pop3' ? /^STLS\r\n/m : /STARTTLS\r\n/, 'the client asked for TLS and was refused');
      if (c.attack === 'preauth') assert.match(told, /^\* PREAUTH /m);

      assert.deepEqual(credentialTraces(mitm.clientText, user, password), [], `the client sent:\n${mitm.clientText}`);
      assert.ok(!mitm.clientText.includes(user), 'not even the user name');
    });
  }

  it('controls: the proxy passes an honest StartTLS session through (credentials then travel encrypted), and the grep finds a plain-text login', async () => {
    const password = serverInfo().password;
    for (const protocol of ['imap', 'pop3', 'smtp'] as const) {
      const honest = await proxy(protocol, 'none');
      const user = uniqueUser(`honest-${protocol}`);
      assert.equal(await coreAttempt(protocol, honest.port, user), 'ok', `${protocol} through an honest proxy`);
      assert.match(honest.clientText, protocol === 'pop3' ? /^STLS\r\n/m : /STARTTLS\r\n/);
      assert.deepEqual(credentialTraces(honest.clientText, user, password), [], `${protocol}: credentials only inside TLS`);
    }
    // Security "none" (the user's explicit choice) through a stripping proxy: the login is in the
    // clear, and the grep used above sees it.
    for (const protocol of ['imap', 'pop3'] as const) {
      const mitm = await proxy(protocol, 'strip');
      const user = uniqueUser(`plain-${protocol}`);
      const s = receiveSettingsVia(protocol, mitm.port, user, 'none');
      const code = protocol === 'imap'
        ? await codeOf(async () => (await connectImap(s, QUICK, () => undefined)).logout())
        : await codeOf(async () => (await Pop3Client.connect({ ...s, trust: buildTrustOptions(s.host, ''), connectTimeoutMs: 5000 })).quit());
      assert.equal(code, 'ok');
      assert.notDeepEqual(credentialTraces(mitm.clientText, user, password), [], `${protocol}: the detector sees a plain login`);
    }
  });
});
