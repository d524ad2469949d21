// Sign in with OAuth2 from the connection dialog, end to end: a real Node-RED (admin auth on,
// with and without httpAdminRoot), Debian's Chromium, and a provider whose login and consent
// pages the test goes through in the window that Sign in opens. The provider is the private
// oidc-provider of scripts/mail-servers.mjs when it runs (servers.json has `oauth`), else a small
// stand-in on loopback (a login page that redirects back with a code, and a scripted token
// endpoint). The time from pressing Sign in to the dialog showing the account is printed, not
// asserted: this machine is shared. The device code is driven from the dialog too: the code it
// shows is approved at the provider, and the dialog polls until it shows the account.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, NodeRedProcess } from '../support/node-red-process';
import { approveDevice, oauthInfo } from '../support/oauth';
import { until } from '../support/wait';
import type { Editor } from './browser';
import { closeConnectionDialog, configNodeIds, dropNode, editorSettings, launchBrowser, openConnectionDialog, openEditor, openNodeDialog, screenshot, topTray } from './browser';
import type { TestProvider } from './oauth-dialog';
import { RECEIVE_CONNECTION, fillCustomProvider, privateProvider, signInFromDialog } from './oauth-dialog';

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const RED: any;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** A config node's properties in the editor's model, as they would be exported (defined ones only). */
async function configNode(page: Page, id: string): Promise<Record<string, unknown>> {
  return page.evaluate((nodeId) => {
    const node = RED.nodes.node(nodeId);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(node._def.defaults)) if (node[key] !== undefined) out[key] = node[key];
    return out;
  }, id);
}

const TYPE = RECEIVE_CONNECTION;

async function signInThroughDialog(browser: Browser, provider: TestProvider, adminRoot: string): Promise<void> {
  const red = await NodeRedProcess.start({ extraSettings: editorSettings, adminRoot });
  let e: Editor | undefined;
  try {
    e = await openEditor(browser, red, ADMIN, 'en-US', { allowOrigins: provider.origins });
    const { page, context } = e;
    const id = await dropNode(page, 'mailwire-receive-email', 240, 140);
    await openNodeDialog(page, id);
    await openConnectionDialog(page, 'add');
    const user = `signin-${randomBytes(3).toString('hex')}@example.test`;

    // Password is the default; OAuth2 hides the password and shows the OAuth2 rows.
    assert.equal(await page.locator(`#${TYPE}-auth`).inputValue(), 'password');
    await page.locator(`#${TYPE}-auth`).selectOption('oauth2');
    await page.locator(`#${TYPE}-password-row`).waitFor({ state: 'hidden' });
    // Google fills its server and scope in.
    await page.locator(`#${TYPE}-oauthProvider`).selectOption('google');
    assert.equal(await page.locator('#node-config-input-host').inputValue(), 'imap.gmail.com');
    assert.equal(await page.locator(`#${TYPE}-port`).inputValue(), '993');
    assert.equal(await page.locator(`#${TYPE}-oauthScope`).inputValue(), 'https://mail.google.com/ openid email');

    await fillCustomProvider(page, provider, user);
    assert.equal(await page.locator(`#${TYPE}-oauth-redirect`).innerText(), `${red.url}/mailwire/oauth/callback`);
    assert.equal(await page.locator(`#${TYPE}-oauth-status`).getAttribute('data-state'), 'not-signed-in');

    const { ms, popup, shown } = await signInFromDialog(page, context, provider, user);
    console.log(`sign-in (${provider.name}${adminRoot ? `, httpAdminRoot ${adminRoot}` : ''}): ${Math.round(ms)} ms from pressing Sign in to the dialog showing it signed in`);
    // The account comes from the id_token's email claim (the provider puts the claims of `openid
    // email` into the id_token, as Google does).
    assert.match(shown, new RegExp(`^Signed in as ${user.replace(/\./g, '\\.')}; the access token is valid until `), shown);
    assert.match(await popup.locator('body').innerText(), /You can close this window/);
    await screenshot(page, `oauth-signed-in${adminRoot.replace(/\//g, '-')}`, topTray(page));

    // What the browser got from the sign-in routes: the provider's address, then statuses.
    const bodies = await Promise.all(e.responses.filter((r) => r.url().includes('/mailwire/oauth/')).map((r) => r.text().catch(() => '')));
    for (const body of bodies) assert.doesNotMatch(body, /token"|refresh|device_?code/i, body);
    // Saved: the OAuth2 properties on the node; no secret or token in the editor's model.
    const before = await configNodeIds(page, TYPE);
    await closeConnectionDialog(page, 'ok');
    const [added] = (await configNodeIds(page, TYPE)).filter((n) => !before.includes(n));
    const saved = await configNode(page, added);
    assert.equal(saved.auth, 'oauth2');
    assert.equal(saved.oauthProvider, 'custom');
    assert.equal(saved.oauthClientId, provider.clientId);
    assert.equal(saved.oauthTokenUrl, provider.tokenUrl);
    // A connection that keeps the password is saved as before OAuth2 existed: no auth, no oauth*.
    if (!adminRoot) {
      await openConnectionDialog(page, 'add');
      await page.locator('#node-config-input-host').fill('mail.example.test');
      const known = await configNodeIds(page, TYPE);
      await closeConnectionDialog(page, 'ok');
      const [plainId] = (await configNodeIds(page, TYPE)).filter((n) => !known.includes(n));
      const plain = await configNode(page, plainId);
      assert.deepEqual(Object.keys(plain).filter((k) => k === 'auth' || k.startsWith('oauth')), []);
    }
    assert.deepEqual(e.pageErrors.map((err) => err.message), []);
  } finally {
    await e?.context.close().catch(() => undefined);
    await red.stop();
  }
}

describe('OAuth2 sign-in from the connection dialog (real Node-RED, Chromium, oidc-provider)', { timeout: 240000 }, () => {
  let browser: Browser | undefined;
  const provider = privateProvider();

  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
  });

  it('Sign in opens the provider; the dialog shows it signed in and until when; saved, the connection has its OAuth2 properties', async () => {
    assert.ok(browser);
    await signInThroughDialog(browser, provider, '');
  });

  it('the same below httpAdminRoot /admin', async () => {
    assert.ok(browser);
    await signInThroughDialog(browser, provider, '/admin');
  });

  it('device code: started through the route, approved at the provider, polled to signed-in', async () => {
    const info = oauthInfo();
    const red = await NodeRedProcess.start({ extraSettings: editorSettings });
    try {
      const user = `device-${randomBytes(3).toString('hex')}@example.test`;
      const res = await red.api('POST', '/mailwire/oauth/device', {
        id: 'device-conn', type: TYPE, protocol: 'imap', auth: 'oauth2', oauthProvider: 'custom', oauthGrant: 'device-code', oauthClientId: info.clients.app.id,
        oauthClientSecret: info.clients.app.secret, oauthTokenUrl: info.tokenUrl, oauthDeviceUrl: info.deviceUrl, oauthAuthorizeUrl: '', oauthScope: 'openid email offline_access',
      });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      const started = JSON.parse(text) as { userCode: string; verificationUri: string; id: string; interval: number; expiresAt: number };
      assert.ok(!/device_?code/i.test(text), 'no device code in the reply');
      assert.match(started.verificationUri, /^https:\/\//);
      const pressed = Date.now();
      await approveDevice(started.userCode, user);
      let last: Record<string, unknown> = {};
      await until(async () => {
        last = (await (await red.api('GET', `/mailwire/oauth/device/${started.id}`)).json()) as Record<string, unknown>;
        assert.notEqual(last.state, 'failed', JSON.stringify(last));
        return last.state === 'signed-in';
      }, 60000, () => `the device sign-in (last: ${JSON.stringify(last)})`, 500);
      console.log(`device code sign-in: ${Date.now() - pressed} ms from approving the code to the route saying signed-in`);
      assert.equal(last.account, user, JSON.stringify(last));
      const status = (await (await red.api('GET', `/mailwire/oauth/status/device-conn?type=${TYPE}`)).json()) as Record<string, unknown>;
      assert.equal(status.state, 'signed-in');
      assert.equal(typeof status.accessTokenExpiresAt, 'number');
    } finally {
      await red.stop();
    }
  });

  it('device code from the dialog: the code and address shown (no device code sent to the page), approved at the provider, the dialog shows it signed in; saved with oauthGrant device-code and no secret', async () => {
    assert.ok(browser);
    const info = oauthInfo();
    // The public client (no secret); `openid email` puts the account into the id_token.
    const device: TestProvider = { ...provider, deviceUrl: info.deviceUrl, scope: 'mail openid email' };
    const red = await NodeRedProcess.start({ extraSettings: editorSettings });
    let e: Editor | undefined;
    try {
      e = await openEditor(browser, red, ADMIN, 'en-US', { allowOrigins: device.origins });
      const { page } = e;
      const id = await dropNode(page, 'mailwire-receive-email', 240, 140);
      await openNodeDialog(page, id);
      await openConnectionDialog(page, 'add');
      const user = `device-${randomBytes(3).toString('hex')}@example.test`;
      await fillCustomProvider(page, device, user);
      await page.locator(`#${TYPE}-oauthAuthorizeUrl`).waitFor({ state: 'hidden' });
      await page.locator(`#${TYPE}-oauth-redirect-row`).waitFor({ state: 'hidden' });
      await page.locator(`#${TYPE}-oauth-status[data-state="not-signed-in"]`).waitFor();
      const button = page.locator(`#${TYPE}-oauth-signin`);
      assert.equal((await button.innerText()).trim(), 'Get a device code');

      // The start reply, read at once (a body the page got long ago may no longer be kept).
      const [startReply] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/mailwire/oauth/device') && r.request().method() === 'POST'), button.click()]);
      const startText = await startReply.text();
      assert.equal(startReply.status(), 200, startText);
      const codeShown = page.locator(`#${TYPE}-oauth-device code.mailwire-oauth-user-code`);
      await codeShown.waitFor();
      const userCode = (await codeShown.innerText()).trim();
      assert.ok(userCode.length >= 4, `the user code shown: ${JSON.stringify(userCode)}`);
      const link = page.locator(`#${TYPE}-oauth-device a.mailwire-oauth-device-link`);
      const address = (await link.innerText()).trim();
      assert.equal(await link.getAttribute('href'), address);
      assert.equal(new URL(address).origin, new URL(info.deviceUrl).origin, address);
      assert.equal(await page.locator(`#${TYPE}-oauth-status`).getAttribute('data-state'), 'not-signed-in');

      await approveDevice(userCode, user);
      const approved = process.hrtime.bigint();
      const status = page.locator(`#${TYPE}-oauth-status[data-state="signed-in"]`);
      await status.waitFor({ timeout: 90000 });
      console.log(`device code from the dialog: ${Math.round(Number(process.hrtime.bigint() - approved) / 1e6)} ms from approving the code to the dialog showing it signed in`);
      const shown = await status.innerText();
      assert.match(shown, new RegExp(`^Signed in as ${user.replace(/\./g, '\\.')}; the access token is valid until `), shown);
      await page.locator(`#${TYPE}-oauth-result.mailwire-success`).waitFor();
      assert.equal(await page.locator(`#${TYPE}-oauth-device`).innerText(), '');
      assert.equal(await button.isDisabled(), false);

      // The device code stays in the runtime: no response the page got has it.
      assert.ok(startText.includes(userCode), startText);
      assert.doesNotMatch(startText, /device_?code/i, startText);
      const got = await Promise.all(e.responses.map(async (r) => ({ url: r.url(), body: await r.text().catch(() => '') })));
      assert.ok(got.some((r) => /\/mailwire\/oauth\/device\/[^/]+$/.test(r.url)), 'the dialog polled the device sign-in');
      for (const r of got) assert.doesNotMatch(r.body, /device_?code/i, r.url);
      for (const r of got.filter((x) => x.url.includes('/mailwire/oauth/'))) assert.doesNotMatch(r.body, /token"|refresh/i, r.url);

      // Saved: the device-code grant and its URL on the node; no secret or token in the editor's model.
      const known = await configNodeIds(page, TYPE);
      await closeConnectionDialog(page, 'ok');
      const [added] = (await configNodeIds(page, TYPE)).filter((n) => !known.includes(n));
      const saved = await configNode(page, added);
      assert.equal(saved.auth, 'oauth2');
      assert.equal(saved.oauthProvider, 'custom');
      assert.equal(saved.oauthGrant, 'device-code');
      assert.equal(saved.oauthDeviceUrl, info.deviceUrl);
      assert.equal(saved.oauthTokenUrl, info.tokenUrl);
      assert.equal(saved.oauthClientId, info.clients.public.id);
      // As the flow would be exported with its credentials: the User Name, and no other value.
      const exported = await page.evaluate((nodeId) => RED.nodes.convertNode(RED.nodes.node(nodeId), true), added) as Record<string, unknown> & { credentials?: Record<string, unknown> };
      assert.equal(exported.oauthClientSecret, undefined);
      assert.equal(exported.oauthRefreshToken, undefined);
      const { user: userName, ...secrets } = exported.credentials ?? {};
      assert.equal(userName, user);
      for (const [key, value] of Object.entries(secrets)) assert.ok(typeof value !== 'string' || value === '', `credentials.${key} is empty`);
      assert.deepEqual(e.pageErrors.map((err) => err.message), []);
    } finally {
      await e?.context.close().catch(() => undefined);
      await red.stop();
    }
  });
});
