import type { NodeAPI } from 'node-red';
import { describeFailure } from './describe-failure';

/** What the provider's return to the callback came to. */
export type CallbackOutcome =
  | { kind: 'signed-in'; account?: string }
  | { kind: 'unknown-state' }
  | { kind: 'foreign-session' }
  | { kind: 'provider-error'; error: string }
  | { kind: 'exchange-failed'; code: string };

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => ESCAPES[c]);

/**
 * The page the sign-in window shows when the provider sends the user back: a title and a line
 * in the runtime's language, no script, no token. `type` names the catalog the texts come from
 * (either connection's: both hold the same oauth.page section). Every value is escaped, the
 * provider's `error` parameter included: it comes from the address bar, so anyone can craft it.
 */
export function callbackPage(RED: NodeAPI, type: string, outcome: CallbackOutcome): string {
  const t = (key: string, values?: Record<string, string>): string => RED._(`${type}.oauth.page.${key}`, values);
  let title: string;
  let line: string;
  switch (outcome.kind) {
    case 'signed-in':
      title = t('signed-in-title');
      line = outcome.account ? t('signed-in-as', { account: outcome.account }) : t('signed-in');
      break;
    case 'provider-error': {
      title = t('failed-title');
      const known = ['access_denied', 'consent_required', 'login_required', 'interaction_required', 'invalid_scope', 'unauthorized_client'];
      line = known.includes(outcome.error) ? t(`provider.${outcome.error}`) : t('provider.other', { error: outcome.error.slice(0, 80) });
      break;
    }
    case 'exchange-failed':
      title = t('failed-title');
      line = t('exchange-failed', { reason: describeFailure(RED, type, outcome.code, {}) });
      break;
    default:
      title = t('failed-title');
      line = t(outcome.kind);
  }
  const close = outcome.kind === 'signed-in' ? `<p>${escapeHtml(t('close'))}</p>` : `<p>${escapeHtml(t('retry'))}</p>`;
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;line-height:1.5}h1{font-size:1.3em}</style></head>
<body><h1 id="mailwire-oauth-outcome" data-outcome="${escapeHtml(outcome.kind)}">${escapeHtml(title)}</h1><p>${escapeHtml(line)}</p>${close}</body></html>
`;
}
