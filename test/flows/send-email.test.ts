import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import type { Node, NodeMessage } from 'node-red';
import type { NodeInitializer } from '../support/flows';
import { coreNode, helper, nodeModule } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { certificatePem, serverInfo, uniqueUser, waitForMessages } from '../support/servers';
import { until } from '../support/wait';

type Flow = Parameters<typeof helper.load>[1];
type Msg = NodeMessage & Record<string, unknown>;

// The helper's typings take one initializer; its code takes an array as well.
const nodes = (): NodeInitializer => [nodeModule('send-connection'), nodeModule('send-email'), coreNode('common/25-catch.js')] as unknown as NodeInitializer;

function flow(sendOverrides: Record<string, unknown>, security: 'none' | 'starttls' | 'tls' = 'tls'): Flow {
  const info = serverInfo();
  const port = { none: info.ports.smtp, starttls: info.ports.submission, tls: info.ports.submissions }[security];
  return [
    { id: 'tab', type: 'tab' },
    { id: 'sconn', type: 'mailwire-send-connection', name: 'smtp', host: security === 'none' ? '127.0.0.1' : 'localhost', port, security, certificate: security === 'none' ? '' : certificatePem() },
    { id: 'send', type: 'mailwire-send-email', z: 'tab', connection: 'sconn', from: 'Node <node@example.test>', to: '', subject: '', text: '', cc: '', bcc: '', priority: 'consumed', wires: [['out']], ...sendOverrides },
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
  ] as unknown as Flow;
}

const credentials = (password = serverInfo().password) => ({ sconn: { user: 'flow-sender', password } });

type StatusSpy = { args: Array<[{ text?: string }]> };

/** The status texts the node has shown so far (the test helper records node.status calls). */
function statusTexts(node: Node): string[] {
  return (node.status as unknown as StatusSpy).args.map(([s]) => s.text ?? '');
}

function record(id: string): Msg[] {
  const seen: Msg[] = [];
  helper.getNode(id).on('input', (msg: NodeMessage) => seen.push(msg as Msg));
  return seen;
}

describe('Send Email in a flow', () => {
  nodeRedSuite();

  it('sends, then passes the message on with msg.sent', async () => {
    const rcpt = uniqueUser('flowrcpt');
    await helper.load(nodes(), flow({}), credentials());
    const out = record('out');
    helper.getNode('send').receive({ to: `${rcpt}@example.test`, subject: 'from a flow', payload: 'hello', keep: 'me' } as unknown as NodeMessage);
    await until(() => out.length === 1, 10000, 'msg.sent');
    const sent = out[0].sent as { messageId: string; accepted: string[]; rejected: string[]; response: string };
    assert.deepEqual(sent.accepted, [`${rcpt}@example.test`]);
    assert.deepEqual(sent.rejected, []);
    assert.match(sent.response, /^250/);
    assert.equal(out[0].keep, 'me', 'the rest of the message passes through');
    const [raw] = await waitForMessages(rcpt, 1);
    assert.equal((await simpleParser(raw)).messageId, sent.messageId);
  });

  for (const priority of ['consumed', 'input'] as const) {
    it(`Parameter Priority "${priority}", field by field, against the real server`, async () => {
      const [typedTo, msgTo, typedCc, msgBcc] = [uniqueUser('tto'), uniqueUser('mto'), uniqueUser('tcc'), uniqueUser('mbcc')];
      await helper.load(nodes(), flow({ priority, from: 'Typed <typed@example.test>', to: `${typedTo}@example.test`, cc: `${typedCc}@example.test`, subject: 'typed subject', text: 'typed text' }), credentials());
      const out = record('out');
      // The message sets from, to, bcc, subject, payload; cc is only typed, bcc only on the message.
      helper.getNode('send').receive({ from: 'Mapped <mapped@example.test>', to: `${msgTo}@example.test`, bcc: `${msgBcc}@example.test`, subject: 'msg subject', payload: 'msg text' } as unknown as NodeMessage);
      await until(() => out.length === 1, 10000, 'the send');
      const winnerTo = priority === 'consumed' ? msgTo : typedTo;
      const [raw] = await waitForMessages(winnerTo, 1);
      const parsed = await simpleParser(raw);
      assert.equal(parsed.from?.value[0].address, priority === 'consumed' ? 'mapped@example.test' : 'typed@example.test');
      assert.equal(parsed.subject, priority === 'consumed' ? 'msg subject' : 'typed subject');
      assert.equal(parsed.text?.trim(), priority === 'consumed' ? 'msg text' : 'typed text');
      assert.equal((parsed.cc as { text: string } | undefined)?.text, `${typedCc}@example.test`, 'cc empty on the message: typed in both modes');
      await waitForMessages(msgBcc, 1); // bcc empty in the node: the message's in both modes
      assert.deepEqual((out[0].sent as { accepted: string[] }).accepted.sort(), [`${winnerTo}@example.test`, `${typedCc}@example.test`, `${msgBcc}@example.test`].sort());
    });
  }

  it('bad input is refused before sending: a Catch node gets it, nothing is passed on, the node keeps working', async () => {
    await helper.load(nodes(), flow({}), credentials());
    const out = record('out');
    const caught = record('caught');
    const send = helper.getNode('send');
    const inputs = [
      { payload: 'no recipient' },
      { to: 'a@example.test\r\nBcc: evil@example.test', payload: 'x' },
      { to: 'a@example.test', subject: 'x\r\nBcc: evil@example.test' },
      { to: 'a@example.test', attachments: [{ path: '/etc/passwd' }] },
      { to: 'a@example.test', from: 'one@example.test, two@example.test' },
    ];
    for (const msg of inputs) send.receive(msg as unknown as NodeMessage);
    await until(() => caught.length === inputs.length, 5000, 'five errors');
    assert.deepEqual(
      caught.map((m) => (m.error as { message: string }).message),
      ['mailwire-send-email.errors.no-recipient', 'mailwire-send-email.errors.bad-address', 'mailwire-send-email.errors.bad-header', 'mailwire-send-email.errors.bad-attachment', 'mailwire-send-email.errors.bad-address'],
    );
    assert.equal(out.length, 0);
    const rcpt = uniqueUser('after');
    send.receive({ to: `${rcpt}@example.test`, payload: 'still works' } as unknown as NodeMessage);
    await until(() => out.length === 1, 10000, 'a good send after the bad ones');
  });

  it('a wrong password: done(err) with the auth text, red status, no secret in the error', async () => {
    await helper.load(nodes(), flow({}), credentials('wrong-password-sentinel'));
    const caught = record('caught');
    helper.getNode('send').receive({ to: 'x@example.test', payload: 'x' } as unknown as NodeMessage);
    await until(() => caught.length === 1, 10000, 'the auth error');
    assert.equal((caught[0].error as { message: string }).message, 'mailwire-send-connection.errors.auth');
    assert.doesNotMatch(JSON.stringify(caught[0]), /wrong-password-sentinel/);
  });

  it('500 messages through one node share the pooled connection and all arrive, each with its own result', async () => {
    const rcpt = uniqueUser('burst');
    await helper.load(nodes(), flow({}), credentials());
    const out = record('out');
    const caught = record('caught');
    const send = helper.getNode('send');
    for (let i = 0; i < 500; i += 1) send.receive({ to: `${rcpt}@example.test`, subject: `burst ${i}`, payload: 'x' } as unknown as NodeMessage);
    await until(() => out.length + caught.length === 500, 60000, '500 sends');
    assert.equal(caught.length, 0);
    // Each message comes out once, carrying the server's answer for its own email.
    assert.deepEqual(new Set(out.map((m) => m.subject)).size, 500);
    for (const m of out) {
      const sent = m.sent as { messageId: string; accepted: string[]; response: string };
      assert.match(sent.response, /^250/);
      assert.deepEqual(sent.accepted, [`${rcpt}@example.test`]);
    }
    assert.equal(new Set(out.map((m) => (m.sent as { messageId: string }).messageId)).size, 500);
    // One "sending" for the burst and one "sent" when its last email was answered, not two per email.
    assert.deepEqual(statusTexts(send), ['mailwire-send-email.status.sending', 'mailwire-send-email.status.sent']);
    const delivered = await waitForMessages(rcpt, 500, 60000);
    assert.equal(delivered.length, 500);
    const subjects = await Promise.all(delivered.map(async (raw) => (await simpleParser(raw)).subject));
    assert.equal(new Set(subjects).size, 500);
  });

  it('a refused email in a burst reaches Catch on its own, the others are sent, and the red status is not overwritten by them', async () => {
    const rcpt = uniqueUser('mixed');
    await helper.load(nodes(), flow({}), credentials());
    const out = record('out');
    const caught = record('caught');
    const send = helper.getNode('send');
    for (let i = 0; i < 20; i += 1) {
      const to = i === 3 ? 'rejected@example.test' : `${rcpt}@example.test`;
      send.receive({ to, subject: `mixed ${i}`, payload: 'x' } as unknown as NodeMessage);
    }
    await until(() => out.length + caught.length === 20, 60000, '20 results');
    assert.equal(out.length, 19);
    assert.equal(caught.length, 1);
    assert.equal(caught[0].subject, 'mixed 3', 'the error comes with the message that failed');
    assert.equal((caught[0].error as { message: string; code?: string }).message, 'mailwire-send-email.errors.smtp');
    const texts = statusTexts(send);
    assert.equal(texts[0], 'mailwire-send-email.status.sending');
    assert.equal(texts.at(-1), 'mailwire-send-email.status.error', texts.join('|'));
    assert.ok(!texts.includes('mailwire-send-email.status.sent'), texts.join('|'));
    await waitForMessages(rcpt, 19, 30000);
    // The next email starts a new burst: "sending", then "sent".
    send.receive({ to: `${rcpt}@example.test`, subject: 'after', payload: 'x' } as unknown as NodeMessage);
    await until(() => out.length === 20, 10000, 'the next send');
    assert.deepEqual(statusTexts(send).slice(texts.length), ['mailwire-send-email.status.sending', 'mailwire-send-email.status.sent']);
  });

  it('a connection whose certificate does not parse: each email fails through Catch with its code, the status turns red', async () => {
    const broken = (flow({}) as unknown as Array<Record<string, unknown>>).map((n) => (n.id === 'sconn' ? { ...n, certificate: '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----' } : n));
    await helper.load(nodes(), broken as unknown as Flow, credentials());
    const out = record('out');
    const caught = record('caught');
    const send = helper.getNode('send');
    send.receive({ to: 'x@example.test', subject: 'one', payload: 'x' } as unknown as NodeMessage);
    send.receive({ to: 'x@example.test', subject: 'two', payload: 'x' } as unknown as NodeMessage);
    await until(() => caught.length === 2, 10000, 'two errors');
    assert.equal(out.length, 0);
    assert.deepEqual(caught.map((m) => m.subject), ['one', 'two']);
    for (const m of caught) assert.equal((m.error as { code?: string }).code, 'invalid-config');
    assert.equal(statusTexts(send).at(-1), 'mailwire-send-email.status.error');
  });

  it('Validate route for the send connection', async () => {
    await helper.load(nodes(), flow({}), credentials());
    const info = serverInfo();
    const body = { id: 'sconn', host: 'localhost', port: info.ports.submissions, security: 'tls', certificate: certificatePem(), user: 'flow-sender', password: '__PWRD__' };
    const ok = await helper.request().post('/mailwire/validate/send').send(body).expect(200);
    assert.equal(ok.body.code, 'ok');
    assert.equal(ok.body.message, 'mailwire-send-connection.validate.ok');
    const moved = await helper.request().post('/mailwire/validate/send').send({ ...body, port: info.ports.submission, security: 'starttls' }).expect(200);
    assert.equal(moved.body.details.problem, 'saved-password');
    assert.ok(!JSON.stringify([ok.body, moved.body]).includes(info.password));
  });
});
