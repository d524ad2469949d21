// OAuth2 failures at run time, in a flow, with real tokens: the sign-in revoked at the provider
// while Receive Email polls (one error, status "sign in again", no retry loop at the token
// endpoint; a new refresh token brings it back and nothing is lost), and the provider away for a
// few seconds (a temporary state: yellow status, a warning, no error; mail appended meanwhile
// arrives once it is back). POP3 logs in at every poll, so each poll asks for a token and Dovecot
// asks the provider about it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nodeRedSuite } from '../support/node-red-suite';
import { providerLog, providerReachable, providerUnreachable, revoke, signIn } from '../support/oauth';
import { connectionTokens, oauthCredentials, oauthReceiveConnection } from '../support/oauth-flows';
import { Watch, duplicates, errorLines, flow, receiver } from '../support/receive-watch';
import type { Instance } from '../support/receive-watch';
import { appendMessages, repoRoot, simpleMessage, uniqueUser } from '../support/servers';
import { sleep, until } from '../support/wait';

const KEY = 'mailwire-receive-email';
const subjects = (watch: Watch): string[] => watch.allSent('recv').map((s) => s.msg.topic);
/** Statuses whose reason (the short text in "retrying") is `code`. */
const retryingFor = (watch: Watch, instance: Instance, code: string) =>
  instance.statuses.filter((s) => s.text === `${KEY}.status.retrying` && watch.valuesOf(s)?.reason === `${KEY}.short.${code}`);
const refusedTokenRequests = (since: number): number => providerLog().slice(since).filter((l) => /grant\.error: InvalidGrant/.test(l)).length;
const describeState = (watch: Watch) => (): string => {
  const i = watch.current();
  return `sent ${JSON.stringify(subjects(watch))}, statuses ${JSON.stringify(i.statuses.slice(-3).map((s) => [s.text, s.fill, watch.valuesOf(s)]))}, errors ${JSON.stringify(i.errors)}, warnings ${JSON.stringify(i.warnings)}`;
};

describe('OAuth2 failures while Receive Email runs', () => {
  nodeRedSuite();

  it('sign-in revoked: "sign in again" once, no token-request loop; a new refresh token brings it back, nothing lost', async () => {
    const locale = JSON.parse(fs.readFileSync(path.join(repoRoot, 'locales', 'en-US', 'receive-email.json'), 'utf8')) as Record<string, { short: Record<string, string> }>;
    assert.equal(locale[KEY].short['oauth-signin-required'], 'sign in again');

    const user = uniqueUser('oauth-revoked');
    const conn = oauthReceiveConnection('pop3');
    const recv = receiver({ delay: 1, delayUnit: 's' });
    await appendMessages(user, [simpleMessage('before the revocation')]);
    const watch = new Watch();
    await watch.load(flow([conn], [recv]), { conn: oauthCredentials(user, (await signIn(user)).refreshToken) });
    await until(() => subjects(watch).length === 1, 20_000, describeState(watch));

    // The grant as the connection holds it now: the refresh token after its first rotation, and the access token in use.
    const held = await connectionTokens('conn');
    const logMark = providerLog().length;
    await revoke(held.accessToken, 'app', 'access_token');
    await revoke(held.refreshToken, 'app', 'refresh_token');
    const revokedAt = Date.now();
    await appendMessages(user, [simpleMessage('during the outage 1'), simpleMessage('during the outage 2')]);

    const first = watch.current();
    await until(() => retryingFor(watch, first, 'oauth-signin-required').length > 0, 20_000, describeState(watch));
    // Several Delays more: still one error, and the provider is not asked again and again.
    await sleep(10_000);
    const signinStatuses = retryingFor(watch, first, 'oauth-signin-required');
    assert.ok(signinStatuses.every((s) => s.fill === 'red'), 'not a temporary state');
    assert.equal(first.errors.length, 1, `one error, not one per poll: ${JSON.stringify(first.errors)}`);
    assert.match(first.errors[0].text, /oauth-signin-required/);
    const refused = refusedTokenRequests(logMark);
    assert.ok(refused >= 1 && refused <= 2, `refused token requests in ${Math.round((Date.now() - revokedAt) / 1000)} s: ${refused}`);
    assert.deepEqual(subjects(watch), ['before the revocation'], 'nothing was read with the revoked grant');

    // A new sign-in, given as the credential of a redeploy.
    await watch.unload();
    await watch.load(flow([conn], [recv]), { conn: oauthCredentials(user, (await signIn(user)).refreshToken) });
    const second = watch.current();
    await until(() => subjects(watch).length >= 3, 20_000, describeState(watch));
    await until(() => second.statuses.at(-1)?.fill === 'green', 10_000, describeState(watch));
    await sleep(1500);
    assert.deepEqual(subjects(watch), ['before the revocation', 'during the outage 1', 'during the outage 2']);
    assert.deepEqual(duplicates(watch.keys()), []);
    assert.deepEqual(second.errors, []);
  });

  it('provider away and back: temporary (yellow, retrying), a warning and no error; mail appended meanwhile arrives once', async () => {
    const user = uniqueUser('oauth-away');
    await appendMessages(user, [simpleMessage('before the outage')]);
    const watch = new Watch();
    await watch.load(flow([oauthReceiveConnection('pop3')], [receiver({ delay: 1, delayUnit: 's' })]), { conn: oauthCredentials(user, (await signIn(user)).refreshToken) });
    await until(() => subjects(watch).length === 1, 20_000, describeState(watch));
    const instance = watch.current();
    try {
      await providerUnreachable();
      await appendMessages(user, [simpleMessage('while the provider was away')]);
      await until(() => retryingFor(watch, instance, 'oauth-unavailable').length > 0, 20_000, describeState(watch));
    } finally {
      await providerReachable();
    }
    await until(() => subjects(watch).length >= 2, 30_000, describeState(watch));
    await until(() => instance.statuses.at(-1)?.fill === 'green', 10_000, describeState(watch));
    await sleep(1500);
    assert.deepEqual(subjects(watch), ['before the outage', 'while the provider was away']);
    assert.ok(retryingFor(watch, instance, 'oauth-unavailable').every((s) => s.fill === 'yellow'), 'temporary: yellow');
    assert.deepEqual(retryingFor(watch, instance, 'oauth-signin-required'), [], 'never taken for a bad sign-in');
    assert.deepEqual(instance.errors, [], 'no node.error');
    assert.ok(instance.warnings.length >= 1, 'the outage is told as a warning');
    assert.deepEqual(errorLines(), []);
  });
});
