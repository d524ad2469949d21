// Exchange Online ends a live IMAP session whose token expired with
// `* BYE Session invalidated - AccessTokenExpired`. Through the fault proxy, that line is sent to a
// push session logged in with a real token on the private Dovecot: the mailbox must mark the token
// refused, replace the session with one that logs in with a fresh token, and an email appended
// meanwhile must be emitted once.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ReceiveSettings } from '../../src/lib/connection-options';
import { ImapMailbox } from '../../src/lib/imap/imap-mailbox';
import { DEFAULT_SIZE_LIMIT } from '../../src/lib/mail-source';
import { FileProgressStore } from '../../src/lib/progress-store';
import type { MailboxSubscriber } from '../../src/lib/receive/mailbox';
import { settlePolicy } from '../../src/lib/settle/policy';
import { collector, tempStateFile } from '../support/collect';
import { FakeTokenSource } from '../support/fake-token-source';
import { FaultProxy } from '../support/fault-proxy';
import { clientCredentialsToken } from '../support/oauth';
import { appendMessages, receiveSettings, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { until } from '../support/wait';

/** The bearer token in each AUTHENTICATE a client sent through the proxy, in order. */
function tokensSent(proxy: FaultProxy): string[] {
  return proxy.connections.flatMap((c) =>
    [...c.clientText.matchAll(/^\S+ AUTHENTICATE \S+ (\S+)\r?$/gm)].map((m) => /auth=Bearer ([^\x01]*)/.exec(Buffer.from(m[1], 'base64').toString('utf8'))?.[1] ?? ''),
  );
}

describe('an IMAP session ended because its token expired', () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('"* BYE Session invalidated - AccessTokenExpired": token refused, new session with a fresh token, mail appended meanwhile emitted once', async () => {
    const user = uniqueUser('oauth-bye');
    const first = (await clientCredentialsToken()).accessToken;
    const fresh = (await clientCredentialsToken()).accessToken;
    const tokens = new FakeTokenSource([first, fresh]);
    const proxy = await FaultProxy.start(serverInfo().ports.imap);
    cleanup.push(() => proxy.close());
    const settings: ReceiveSettings = receiveSettings('imap', 'none', user, { port: proxy.port, password: '', tokens });
    const mailbox = new ImapMailbox({ settings: () => settings, folder: '', reconnectDelaysMs: [0, 200, 500] });
    cleanup.push(() => mailbox.close());
    const progress = new FileProgressStore(tempStateFile());
    const got = collector();
    // Polls one at a time, as the receive service does when a push subscriber hears of new mail.
    let polling: Promise<unknown> = Promise.resolve();
    const poll = (): void => {
      polling = polling.then(() =>
        mailbox
          .poll({
            request: { folder: '', unseenOnly: false, maxEmails: -1, start: 'all' },
            progress,
            listener: got,
            sizeLimit: DEFAULT_SIZE_LIMIT,
            connectionId: 'conn-bye',
            policy: settlePolicy({ unseenOnly: false, pop3Delete: false }, 'imap'),
            holding: new Set(),
          })
          .catch(() => undefined),
      );
    };
    const subscriber: MailboxSubscriber = { push: true, keepAlive: true, readOnly: false, newMail: poll, state: () => undefined };
    await appendMessages(user, [simpleMessage('before the BYE')]);
    const unsubscribe = mailbox.subscribe(subscriber);
    cleanup.push(async () => unsubscribe());
    poll();
    await until(() => got.emitted.length === 1, 15_000, 'the first email');
    await until(() => /IDLE\r?$/m.test(proxy.clientText), 15_000, 'the session to idle');
    assert.deepEqual(tokensSent(proxy), [first]);

    const [session] = proxy.openConnections();
    session.answer('* BYE Session invalidated - AccessTokenExpired\r\n');
    await appendMessages(user, [simpleMessage('while the session was replaced')]);

    await until(() => got.emitted.length >= 2, 20_000, 'the email appended meanwhile');
    await polling;
    assert.deepEqual(tokens.refusals, [first], 'the expired token was reported');
    assert.deepEqual(tokensSent(proxy), [first, fresh], 'the replacement logged in with the fresh token');
    assert.equal(proxy.total, 2, 'one replacement session');
    assert.deepEqual(got.emitted.map((m) => m.topic), ['before the BYE', 'while the session was replaced'], 'each once');
  });
});
