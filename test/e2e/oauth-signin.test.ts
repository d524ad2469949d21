// Sign in with OAuth2 from the connection dialog, end to end: a real Node-RED (admin auth on,
// with and without httpAdminRoot), Debian's Chromium, and a provider whose login and consent
// pages the test goes through in the window that Sign in opens. The provider is the private
// oidc-provider of scripts/mail-servers.mjs when it runs (servers.json has `oauth`), else a small
// stand-in on loopback (a login page that redirects back with a code, and a scripted token
// endpoint). The time from pressing Sign in to the dialog showing the account is printed, not
// asserted: this machine is shared.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, NodeRedProcess } from '../support/node-red-process';
import { TokenEndpointStub, oauthError, tokens, unsignedJwt } from '../support/token-endpoint-stub';
import type { Editor } from './browser';
import { dropNode, editorSettings, launchBrowser, openConnectionDialog, openEditor, openNodeDialog, screenshot, topTray } from './browser';

const TYPE = 'mailwire-receive-connection';

/** What the dialog is given, and how a user gets through the provider's pages. */
interface TestProvider {
  name: string;
  authorizeUrl: string;
  tokenUrl: string;
  clientId: string;
  scope: string;
  origins: string[];
  /** Goes through the login (and consent) pages in the sign-in window as `user`. */
  login(popup: Page, user: string): Promise<void>;
  /** A token the provider issued to the runtime, to show that none reached the browser. */
  issued(): string[];
  close(): Promise<void>;
}

/**
 * A provider stand-in: a login page (the user types a name and presses Sign in) that redirects
 * to the redirect URI with a code, and a token endpoint that trades the code for tokens naming
 * that user.
 */
async function standInProvider(): Promise<TestProvider> {
  const stub = await TokenEndpointStub.start();
  const codes = new Map<string, string>();
  const issued: string[] = [];
  const page = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/authorize') {
      const hidden = ['redirect_uri', 'state'].map((n) => `<input type="hidden" name="${n}" value="${(url.searchParams.get(n) ?? '').replace(/"/g, '&quot;')}">`).join('');
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!DOCTYPE html><title>Log in</title><form method="post" action="/authorize">${hidden}<input name="login"><button type="submit">Sign in</button></form>`);
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const code = randomBytes(9).toString('hex');
      codes.set(code, form.get('login') ?? '');
      const back = new URL(form.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', form.get('state') ?? '');
      res.writeHead(302, { location: back.href });
      res.end();
    });
  });
  await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
  stub.handler = (request) => {
    const user = codes.get(request.params.get('code') ?? '');
    if (request.path !== '/token' || user === undefined) return oauthError('invalid_grant');
    const access = `access-${randomBytes(9).toString('hex')}`;
    const refresh = `refresh-${randomBytes(9).toString('hex')}`;
    issued.push(access, refresh);
    return tokens({ access_token: access, refresh_token: refresh, expires_in: 3600, id_token: unsignedJwt({ sub: user, email: user }) });
  };
  return {
    name: 'stand-in provider',
    authorizeUrl: `${origin}/authorize`,
    tokenUrl: stub.tokenUrl,
    clientId: 'mailwire-public',
    scope: 'openid email offline_access mail',
    origins: [origin],
    login: async (popup, user) => {
      await popup.locator('input[name="login"]').fill(user);
      await popup.locator('button[type="submit"]').click();
    },
    issued: () => issued,
    close: async () => {
      await stub.close();
      page.closeAllConnections();
      await new Promise<void>((resolve) => page.close(() => resolve()));
    },
  };
}

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
    assert.equal(await page.locator('#node-config-input-auth').inputValue(), 'password');
    await page.locator('#node-config-input-auth').selectOption('oauth2');
    await page.locator(`#${TYPE}-password-row`).waitFor({ state: 'hidden' });
    // Google fills its server and scope in.
    await page.locator('#node-config-input-oauthProvider').selectOption('google');
    assert.equal(await page.locator('#node-config-input-host').inputValue(), 'imap.gmail.com');
    assert.equal(await page.locator(`#${TYPE}-port`).inputValue(), '993');
    assert.equal(await page.locator('#node-config-input-oauthScope').inputValue(), 'https://mail.google.com/');

    await page.locator('#node-config-input-oauthProvider').selectOption('custom');
    await page.locator('#node-config-input-host').fill('localhost');
    await page.locator('#node-config-input-user').fill(user);
    await page.locator('#node-config-input-oauthAuthorizeUrl').fill(provider.authorizeUrl);
    await page.locator('#node-config-input-oauthTokenUrl').fill(provider.tokenUrl);
    await page.locator('#node-config-input-oauthClientId').fill(provider.clientId);
    await page.locator('#node-config-input-oauthScope').fill(provider.scope);
    assert.equal(await page.locator(`#${TYPE}-oauth-redirect`).innerText(), `${red.url}/mailwire/oauth/callback`);
    assert.equal(await page.locator(`#${TYPE}-oauth-status`).getAttribute('data-state'), 'not-signed-in');

    const pressed = Date.now();
    const [popup] = await Promise.all([context.waitForEvent('page'), page.locator(`#${TYPE}-oauth-signin`).click()]);
    await popup.waitForURL((url) => provider.origins.includes(url.origin));
    await provider.login(popup, user);
    await popup.locator('#mailwire-oauth-outcome[data-outcome="signed-in"]').waitFor();
    const status = page.locator(`#${TYPE}-oauth-status[data-state="signed-in"]`);
    await status.waitFor();
    const ms = Date.now() - pressed;
    console.log(`sign-in (${provider.name}${adminRoot ? `, httpAdminRoot ${adminRoot}` : ''}): ${ms} ms from pressing Sign in to the dialog showing the account`);
    assert.match(await status.innerText(), new RegExp(`Signed in as ${user.replace(/\./g, '\\.')}; the access token is valid until `));
    assert.match(await popup.locator('body').innerText(), /You can close this window/);
    await screenshot(page, `oauth-signed-in${adminRoot.replace(/\//g, '-')}`, topTray(page));

    // Nothing the browser got carries a token.
    const bodies = await Promise.all(e.responses.filter((r) => r.url().includes('/mailwire/oauth/')).map((r) => r.text().catch(() => '')));
    const popupText = await popup.content();
    for (const token of provider.issued()) {
      assert.ok(!bodies.some((b) => b.includes(token)) && !popupText.includes(token), 'a token reached the browser');
    }
    assert.deepEqual(e.pageErrors.map((err) => err.message), []);
  } finally {
    await e?.context.close().catch(() => undefined);
    await red.stop();
  }
}

describe('OAuth2 sign-in from the connection dialog (real Node-RED, Chromium)', { timeout: 240000 }, () => {
  let browser: Browser | undefined;
  let provider: TestProvider | undefined;

  before(async () => {
    [browser, provider] = await Promise.all([launchBrowser(), standInProvider()]);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await provider?.close();
  });

  it('Sign in opens the provider, and the dialog shows the signed-in account', async () => {
    assert.ok(browser && provider);
    await signInThroughDialog(browser, provider, '');
  });

  it('the same below httpAdminRoot /admin', async () => {
    assert.ok(browser && provider);
    await signInThroughDialog(browser, provider, '/admin');
  });
});
