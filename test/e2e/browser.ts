// Helpers for driving the real Node-RED editor in Debian's Chromium (playwright-core): launch,
// log in through Node-RED's own login dialog, drop nodes from the palette, open edit dialogs,
// click Validate and wait for its POST, and save screenshots under test-artifacts/.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Locator, Page, Response } from 'playwright-core';
import type { EditorUser, NodeRedProcess } from '../support/node-red-process';
import { repoRoot } from '../support/servers';

// The editor's globals, as seen by functions that page.evaluate() runs in the browser.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const RED: any;
declare const $: any;
declare const document: any;
declare function getComputedStyle(element: unknown): { right: string };
/* eslint-enable @typescript-eslint/no-explicit-any */

export const artifactsDir = path.join(repoRoot, 'test-artifacts', 'editor');

/** Settings for every editor under test: no telemetry question popping up over the dialogs. */
export const editorSettings = 'telemetry: { enabled: false },';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.MAILWIRE_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface Editor {
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions in the page (our editor scripts run there). */
  pageErrors: Error[];
  /** Every response the page got from Node-RED, in order. */
  responses: Response[];
}

/**
 * A fresh browser context (own storage, so own login) on the editor, logged in as `user` through
 * the login dialog, with the palette loaded. Requests to anything but this Node-RED (the flow
 * library catalogue, fonts on CDNs) and `allowOrigins` (a test OAuth2 provider) are refused so
 * that the test never waits for the network.
 */
export async function openEditor(browser: Browser, red: NodeRedProcess, user: EditorUser, locale = 'en-US', options: { allowOrigins?: string[] } = {}): Promise<Editor> {
  // An OAuth2 test provider's own certificate authority is trusted by the runtime only.
  const context = await browser.newContext({ locale, viewport: { width: 1280, height: 1100 }, deviceScaleFactor: 1, ignoreHTTPSErrors: !!options.allowOrigins });
  context.setDefaultTimeout(20000);
  const allowed = [new URL(red.url).origin, ...(options.allowOrigins ?? [])];
  await context.route((url) => !allowed.includes(url.origin), (route) => route.abort());
  const page = await context.newPage();
  const pageErrors: Error[] = [];
  const responses: Response[] = [];
  page.on('pageerror', (error) => pageErrors.push(error));
  page.on('response', (response) => responses.push(response));
  await page.goto(`${red.url}/`);
  await page.locator('#node-dialog-login-username').fill(user.username);
  await page.locator('#node-dialog-login-password').fill(user.password);
  await page.locator('#node-dialog-login-submit').click();
  await waitForEditorReady(page);
  return { context, page, pageErrors, responses };
}

/** The palette shows our category and the workspace has loaded its flows. */
export async function waitForEditorReady(page: Page): Promise<void> {
  await page.locator('#red-ui-palette-container-email .red-ui-palette-node[data-palette-type="mailwire-send-email"]').waitFor();
  // The flows are in once a workspace is active and the loading overlay has gone.
  await page.waitForFunction(() => typeof RED !== 'undefined' && !!RED.workspaces.active() && !$('#red-ui-loading-progress').is(':visible'));
  await page.locator('#red-ui-workspace-chart').waitFor({ state: 'visible' });
}

/** The ids of the nodes of a type in the editor's model. */
export async function nodeIds(page: Page, type: string): Promise<string[]> {
  return page.evaluate((t) => RED.nodes.filterNodes({ type: t }).map((n: { id: string }) => n.id), type);
}

/** The ids of the config nodes of a type in the editor's model. */
export async function configNodeIds(page: Page, type: string): Promise<string[]> {
  return page.evaluate((t) => {
    const ids: string[] = [];
    RED.nodes.eachConfig((n: { id: string; type: string }) => {
      if (n.type === t) ids.push(n.id);
    });
    return ids;
  }, type);
}

/** Drags a node from the palette onto the workspace, as a user does; returns the new node's id. */
export async function dropNode(page: Page, type: string, x: number, y: number): Promise<string> {
  const before = await nodeIds(page, type);
  await page.dragAndDrop(`#red-ui-palette-container-email .red-ui-palette-node[data-palette-type="${type}"]`, '#red-ui-workspace-chart', {
    targetPosition: { x, y },
  });
  await page.waitForFunction(({ t, n }) => RED.nodes.filterNodes({ type: t }).length > n, { t: type, n: before.length });
  const added = (await nodeIds(page, type)).filter((id) => !before.includes(id));
  if (added.length !== 1) throw new Error(`expected one new ${type}, got ${added.length}`);
  return added[0];
}

/** The open edit tray (a config node's dialog takes the place of the node's dialog while open). */
export function topTray(page: Page): Locator {
  return page.locator('#red-ui-editor-stack > .red-ui-tray').last();
}

/** Double-clicks a node on the workspace; resolves when its edit dialog is ready. */
export async function openNodeDialog(page: Page, id: string): Promise<void> {
  await page.locator(`#red-ui-workspace-chart [id="${id}"] .red-ui-flow-node`).first().dblclick();
  await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
  await waitForTrayOpen(page);
}

/** Waits until the tray's slide-in (a 0.25 s transition of `right`) is over. */
export async function waitForTrayOpen(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const trays = document.querySelectorAll('#red-ui-editor-stack > .red-ui-tray');
    const top = trays[trays.length - 1];
    return !!top && getComputedStyle(top).right === '0px';
  });
}

/**
 * Opens the config dialog of the node's `connection` property: the pencil when a connection is
 * selected, the plus to add a new one.
 */
export async function openConnectionDialog(page: Page, how: 'add' | 'edit'): Promise<void> {
  // The config node's tray replaces the node's tray (which comes back when it closes).
  await page.locator(`#node-input-btn-connection-${how}`).click();
  await page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
  await waitForTrayOpen(page);
}

/** Closes the connection's dialog (Add/Update or Cancel); resolves when the node's dialog is back. */
export async function closeConnectionDialog(page: Page, button: 'ok' | 'cancel'): Promise<void> {
  await page.locator(`#node-config-dialog-${button}`).click();
  await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
  await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
  await waitForTrayOpen(page);
}

/** Closes the node's dialog (Done or Cancel); resolves when no dialog is open. */
export async function closeNodeDialog(page: Page, button: 'ok' | 'cancel'): Promise<void> {
  await page.locator(`#node-dialog-${button}`).click();
  await page.locator('#red-ui-editor-stack > .red-ui-tray').waitFor({ state: 'detached' });
}

export interface ValidateResult {
  status: number;
  reply: { ok: boolean; code: string; message: string; certificate?: { fingerprint256?: string; subject?: string; pem?: string }; folders?: string[]; count?: number };
  /** What the dialog shows under the button. */
  text: string;
  kind: 'success' | 'failure';
}

/** Clicks Validate in the open connection dialog and waits for its POST and what the dialog shows. */
export async function clickValidate(page: Page, kind: 'receive' | 'send'): Promise<ValidateResult> {
  const button = page.locator(`#mailwire-${kind}-connection-validate`);
  const result = page.locator(`#mailwire-${kind}-connection-validate-result`);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith(`/mailwire/validate/${kind}`)),
    button.click(),
  ]);
  const reply = (await response.json()) as ValidateResult['reply'];
  // The reply handler replaces the "Validating…" line and enables the button again.
  await page.locator(`#mailwire-${kind}-connection-validate-result:not(.mailwire-running):not(:empty)`).waitFor();
  await page.locator(`#mailwire-${kind}-connection-validate:not([disabled])`).waitFor();
  await result.scrollIntoViewIfNeeded();
  const cls = (await result.getAttribute('class')) ?? '';
  const text = ((await result.locator('.mailwire-validate-message').innerText()) ?? '').trim();
  return { status: response.status(), reply, text, kind: cls.includes('mailwire-success') ? 'success' : 'failure' };
}

/** Clicks Deploy and waits for Node-RED to accept the flows. */
export async function deploy(page: Page): Promise<void> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/flows')),
    page.locator('#red-ui-header-button-deploy').click(),
  ]);
  if (response.status() !== 200) throw new Error(`deploy answered ${response.status()}: ${await response.text()}`);
  await page.locator('#red-ui-header-button-deploy.disabled').waitFor();
}

/** Opens the help sidebar with the book button of the topmost dialog; returns the help text shown. */
export async function helpFromDialog(page: Page, expected: string): Promise<string> {
  await topTray(page).locator('.red-ui-tray-footer-left button:has(i.fa-book)').click();
  // Node-RED 4 marks the help tab active; Node-RED 5's new sidebar has no such tab, so the
  // help text itself is what is waited for.
  // The help panel (.red-ui-help) holds the node's help (also .red-ui-help) under a title.
  const help = page.locator('.red-ui-sidebar-help-stack .red-ui-help').first();
  await page.locator('.red-ui-sidebar-help-stack .red-ui-help', { hasText: expected.slice(0, 40) }).first().waitFor();
  return collapse(await help.innerText());
}

export function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Saves a screenshot (the whole page, or one element) as test-artifacts/editor/<name>.png. */
export async function screenshot(page: Page, name: string, element?: Locator): Promise<string> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  // Let fonts and the caret settle; the screenshot is for people, nothing asserts on pixels.
  await page.evaluate(() => document.fonts.ready);
  // A pasted certificate leaves its textarea scrolled to the end; show its beginning.
  await page.evaluate(() => document.querySelectorAll('textarea').forEach((t: { scrollTop: number }) => (t.scrollTop = 0)));
  if (element) await element.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
  else await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
  return file;
}
