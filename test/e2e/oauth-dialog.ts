// Signing in with OAuth2 from a receive connection's dialog in Chromium, shared by the e2e sign-in
// test and the oauth-login benchmark: the private provider as the dialog is given it, the Custom
// provider's fields filled in, and Sign in pressed and followed through the provider's pages to
// the dialog saying signed in.
import type { BrowserContext, Page } from 'playwright-core';
import { oauthInfo } from '../support/oauth';

export const RECEIVE_CONNECTION = 'mailwire-receive-connection';

/** What the dialog is given, and how a user gets through the provider's pages. */
export interface TestProvider {
  name: string;
  authorizeUrl: string;
  tokenUrl: string;
  clientId: string;
  scope: string;
  /** Given: Sign-in method Device code with this device authorization URL (no authorization URL). */
  deviceUrl?: string;
  origins: string[];
  /** Goes through the login (and consent) pages in the sign-in window as `user`. */
  login(popup: Page, user: string): Promise<void>;
}

/**
 * The private oidc-provider of scripts/mail-servers.mjs, with its public PKCE client: its own
 * login page (any login name is the mailbox user) and consent page, in the sign-in window.
 */
export function privateProvider(): TestProvider {
  const info = oauthInfo();
  return {
    name: 'oidc-provider',
    authorizeUrl: info.authorizeUrl,
    tokenUrl: info.tokenUrl,
    clientId: info.clients.public.id,
    // The test provider's mail scope, and `openid email`: an id_token with the email claim, which
    // the dialog shows as the account (as with Google's preset).
    scope: 'mail openid email offline_access',
    origins: [new URL(info.authorizeUrl).origin],
    login: async (popup, user) => {
      // Login, then consent: each page is a form; the last one sends the window to the callback.
      for (let page = 0; page < 4 && !popup.url().includes('/mailwire/oauth/callback'); page += 1) {
        const form = popup.locator('form').first();
        await form.waitFor();
        const login = popup.locator('input[name="login"]');
        if ((await login.count()) > 0) {
          await login.fill(user);
          await popup.locator('input[name="password"]').fill('any password');
        }
        const url = popup.url();
        await Promise.all([popup.waitForURL((next) => next.href !== url), form.locator('button[type="submit"], input[type="submit"]').first().click()]);
      }
    },
  };
}

/** In an open connection dialog: Authentication OAuth2, provider Custom with `provider`'s endpoints, grant and client, `user` as the User Name. */
export async function fillCustomProvider(page: Page, provider: TestProvider, user: string, type = RECEIVE_CONNECTION): Promise<void> {
  await page.locator(`#${type}-auth`).selectOption('oauth2');
  await page.locator(`#${type}-oauthProvider`).selectOption('custom');
  await page.locator('#node-config-input-host').fill('localhost');
  await page.locator('#node-config-input-user').fill(user);
  if (provider.deviceUrl) {
    await page.locator(`#${type}-oauthGrant`).selectOption('device-code');
    await page.locator(`#${type}-oauthDeviceUrl`).fill(provider.deviceUrl);
  } else {
    await page.locator(`#${type}-oauthAuthorizeUrl`).fill(provider.authorizeUrl);
  }
  await page.locator(`#${type}-oauthTokenUrl`).fill(provider.tokenUrl);
  await page.locator(`#${type}-oauthClientId`).fill(provider.clientId);
  await page.locator(`#${type}-oauthScope`).fill(provider.scope);
}

export interface DialogSignIn {
  /** From pressing Sign in to the dialog's status saying signed in. */
  ms: number;
  /** The sign-in window, left open on its closing page. */
  popup: Page;
  /** The dialog's status line at the end. */
  shown: string;
}

/** Presses Sign in, goes through the provider's pages as `user`, and waits for the dialog to say signed in. */
export async function signInFromDialog(page: Page, context: BrowserContext, provider: TestProvider, user: string, type = RECEIVE_CONNECTION): Promise<DialogSignIn> {
  const pressed = process.hrtime.bigint();
  const [popup] = await Promise.all([context.waitForEvent('page'), page.locator(`#${type}-oauth-signin`).click()]);
  // A browser already signed in at the provider (an earlier sign-in in this context) goes straight back.
  await popup.waitForURL((url) => provider.origins.includes(url.origin) || url.pathname.endsWith('/mailwire/oauth/callback'));
  await provider.login(popup, user);
  await popup.locator('#mailwire-oauth-outcome[data-outcome="signed-in"]').waitFor();
  const status = page.locator(`#${type}-oauth-status[data-state="signed-in"]`);
  await status.waitFor();
  const ms = Number(process.hrtime.bigint() - pressed) / 1e6;
  return { ms, popup, shown: await status.innerText() };
}
