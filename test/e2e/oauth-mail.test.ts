// OAuth2 from the editor to the mail servers, the whole way a user goes: in Chromium, a Receive
// Email and a Send Email node each get a new connection signed in with the provider's own login
// and consent pages; Validate says ok; Deploy; an email waiting in the mailbox is received (the
// node marks it read on the server) and one is sent through Postfix and arrives. The servers
// accept only what the test provider issued for that user: no password is given anywhere.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, NodeRedProcess } from '../support/node-red-process';
import { appendMessages, certificatePem, listMailbox, serverInfo, simpleMessage } from '../support/servers';
import { until } from '../support/wait';
import type { Editor } from './browser';
import { clickValidate, closeConnectionDialog, closeNodeDialog, deploy, dropNode, editorSettings, launchBrowser, openConnectionDialog, openEditor, openNodeDialog } from './browser';
import { RECEIVE_CONNECTION, fillCustomProvider, privateProvider, signInFromDialog } from './oauth-dialog';

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const RED: any;
/* eslint-enable @typescript-eslint/no-explicit-any */

const SEND_CONNECTION = 'mailwire-send-connection';

/** In a node's open dialog: a new connection of `type`, signed in as `user`, validated; both dialogs closed with Done. */
async function signedInConnection(e: Editor, type: string, user: string, port: number): Promise<void> {
  const { page, context } = e;
  const provider = privateProvider();
  await openConnectionDialog(page, 'add');
  await fillCustomProvider(page, provider, user, type);
  await page.locator(`#${type}-port`).fill(String(port));
  await page.locator('#node-config-input-certificate').fill(certificatePem());
  const signIn = await signInFromDialog(page, context, provider, user, type);
  await signIn.popup.close();
  console.log(`${type}: signed in after ${Math.round(signIn.ms)} ms ("${signIn.shown}")`);
  const validated = await clickValidate(page, type === SEND_CONNECTION ? 'send' : 'receive');
  assert.equal(validated.reply.code, 'ok', `${type} Validate: ${JSON.stringify(validated.reply)}`);
  assert.equal(validated.kind, 'success');
  await closeConnectionDialog(page, 'ok');
}

/** An inject node beside `target` on the open tab, wired to it, that sends one message to `to`. */
async function injectInto(page: Page, target: string, to: string, subject: string): Promise<string> {
  return page.evaluate(({ targetId, address, title }) => {
    const id = RED.nodes.id();
    RED.view.importNodes([{
      id, type: 'inject', z: RED.workspaces.active(), x: 160, y: 320, wires: [[]], name: 'send one',
      props: [{ p: 'payload' }, { p: 'topic', vt: 'str' }, { p: 'to', v: address, vt: 'str' }],
      payload: 'Sent with an OAuth2 token.', payloadType: 'str', topic: title, repeat: '', once: false,
    }], { generateIds: false, addFlow: false });
    RED.nodes.addLink({ source: RED.nodes.node(id), sourcePort: 0, target: RED.nodes.node(targetId) });
    RED.nodes.dirty(true);
    RED.view.redraw(true);
    return id;
  }, { targetId: target, address: to, title: subject });
}

describe('OAuth2 end to end from the editor: sign in, Validate, deploy, receive and send (Chromium, oidc-provider, Dovecot, Postfix)', { timeout: 240000 }, () => {
  let browser: Browser | undefined;

  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
  });

  it('a signed-in receive connection receives a waiting email and a signed-in send connection sends one', async () => {
    assert.ok(browser);
    const info = serverInfo();
    const name = `e2e-oauth-${randomBytes(3).toString('hex')}`;
    const address = `${name}@example.test`;
    await appendMessages(name, [simpleMessage('waiting for the OAuth2 connection')]);
    const red = await NodeRedProcess.start({ extraSettings: editorSettings });
    let e: Editor | undefined;
    try {
      e = await openEditor(browser, red, ADMIN, 'en-US', { allowOrigins: privateProvider().origins });
      const { page } = e;

      const receiveId = await dropNode(page, 'mailwire-receive-email', 240, 140);
      await openNodeDialog(page, receiveId);
      await signedInConnection(e, RECEIVE_CONNECTION, address, info.ports.imaps ?? 0);
      await closeNodeDialog(page, 'ok');

      const sendId = await dropNode(page, 'mailwire-send-email', 420, 320);
      await openNodeDialog(page, sendId);
      await page.locator('#node-input-from').fill(address);
      await signedInConnection(e, SEND_CONNECTION, address, info.ports.submission ?? 0);
      await closeNodeDialog(page, 'ok');
      const injectId = await injectInto(page, sendId, address, 'sent through OAuth2');

      await deploy(page);

      // Received: the node marks what it emitted as read, so the server shows it.
      await until(async () => (await listMailbox(name)).some((m) => m.subject === 'waiting for the OAuth2 connection' && m.seen), 60000, () => 'the waiting email to be received and marked read');

      const pressed = await red.api('POST', `/inject/${injectId}`);
      assert.equal(pressed.status, 200, await pressed.text());
      await until(async () => (await listMailbox(name)).some((m) => m.subject === 'sent through OAuth2'), 60000, 'the sent email to arrive').catch(async (err: Error) => {
        const status = await page.evaluate((id) => RED.nodes.node(id).status, sendId);
        throw new Error(`${err.message}; Send Email's status: ${JSON.stringify(status)}; ${red.log.slice(-800)}`);
      });

      const statuses = await page.evaluate(() => RED.nodes.filterNodes({}).filter((n: any) => n.type.startsWith('mailwire-') && n.status).map((n: any) => `${n.type}: ${n.status.fill}`));
      assert.ok(!statuses.some((s: string) => s.endsWith('red')), statuses.join(', '));
      assert.doesNotMatch(red.log, /\[error\]/);
      assert.deepEqual(e.pageErrors.map((err) => err.message), []);
    } finally {
      await e?.context.close().catch(() => undefined);
      await red.stop();
    }
  });
});
