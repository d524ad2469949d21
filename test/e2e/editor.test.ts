// The editor, end to end: a real Node-RED (admin authentication on) with the built package
// installed in its user directory, Debian's Chromium driven by playwright-core, logging in through
// Node-RED's login dialog and using the dialogs as a user does, against the private Dovecot and
// Postfix. Screenshots of each dialog state go to test-artifacts/editor/.
//
// The Validate route answers 10 calls a minute per client, so the receive side (5 clicks) and the
// send side (5 clicks) each get their own Node-RED process.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DEFAULT_PORTS, INBOX_NAMES } from '../../src/lib/connection-options';
import { ADMIN, NodeRedProcess, VIEWER } from '../support/node-red-process';
import { certificatePem, repoRoot, serverInfo, uniqueUser } from '../support/servers';
import type { StagedPackage } from './staged-package';
import { stagePackage } from './staged-package';
import type { Editor } from './browser';
import {
  clickValidate, closeConnectionDialog, closeNodeDialog, collapse, configNodeIds, deploy, dropNode, editorSettings, helpFromDialog, launchBrowser, openConnectionDialog,
  openEditor, openNodeDialog, screenshot, topTray, waitForEditorReady,
} from './browser';

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const RED: any;
declare const document: any;
declare class Image { src: string; naturalWidth: number; decode(): Promise<void> }
declare function getComputedStyle(element: unknown): { backgroundImage: string };
/* eslint-enable @typescript-eslint/no-explicit-any */

type Catalog = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type NodeFile = 'receive-connection' | 'receive-email' | 'send-connection' | 'send-email' | 'email-done';

// What the editor under test was given: the build's copy of locales/ inside the staged package.
let localesDir = path.join(repoRoot, 'locales');

function catalog(lang: string, file: NodeFile): Catalog {
  const json = JSON.parse(fs.readFileSync(path.join(localesDir, lang, `${file}.json`), 'utf8')) as Catalog;
  return json[`mailwire-${file}`] as Catalog;
}

/** Node-RED's __name__ substitution. */
function fill(text: string, params: Record<string, string> = {}): string {
  return text.replace(/__(\w+)__/g, (_, name: string) => params[name] ?? '');
}

/** The first paragraph of a node's help, as text: the sentence the help sidebar must show. */
function helpOpening(lang: string, file: NodeFile): string {
  const html = fs.readFileSync(path.join(localesDir, lang, `${file}.html`), 'utf8');
  const paragraph = /<p>([\s\S]*?)<\/p>/.exec(html)?.[1];
  assert.ok(paragraph, `no <p> in locales/${lang}/${file}.html`);
  const text = paragraph.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  return collapse(text);
}

const info = serverInfo();
const pem = certificatePem();
const fingerprint = new X509Certificate(pem).fingerprint256;
const RECEIVE_DESCRIPTION = 'Connect to our company email server to obtain messages sent to info@ourcompany.com.';
const SEND_DESCRIPTION = 'Connect to our company email server to send messages from info@ourcompany.com.';
const exampleNames = fs.readdirSync(path.join(repoRoot, 'examples')).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();

/** Waits until the mail servers accept connections (another run may be restarting them). */
async function waitForServers(ports: number[]): Promise<void> {
  const deadline = Date.now() + 30000;
  for (const p of ports) {
    for (;;) {
      const open = await new Promise<boolean>((resolve) => {
        const socket = net.connect(p, '127.0.0.1');
        socket.once('connect', () => { socket.destroy(); resolve(true); });
        socket.once('error', () => resolve(false));
      });
      if (open) break;
      if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${p}: are the mail servers running?`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function port(page: Page, kind: 'receive' | 'send'): Promise<string> {
  return page.locator(`#mailwire-${kind}-connection-port`).inputValue();
}

/** The edit dialogs of a node and of its connection, opened as a user does. */
async function openNodeAndConnection(page: Page, id: string, how: 'add' | 'edit'): Promise<void> {
  await openNodeDialog(page, id);
  await openConnectionDialog(page, how);
}

describe('editor (real Node-RED with admin auth, Chromium)', { timeout: 240000 }, () => {
  let redReceive: NodeRedProcess | undefined; // palette, help, receive connection, examples, permissions
  let redSend: NodeRedProcess | undefined; // send connection (its own Validate budget)
  let browser: Browser | undefined;
  const editors: Editor[] = [];
  const staged: StagedPackage[] = [];

  async function editor(red: NodeRedProcess, locale = 'en-US'): Promise<Editor> {
    assert.ok(browser);
    const opened = await openEditor(browser, red, ADMIN, locale);
    editors.push(opened);
    return opened;
  }

  /** Nothing in the page threw (our editor scripts run there). */
  function assertNoPageErrors(e: Editor): void {
    assert.deepEqual(e.pageErrors.map((err) => err.message), []);
  }

  before(async () => {
    fs.rmSync(path.join(repoRoot, 'test-artifacts', 'editor'), { recursive: true, force: true });
    const ports = info.ports as Required<typeof info.ports>;
    await waitForServers([ports.imaps, ports.submission]);
    staged.push(await stagePackage(), await stagePackage());
    localesDir = path.join(staged[0].packageDir, 'dist', 'nodes', 'locales');
    const started = await Promise.allSettled([
      NodeRedProcess.start({ install: 'none', userDir: staged[0].userDir, extraSettings: editorSettings }),
      NodeRedProcess.start({ install: 'none', userDir: staged[1].userDir, extraSettings: editorSettings }),
      launchBrowser(),
    ]);
    if (started[0].status === 'fulfilled') redReceive = started[0].value;
    if (started[1].status === 'fulfilled') redSend = started[1].value;
    if (started[2].status === 'fulfilled') browser = started[2].value;
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  });

  after(async () => {
    for (const e of editors) await e.context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await Promise.all([redReceive?.stop(), redSend?.stop()]);
    for (const s of staged) s.remove();
  });

  it('the palette shows receive email, send email and email done under "email", with their icons', async () => {
    assert.ok(redReceive);
    const e = await editor(redReceive);
    const { page } = e;
    const category = page.locator('#red-ui-palette-container-email');
    assert.equal(collapse(await category.locator('.red-ui-palette-header').innerText()), 'email');
    for (const [type, label, icon] of [
      ['mailwire-receive-email', 'receive email', 'mailwire-receive.svg'],
      ['mailwire-send-email', 'send email', 'mailwire-send.svg'],
      ['mailwire-email-done', 'email done', 'mailwire-done.svg'],
    ] as const) {
      const node = category.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
      assert.ok(await node.isVisible(), `${type} is not visible in the palette`);
      assert.equal(collapse(await node.locator('.red-ui-palette-label').innerText()), label);
      // The icon is a CSS background of .red-ui-palette-icon; it must point at our icon…
      const background = await node.locator('.red-ui-palette-icon').evaluate((el) => getComputedStyle(el).backgroundImage);
      const url = /url\("(.+)"\)/.exec(background)?.[1];
      assert.ok(url, `no background image on the ${type} icon: ${background}`);
      assert.equal(new URL(url).pathname, `/icons/@mailwire/node-red-email/${icon}`);
      // …the browser must have loaded it (200, SVG, our file) and be able to draw it.
      // (The palette is drawn before its icons have arrived.)
      const loaded = e.responses.find((r) => r.url() === url) ?? (await page.waitForResponse(url, { timeout: 10000 }));
      assert.equal(loaded.status(), 200);
      assert.match(loaded.headers()['content-type'] ?? '', /^image\/svg\+xml/);
      assert.equal((await loaded.body()).toString('utf8'), fs.readFileSync(path.join(repoRoot, 'icons', icon), 'utf8'));
      const width = await page.evaluate(async (src) => {
        const img = new Image();
        img.src = src;
        await img.decode();
        return img.naturalWidth;
      }, url);
      assert.ok(width > 0, `${icon} does not decode as an image`);
    }
    // Both config nodes are registered, but config nodes never show in the palette.
    assert.equal(await category.locator('.red-ui-palette-node').count(), 3);
    await screenshot(page, 'palette', page.locator('#red-ui-palette'));
    assertNoPageErrors(e);
    await e.context.close();
  });

  for (const locale of ['en-US', 'ja-JP']) {
    const lang = locale === 'ja-JP' ? 'ja' : 'en-US';
    it(`the help sidebar shows each node's help, and the dialogs are labelled (${locale})`, async () => {
      assert.ok(redReceive);
      const e = await editor(redReceive, locale);
      const { page } = e;
      for (const [nodeFile, configFile, x] of [['receive-email', 'receive-connection', 200], ['send-email', 'send-connection', 420]] as const) {
        const id = await dropNode(page, `mailwire-${nodeFile}`, x, 120);
        await openNodeDialog(page, id);
        // The node's dialog, in the browser's language.
        assert.equal(collapse(await page.locator('label[for="node-input-connection"]').innerText()), catalog(lang, nodeFile).label.connection);
        const nodeHelp = await helpFromDialog(page, helpOpening(lang, nodeFile));
        assert.ok(nodeHelp.includes(helpOpening(lang, nodeFile)), `help of ${nodeFile} (${lang}) not shown: ${nodeHelp.slice(0, 200)}`);
        if (nodeFile === 'receive-email') {
          // Push, the first-run choice, settling and sharing are explained, by the names the dialog gives them.
          const texts = catalog(lang, nodeFile);
          for (const expected of [
            texts.label.push, 'IDLE', texts.label.start, texts.option.start.all, texts.option.start.new, texts.mode['no-idle'], texts.mode.pop3,
            texts.label.settleSection, texts.label.settle, texts.option.settle.emit, texts.option.settle.ack, texts.label.onSuccess, texts.label.onFailure,
            texts.option.onFailure.leave, texts.label.ackTimeout, 'Email Done', 'Catch', 'msg.email.key', texts.label.shared, texts.label.lease, 'IMAP', ' 3 ',
          ]) {
            assert.ok(nodeHelp.includes(expected), `help of ${nodeFile} (${lang}) does not mention "${expected}"`);
          }
        }
        await screenshot(page, `help-${nodeFile}-${lang}`);

        // The connection's dialog (a new one) and its help.
        await openConnectionDialog(page, 'add');
        const labels = catalog(lang, configFile).label;
        assert.equal(collapse(await page.locator('label[for="node-config-input-host"]').innerText()), labels.host);
        assert.equal(collapse(await page.locator('label[for="node-config-input-security"]').innerText()), labels.security);
        assert.equal(collapse(await page.locator('label[for="node-config-input-certificate"]').innerText()), labels.certificate);
        if (configFile === 'receive-connection') {
          assert.equal(collapse(await page.locator('label[for="node-config-input-protocol"]').innerText()), labels.protocol);
        }
        const kind = configFile === 'receive-connection' ? 'receive' : 'send';
        assert.equal(collapse(await page.locator(`#mailwire-${kind}-connection-validate`).innerText()), catalog(lang, configFile).validate.button);
        const configHelp = await helpFromDialog(page, helpOpening(lang, configFile));
        assert.ok(configHelp.includes(helpOpening(lang, configFile)), `help of ${configFile} (${lang}) not shown: ${configHelp.slice(0, 200)}`);
        await screenshot(page, `help-${configFile}-${lang}`);
        await closeConnectionDialog(page, 'cancel');
        await closeNodeDialog(page, 'cancel');
      }

      // Email Done: its dialog and its help.
      const done = catalog(lang, 'email-done');
      const doneId = await dropNode(page, 'mailwire-email-done', 640, 120);
      await openNodeDialog(page, doneId);
      assert.equal(collapse(await page.locator('label[for="node-input-result"]').innerText()), done.label.result);
      assert.deepEqual((await page.locator('#node-input-result option').allInnerTexts()).map(collapse), [done.option.auto, done.option.success, done.option.failure]);
      assert.equal(await page.locator('#node-input-result').inputValue(), 'auto');
      const doneHelp = await helpFromDialog(page, helpOpening(lang, 'email-done'));
      assert.ok(doneHelp.includes(helpOpening(lang, 'email-done')), `help of email-done (${lang}) not shown: ${doneHelp.slice(0, 200)}`);
      for (const expected of ['msg.email.settled', 'email.settled', 'Catch', '{ result, action, ok }', done.option.success, done.option.failure, String(done.status.owed).split(': ').pop()]) {
        assert.ok(doneHelp.includes(expected), `help of email-done (${lang}) does not mention "${expected}"`);
      }
      await screenshot(page, `help-email-done-${lang}`);
      await page.locator('#node-input-result').selectOption('failure');
      await closeNodeDialog(page, 'ok');
      assert.equal(await page.evaluate((n) => RED.nodes.node(n).result, doneId), 'failure');
      assertNoPageErrors(e);
      await e.context.close();
    });
  }

  it('receive connection: port defaults, Validate (success, wrong password, untrusted certificate, use it), deploy, saved password', async () => {
    assert.ok(redReceive);
    const e = await editor(redReceive);
    const { page } = e;
    const en = catalog('en-US', 'receive-connection');
    const user = uniqueUser('editor-receive');
    const id = await dropNode(page, 'mailwire-receive-email', 220, 140);
    await openNodeAndConnection(page, id, 'add');

    // The port follows protocol + security…
    assert.equal(await port(page, 'receive'), '993', 'a new connection is IMAP over SSL/TLS');
    const steps: Array<[string, string, string]> = [
      ['imap', 'starttls', '143'], ['pop3', 'starttls', '110'], ['pop3', 'tls', '995'], ['pop3', 'none', '110'],
      ['imap', 'none', '143'], ['imap', 'tls', '993'],
    ];
    for (const [protocol, security, expected] of steps) {
      await page.locator('#node-config-input-protocol').selectOption(protocol);
      await page.locator('#node-config-input-security').selectOption(security);
      assert.equal(await port(page, 'receive'), expected, `${protocol} + ${security}`);
    }
    await screenshot(page, 'receive-connection-new', topTray(page));
    // …until the user types one of their own.
    await page.locator('#mailwire-receive-connection-port').fill(String(info.ports.imaps));
    await page.locator('#node-config-input-security').selectOption('starttls');
    assert.equal(await port(page, 'receive'), String(info.ports.imaps), 'a typed port is kept');
    await page.locator('#node-config-input-security').selectOption('tls');

    await page.locator('#node-config-input-host').fill('localhost');
    await page.locator('#node-config-input-user').fill(user);
    await page.locator('#node-config-input-password').fill(info.password);
    await page.locator('#node-config-input-certificate').fill(pem);
    await page.locator('#node-config-input-name').fill('Obtain Info Emails');
    await page.locator('#node-config-input-description').fill(RECEIVE_DESCRIPTION);

    // 1. The pasted certificate: success, with the folders found.
    let result = await clickValidate(page, 'receive');
    assert.equal(result.status, 200);
    assert.equal(result.reply.ok, true, JSON.stringify(result.reply));
    assert.equal(result.kind, 'success');
    assert.ok(result.reply.folders?.includes('INBOX'), JSON.stringify(result.reply));
    assert.equal(result.text, fill(en.validate['ok-imap'], { folders: (result.reply.folders ?? []).join(', ') }));
    await screenshot(page, 'receive-connection-validate-success', topTray(page));

    // 2. A wrong password: the authentication message.
    await page.locator('#node-config-input-password').fill(`${info.password}-wrong`);
    result = await clickValidate(page, 'receive');
    assert.equal(result.reply.code, 'auth');
    assert.equal(result.kind, 'failure');
    assert.equal(result.text, en.errors.auth);
    await screenshot(page, 'receive-connection-validate-auth', topTray(page));

    // 3. No certificate: the server's self-signed one is not trusted; its fingerprint is shown.
    await page.locator('#node-config-input-password').fill(info.password);
    await page.locator('#node-config-input-certificate').fill('');
    result = await clickValidate(page, 'receive');
    assert.equal(result.reply.code, 'tls-untrusted', JSON.stringify(result.reply));
    assert.equal(result.kind, 'failure');
    assert.equal(result.reply.certificate?.fingerprint256, fingerprint);
    assert.ok(result.text.includes(fingerprint), result.text);
    assert.equal(collapse(await page.locator('#mailwire-receive-connection-validate-result .mailwire-fingerprint').innerText()), fingerprint);
    await screenshot(page, 'receive-connection-validate-untrusted', topTray(page));

    // 4. "Use this certificate" puts it into Server Certificate; Validate then succeeds.
    await page.locator('#mailwire-receive-connection-validate-result button', { hasText: en.validate.certificate.use }).click();
    assert.equal((await page.locator('#node-config-input-certificate').inputValue()).trim(), pem.trim());
    assert.equal(collapse(await page.locator('#mailwire-receive-connection-validate-result .mailwire-certificate-note').innerText()), en.validate.certificate.used);
    result = await clickValidate(page, 'receive');
    assert.equal(result.reply.ok, true, JSON.stringify(result.reply));
    assert.equal(result.kind, 'success');
    await screenshot(page, 'receive-connection-validate-used-certificate', topTray(page));

    // Add the connection, close the node's dialog with it selected, deploy.
    await closeConnectionDialog(page, 'ok');
    const connectionId = await page.locator('#node-input-connection').inputValue();
    assert.deepEqual(await configNodeIds(page, 'mailwire-receive-connection'), [connectionId]);
    await closeNodeDialog(page, 'ok');
    await deploy(page);
    const flowFile = fs.readFileSync(path.join(redReceive.userDir, 'flows.json'), 'utf8');
    const saved = (JSON.parse(flowFile) as Array<Record<string, unknown>>).find((n) => n.id === connectionId);
    assert.deepEqual(
      { name: saved?.name, description: saved?.description, protocol: saved?.protocol, host: saved?.host, port: saved?.port, security: saved?.security, certificate: String(saved?.certificate).trim() },
      { name: 'Obtain Info Emails', description: RECEIVE_DESCRIPTION, protocol: 'imap', host: 'localhost', port: info.ports.imaps, security: 'tls', certificate: pem.trim() },
    );
    assert.ok(!flowFile.includes(info.password) && !flowFile.includes(user), 'credentials must not be in the flow file');

    // Reload: the password shows as saved, and Validate uses the saved one.
    await page.reload();
    await waitForEditorReady(page);
    await openNodeAndConnection(page, id, 'edit');
    await page.waitForFunction(() => document.querySelector('#node-config-input-password').value !== '');
    assert.equal(await page.locator('#node-config-input-password').inputValue(), '__PWRD__');
    assert.equal(await page.locator('#node-config-input-user').inputValue(), user);
    assert.equal(await port(page, 'receive'), String(info.ports.imaps));
    result = await clickValidate(page, 'receive');
    assert.equal(result.reply.ok, true, JSON.stringify(result.reply));
    assert.equal(result.kind, 'success');
    await screenshot(page, 'receive-connection-saved-password', topTray(page));
    await closeConnectionDialog(page, 'cancel');
    await closeNodeDialog(page, 'cancel');
    assertNoPageErrors(e);
    await e.context.close();
  });

  it('send connection: port defaults, Validate (success, wrong password, untrusted certificate, use it), deploy, saved password', async () => {
    assert.ok(redSend);
    const e = await editor(redSend);
    const { page } = e;
    const en = catalog('en-US', 'send-connection');
    const user = uniqueUser('editor-send');
    const ports = info.ports as Required<typeof info.ports>;
    const id = await dropNode(page, 'mailwire-send-email', 240, 160);
    await openNodeDialog(page, id);
    await page.locator('#node-input-from').fill('info@ourcompany.test');
    await page.locator('#node-input-to').fill('lead@example.test');
    await page.locator('#node-input-subject').fill('Hello from the editor test');
    await screenshot(page, 'send-email-dialog', topTray(page));
    await openConnectionDialog(page, 'add');

    assert.equal(await port(page, 'send'), '587', 'a new connection is submission with StartTLS');
    for (const [security, expected] of [['tls', '465'], ['none', '25'], ['starttls', '587'], ['tls', '465'], ['starttls', '587']]) {
      await page.locator('#node-config-input-security').selectOption(security);
      assert.equal(await port(page, 'send'), expected, security);
    }
    await page.locator('#mailwire-send-connection-port').fill(String(ports.submission));
    await page.locator('#node-config-input-security').selectOption('tls');
    assert.equal(await port(page, 'send'), String(ports.submission), 'a typed port is kept');
    await page.locator('#node-config-input-security').selectOption('starttls');

    await page.locator('#node-config-input-host').fill('localhost');
    await page.locator('#node-config-input-user').fill(user);
    await page.locator('#node-config-input-password').fill(info.password);
    await page.locator('#node-config-input-certificate').fill(pem);
    await page.locator('#node-config-input-name').fill('Send Emails to Leads');
    await page.locator('#node-config-input-description').fill(SEND_DESCRIPTION);

    let result = await clickValidate(page, 'send');
    assert.equal(result.status, 200);
    assert.equal(result.reply.ok, true, JSON.stringify(result.reply));
    assert.equal(result.kind, 'success');
    assert.equal(result.text, fill(en.validate.ok, { host: 'localhost' }));
    await screenshot(page, 'send-connection-validate-success', topTray(page));

    await page.locator('#node-config-input-password').fill(`${info.password}-wrong`);
    result = await clickValidate(page, 'send');
    assert.equal(result.reply.code, 'auth', JSON.stringify(result.reply));
    assert.equal(result.kind, 'failure');
    assert.equal(result.text, en.errors.auth);
    await screenshot(page, 'send-connection-validate-auth', topTray(page));

    await page.locator('#node-config-input-password').fill(info.password);
    await page.locator('#node-config-input-certificate').fill('');
    result = await clickValidate(page, 'send');
    assert.equal(result.reply.code, 'tls-untrusted', JSON.stringify(result.reply));
    assert.equal(result.kind, 'failure');
    assert.equal(result.reply.certificate?.fingerprint256, fingerprint);
    assert.ok(result.text.includes(fingerprint), result.text);
    assert.equal(collapse(await page.locator('#mailwire-send-connection-validate-result .mailwire-fingerprint').innerText()), fingerprint);
    await screenshot(page, 'send-connection-validate-untrusted', topTray(page));

    await page.locator('#mailwire-send-connection-validate-result button', { hasText: en.validate.certificate.use }).click();
    assert.equal((await page.locator('#node-config-input-certificate').inputValue()).trim(), pem.trim());
    result = await clickValidate(page, 'send');
    assert.equal(result.reply.ok, true, JSON.stringify(result.reply));
    assert.equal(result.kind, 'success');
    await screenshot(page, 'send-connection-validate-used-certificate', topTray(page));

    await closeConnectionDialog(page, 'ok');
    const connectionId = await page.locator('#node-input-connection').inputValue();
    assert.deepEqual(await configNodeIds(page, 'mailwire-send-connection'), [connectionId]);
    await closeNodeDialog(page, 'ok');
    await deploy(page);
    const flowFile = fs.readFileSync(path.join(redSend.userDir, 'flows.json'), 'utf8');
    const saved = (JSON.parse(flowFile) as Array<Record<string, unknown>>).find((n) => n.id === connectionId);
    assert.deepEqual(
      { name: saved?.name, description: saved?.description, host: saved?.host, port: saved?.port, security: saved?.security, certificate: String(saved?.certificate).trim() },
      { name: 'Send Emails to Leads', description: SEND_DESCRIPTION, host: 'localhost', port: ports.submission, security: 'starttls', certificate: pem.trim() },
    );
    assert.ok(!flowFile.includes(info.password) && !flowFile.includes(user), 'credentials must not be in the flow file');

    await page.reload();
    await waitForEditorReady(page);
    await openNodeAndConnection(page, id, 'edit');
    await page.waitForFunction(() => document.querySelector('#node-config-input-password').value !== '');
    assert.equal(await page.locator('#node-config-input-password').inputValue(), '__PWRD__');
    assert.equal(await page.locator('#node-config-input-user').inputValue(), user);
    result = await clickValidate(page, 'send');
    assert.equal(result.reply.ok, true, JSON.stringify(result.reply));
    assert.equal(result.kind, 'success');
    await screenshot(page, 'send-connection-saved-password', topTray(page));
    await closeConnectionDialog(page, 'cancel');
    await closeNodeDialog(page, 'cancel');
    assertNoPageErrors(e);
    await e.context.close();
  });

  it('the default ports and the inbox names come from the runtime, as Node-RED settings the nodes export', async () => {
    assert.ok(redReceive);
    const e = await editor(redReceive);
    const { page } = e;
    const exported = await page.evaluate(() => ({
      receive: RED.settings.mailwireReceiveConnectionDefaultPorts,
      send: RED.settings.mailwireSendConnectionDefaultPorts,
      inbox: RED.settings.mailwireReceiveEmailInboxNames,
    }));
    assert.deepEqual(exported, { receive: { imap: DEFAULT_PORTS.imap, pop3: DEFAULT_PORTS.pop3 }, send: DEFAULT_PORTS.smtp, inbox: [...INBOX_NAMES] });

    // The dialogs read the settings when they run: other values in them, other ports and names
    // in the dialogs (the tables are nowhere else in the editor).
    await page.evaluate(() => {
      RED.settings.mailwireReceiveConnectionDefaultPorts = { ...RED.settings.mailwireReceiveConnectionDefaultPorts, pop3: { none: 20110, starttls: 20110, tls: 20995 } };
      RED.settings.mailwireSendConnectionDefaultPorts = { ...RED.settings.mailwireSendConnectionDefaultPorts, none: 20025, tls: 20465 };
      RED.settings.mailwireReceiveEmailInboxNames = ['', 'INBOX', 'POSTEINGANG'];
    });
    const receiveId = await dropNode(page, 'mailwire-receive-email', 220, 140);
    await openNodeAndConnection(page, receiveId, 'add');
    assert.equal(await port(page, 'receive'), '993');
    for (const [protocol, security, expected] of [['pop3', 'tls', '20995'], ['pop3', 'none', '20110']]) {
      await page.locator('#node-config-input-protocol').selectOption(protocol);
      await page.locator('#node-config-input-security').selectOption(security);
      assert.equal(await port(page, 'receive'), expected, `${protocol} + ${security}`);
    }
    await page.locator('#node-config-input-host').fill('localhost');
    await closeConnectionDialog(page, 'ok');
    // POP3 has only the inbox: the warning follows the exported names.
    const warning = page.locator('#mailwire-receive-email-pop3-folder');
    await page.locator('#node-input-folder').fill('Archive');
    await warning.waitFor({ state: 'visible' });
    await page.locator('#node-input-folder').fill(' posteingang ');
    await warning.waitFor({ state: 'hidden' });
    await closeNodeDialog(page, 'cancel');

    const sendId = await dropNode(page, 'mailwire-send-email', 420, 140);
    await openNodeAndConnection(page, sendId, 'add');
    assert.equal(await port(page, 'send'), '587');
    for (const [security, expected] of [['tls', '20465'], ['none', '20025']]) {
      await page.locator('#node-config-input-security').selectOption(security);
      assert.equal(await port(page, 'send'), expected, security);
    }
    await closeConnectionDialog(page, 'cancel');
    await closeNodeDialog(page, 'cancel');
    assertNoPageErrors(e);
    await e.context.close();
  });

  it('Receive Email: push on and first run "every email" for a node from the palette; the POP3 note; imported nodes keep what they had', async () => {
    assert.ok(redReceive);
    const e = await editor(redReceive);
    const { page } = e;
    const en = catalog('en-US', 'receive-email');
    const push = page.locator('#node-input-push');
    const start = page.locator('#node-input-start');
    const note = page.locator('#mailwire-receive-email-pop3-push');

    // From the palette: push on, first run "every email waiting now".
    const id = await dropNode(page, 'mailwire-receive-email', 220, 140);
    await openNodeDialog(page, id);
    assert.equal(collapse(await page.locator('label[for="node-input-push"]').first().innerText()), en.label.push);
    assert.equal(collapse(await page.locator('#mailwire-receive-email-push-hint').innerText()), en.hint.push);
    assert.equal(collapse(await page.locator('label[for="node-input-start"]').innerText()), en.label.start);
    assert.deepEqual((await start.locator('option').allInnerTexts()).map(collapse), [en.option.start.all, en.option.start.new]);
    assert.equal(collapse(await page.locator('#mailwire-receive-email-start-tip').innerText()), en.hint.start);
    assert.equal(await push.isChecked(), true, 'a new node pushes');
    assert.equal(await start.inputValue(), 'all');
    assert.equal(await note.isVisible(), false, 'no POP3 note without a POP3 connection');

    // A POP3 connection: the node will poll, and says so.
    await openConnectionDialog(page, 'add');
    await page.locator('#node-config-input-protocol').selectOption('pop3');
    await page.locator('#node-config-input-host').fill('localhost');
    await closeConnectionDialog(page, 'ok');
    await note.waitFor({ state: 'visible' });
    assert.equal(collapse(await note.innerText()), en.hint['pop3-push']);
    await screenshot(page, 'receive-email-push-pop3', topTray(page));
    await start.selectOption('new');
    await closeNodeDialog(page, 'ok');
    assert.deepEqual(await page.evaluate((n) => ({ push: RED.nodes.node(n).push, start: RED.nodes.node(n).start }), id), { push: true, start: 'new' });

    // Imported (as the Import dialog and paste do, with and without Node-RED applying the
    // defaults): a flow from before push keeps polling, a known value is kept, an unknown
    // first run shows "every email".
    const imported = [
      { id: 'mw-old-flow', folder: 'old', y: 260 },
      { id: 'mw-pushing', folder: 'pushing', y: 320, push: true, start: 'new' },
      { id: 'mw-unknown-start', folder: 'unknown', y: 380, start: 'tomorrow' },
    ];
    for (const applyNodeDefaults of [false, true]) {
      const suffix = applyNodeDefaults ? '-defaults' : '';
      await page.evaluate(({ nodes, apply, suffix }) => {
        const flow = nodes.map((n: Record<string, unknown>) => ({
          type: 'mailwire-receive-email', z: RED.workspaces.active(), x: apply ? 560 : 400, wires: [[]],
          unseenOnly: true, delay: 5, delayUnit: 's', maxEmails: 5, ...n, id: `${n.id}${suffix}`,
        }));
        RED.view.importNodes(flow, { generateIds: false, touchImport: true, applyNodeDefaults: apply });
      }, { nodes: imported, apply: applyNodeDefaults, suffix });
      for (const [nodeId, expected] of [['mw-old-flow', { push: false, start: 'all' }], ['mw-pushing', { push: true, start: 'new' }], ['mw-unknown-start', { push: false, start: 'all' }]] as const) {
        const full = `${nodeId}${suffix}`;
        await openNodeDialog(page, full);
        assert.deepEqual({ push: await push.isChecked(), start: await start.inputValue() }, expected, `${full}: what the dialog shows`);
        await closeNodeDialog(page, 'ok');
        const saved = await page.evaluate((n) => ({ push: RED.nodes.node(n).push, start: RED.nodes.node(n).start }), full);
        assert.deepEqual(saved, expected, `${full}: what the dialog saved`);
      }
    }
    assertNoPageErrors(e);
    await e.context.close();
  });

  it('Receive Email: the After processing section (closed at the defaults, what shows when), POP3 offers only what POP3 can do, old nodes save unchanged', async () => {
    assert.ok(redReceive);
    const e = await editor(redReceive);
    const { page } = e;
    const en = catalog('en-US', 'receive-email');
    const T = 'mailwire-receive-email';
    const toggle = page.locator(`#${T}-settle-toggle`);
    const body = page.locator(`#${T}-settle-body`);
    const field = (key: string) => page.locator(`#${T}-${key}`);
    const row = (key: string) => page.locator(`#${T}-${key}-row`);
    const SETTLE_PROPS = ['settle', 'onSuccess', 'successFolder', 'successFlag', 'onFailure', 'failureFolder', 'failureFlag', 'ackTimeout', 'shared', 'lease'];
    /** Which rows of the section show, by property. */
    async function shown(): Promise<Record<string, boolean>> {
      const out: Record<string, boolean> = {};
      for (const key of SETTLE_PROPS) out[key] = await row(key).isVisible();
      return out;
    }
    /** The options a select offers (the ones not hidden). */
    async function offered(key: string): Promise<string[]> {
      return field(key).locator('option:not([hidden])').evaluateAll((options) => options.map((o) => String(o.getAttribute('value'))));
    }
    /** The node's settle properties as the editor holds them and as they would be exported. */
    async function saved(id: string): Promise<Record<string, unknown>> {
      return page.evaluate(({ n, props }) => {
        const exported = RED.nodes.convertNode(RED.nodes.node(n));
        return Object.fromEntries(props.filter((p: string) => p in exported && exported[p] !== undefined).map((p: string) => [p, exported[p]]));
      }, { n: id, props: [...SETTLE_PROPS, 'pop3Delete'] });
    }

    // A node from the palette: closed, the heading labelled, everything at the runtime's defaults.
    const id = await dropNode(page, T, 220, 140);
    await openNodeDialog(page, id);
    assert.equal(collapse(await toggle.innerText()), en.label.settleSection);
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await body.isVisible(), false, 'closed for a node at the defaults');
    await screenshot(page, 'receive-email-settle-closed', topTray(page));
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    await body.waitFor({ state: 'visible' });
    assert.equal(collapse(await page.locator(`label[for="${T}-settle"]`).innerText()), en.label.settle);
    assert.deepEqual((await field('settle').locator('option').allInnerTexts()).map(collapse), [en.option.settle.emit, en.option.settle.ack]);
    assert.deepEqual(
      { settle: await field('settle').inputValue(), onSuccess: await field('onSuccess').inputValue(), onFailure: await field('onFailure').inputValue(), ackTimeout: await field('ackTimeout').inputValue(), lease: await field('lease').inputValue(), shared: await field('shared').isChecked() },
      { settle: 'emit', onSuccess: 'seen', onFailure: 'retry', ackTimeout: '300', lease: '120', shared: false },
    );
    // Settled on emit: After success only; no failure, no timeout, no lease.
    assert.deepEqual(await shown(), { settle: true, onSuccess: true, successFolder: false, successFlag: false, onFailure: false, failureFolder: false, failureFlag: false, ackTimeout: false, shared: true, lease: false });
    assert.equal(collapse(await page.locator(`#${T}-settle-emit`).innerText()), en.hint['settle-emit']);
    assert.equal(await page.locator(`#${T}-settle-ack`).isVisible(), false);
    // Without an action of its own, After success follows Unseen Only, as the runtime does.
    await page.locator('#node-input-unseenOnly').uncheck();
    assert.equal(await field('onSuccess').inputValue(), 'none');
    await page.locator('#node-input-unseenOnly').check();
    assert.equal(await field('onSuccess').inputValue(), 'seen');
    // The folder shows for move only, the flag for flag only.
    await field('onSuccess').selectOption('move');
    assert.deepEqual([await row('successFolder').isVisible(), await row('successFlag').isVisible()], [true, false]);
    assert.match(String(await field('successFolder').getAttribute('class')), /input-error/, 'move needs a folder');
    await field('successFolder').fill('Done');
    assert.doesNotMatch(String(await field('successFolder').getAttribute('class')), /input-error/);
    await field('onSuccess').selectOption('flag');
    assert.deepEqual([await row('successFolder').isVisible(), await row('successFlag').isVisible()], [false, true]);
    await field('successFlag').fill('not a flag');
    assert.match(String(await field('successFlag').getAttribute('class')), /input-error/);
    await field('successFlag').fill('\\Flagged');
    assert.doesNotMatch(String(await field('successFlag').getAttribute('class')), /input-error/);
    await field('onSuccess').selectOption('move');
    // Acknowledged: After failure and the timeout appear; its folder and flag as for success.
    await field('settle').selectOption('ack');
    assert.equal(collapse(await page.locator(`#${T}-settle-ack`).innerText()), en.hint['settle-ack']);
    assert.deepEqual(await shown(), { settle: true, onSuccess: true, successFolder: true, successFlag: false, onFailure: true, failureFolder: false, failureFlag: false, ackTimeout: true, shared: true, lease: false });
    await field('onFailure').selectOption('flag');
    assert.deepEqual([await row('failureFolder').isVisible(), await row('failureFlag').isVisible()], [false, true]);
    await field('onFailure').selectOption('move');
    assert.deepEqual([await row('failureFolder').isVisible(), await row('failureFlag').isVisible()], [true, false]);
    await field('failureFolder').fill('Failed');
    await field('ackTimeout').fill('60');
    // Shared: the lease appears.
    await field('shared').check();
    assert.equal(await row('lease').isVisible(), true);
    await field('lease').fill('90');
    await screenshot(page, 'receive-email-settle-open', topTray(page));
    await closeNodeDialog(page, 'ok');
    assert.deepEqual(await saved(id), { settle: 'ack', onSuccess: 'move', successFolder: 'Done', successFlag: '\\Flagged', onFailure: 'move', failureFolder: 'Failed', ackTimeout: 60, shared: true, lease: 90, pop3Delete: false });
    // Opened again: open, as saved.
    await openNodeDialog(page, id);
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true', 'open for a node that settles on acknowledgement');
    await body.waitFor({ state: 'visible' });
    assert.deepEqual([await field('settle').inputValue(), await field('onSuccess').inputValue(), await field('failureFolder').inputValue()], ['ack', 'move', 'Failed']);

    // POP3: only delete or leave after success, retry or leave after failure; no sharing.
    await openConnectionDialog(page, 'add');
    await page.locator('#node-config-input-protocol').selectOption('pop3');
    await page.locator('#node-config-input-host').fill('localhost');
    await closeConnectionDialog(page, 'ok');
    await page.locator(`#${T}-pop3-action`).waitFor({ state: 'visible' });
    assert.equal(collapse(await page.locator(`#${T}-pop3-action`).innerText()), en.warning['pop3-action']);
    assert.deepEqual(await offered('onSuccess'), ['move', 'delete', 'none'], 'POP3 actions, and the one set before (flagged)');
    await field('onSuccess').selectOption('delete');
    assert.deepEqual(await offered('onSuccess'), ['delete', 'none']);
    await field('onFailure').selectOption('retry');
    assert.deepEqual(await offered('onFailure'), ['retry', 'seen']);
    assert.equal(collapse(await field('onFailure').locator('option[value="seen"]').innerText()), en.option.onFailure.leave);
    await page.locator(`#${T}-pop3-action`).waitFor({ state: 'hidden' });
    // Shared was on: it stays in view with a warning until cleared; then only a note.
    assert.equal(await row('shared').isVisible(), true);
    assert.equal(collapse(await page.locator(`#${T}-pop3-shared-on`).innerText()), en.warning['pop3-shared']);
    assert.equal(await row('lease').isVisible(), false);
    await field('shared').uncheck();
    await row('shared').waitFor({ state: 'hidden' });
    assert.equal(collapse(await page.locator(`#${T}-pop3-shared`).innerText()), en.hint['pop3-shared']);
    await screenshot(page, 'receive-email-settle-pop3', topTray(page));
    await closeNodeDialog(page, 'ok');
    assert.deepEqual(await saved(id), { settle: 'ack', onSuccess: 'delete', successFolder: 'Done', successFlag: '\\Flagged', onFailure: 'retry', failureFolder: 'Failed', ackTimeout: 60, shared: false, lease: 90, pop3Delete: true });

    // Old nodes (no settle properties), imported as the Import dialog does: IMAP with and without
    // Unseen Only, POP3 with and without "delete after emitting".
    const old = [
      { id: 'mw-old-imap', connection: 'mw-old-imap-conn', unseenOnly: true, y: 260, expected: 'seen', open: false },
      { id: 'mw-old-imap-all', connection: 'mw-old-imap-conn', unseenOnly: false, y: 320, expected: 'none', open: false },
      { id: 'mw-old-pop3', connection: 'mw-old-pop3-conn', unseenOnly: true, pop3Delete: false, y: 380, expected: 'none', open: false },
      { id: 'mw-old-pop3-delete', connection: 'mw-old-pop3-conn', unseenOnly: true, pop3Delete: true, y: 440, expected: 'delete', open: true },
    ];
    await page.evaluate((nodes) => {
      const z = RED.workspaces.active();
      const flow = [
        { id: 'mw-old-imap-conn', type: 'mailwire-receive-connection', name: 'old imap', protocol: 'imap', host: 'imap.example.com', port: 993, security: 'tls', certificate: '' },
        { id: 'mw-old-pop3-conn', type: 'mailwire-receive-connection', name: 'old pop3', protocol: 'pop3', host: 'pop.example.com', port: 995, security: 'tls', certificate: '' },
        ...nodes.map((n: Record<string, unknown>) => ({
          id: n.id, type: 'mailwire-receive-email', z, x: 400, y: n.y, wires: [[]], name: '', connection: n.connection, folder: '',
          unseenOnly: n.unseenOnly, delay: 5, delayUnit: 's', maxEmails: 5, push: false, start: 'all', sizeLimit: 25,
          ...(n.pop3Delete === undefined ? {} : { pop3Delete: n.pop3Delete }),
        })),
      ];
      RED.view.importNodes(flow, { generateIds: false, touchImport: true });
    }, old);
    for (const n of old) {
      const before = await saved(n.id);
      const history = await page.evaluate(() => RED.history.depth());
      await openNodeDialog(page, n.id);
      assert.equal(await toggle.getAttribute('aria-expanded'), String(n.open), `${n.id}: the section is ${n.open ? 'open' : 'closed'}`);
      assert.deepEqual(
        { settle: await field('settle').inputValue(), onSuccess: await field('onSuccess').inputValue(), onFailure: await field('onFailure').inputValue(), ackTimeout: await field('ackTimeout').inputValue() },
        { settle: 'emit', onSuccess: n.expected, onFailure: 'retry', ackTimeout: '300' },
        `${n.id}: what the dialog shows`,
      );
      await closeNodeDialog(page, 'ok');
      assert.deepEqual(await saved(n.id), before, `${n.id}: saved without changes, it gained nothing`);
      assert.equal(await page.evaluate(() => RED.history.depth()), history, `${n.id}: the editor recorded no change`);
    }
    assertNoPageErrors(e);
    await e.context.close();
  });

  it('Import > Examples lists every example flow of the package', async () => {
    assert.ok(redReceive);
    const e = await editor(redReceive);
    const { page } = e;
    await page.locator('#red-ui-header-button-sidemenu').click();
    await page.locator('#menu-item-import').click();
    await page.locator('#red-ui-tab-red-ui-clipboard-dialog-import-tab-examples a').click();
    const examples = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
    await examples.locator('.red-ui-treeList-label-text', { hasText: /^@mailwire\/node-red-email$/ }).click();
    assert.ok(exampleNames.length >= 4, `only ${exampleNames.length} example files`);
    for (const name of exampleNames) {
      await examples.locator('.red-ui-treeList-label-text').filter({ hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }).waitFor();
    }
    // The package's folder lists exactly these, in file-name order.
    const listed = await examples.locator('.red-ui-treeList-label-text').allInnerTexts();
    const start = listed.indexOf('@mailwire/node-red-email');
    assert.deepEqual(listed.slice(start + 1, start + 1 + exampleNames.length), exampleNames);
    await screenshot(page, 'import-examples', page.locator('#red-ui-clipboard-dialog').locator('..'));
    assertNoPageErrors(e);
    await e.context.close();
  });

  it('Validate needs write permission: the viewer gets 401/403 and no token gets 401, on both routes', async () => {
    assert.ok(redReceive);
    const bodies = {
      receive: { protocol: 'imap', host: 'localhost', port: info.ports.imaps, security: 'tls', certificate: pem, user: uniqueUser('viewer'), password: info.password },
      send: { host: 'localhost', port: info.ports.submission, security: 'starttls', certificate: pem, user: uniqueUser('viewer'), password: info.password },
    };
    for (const kind of ['receive', 'send'] as const) {
      const asViewer = await redReceive.api('POST', `/mailwire/validate/${kind}`, bodies[kind], VIEWER);
      assert.ok([401, 403].includes(asViewer.status), `viewer on ${kind}: ${asViewer.status} ${await asViewer.text()}`);
      const anonymous = await redReceive.api('POST', `/mailwire/validate/${kind}`, bodies[kind], null);
      assert.equal(anonymous.status, 401, `no token on ${kind}`);
    }
    // The viewer may read the editor (so the denial is about the route, not the login).
    const flows = await redReceive.api('GET', '/flows', undefined, VIEWER);
    assert.equal(flows.status, 200);
  });
});
