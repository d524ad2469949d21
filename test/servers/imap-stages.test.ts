// The IMAP poll's stages, each alone, against the real Dovecot with a second real client on the
// same folder where it matters: select (a missing folder, a recreated one), the size stage and the
// body fetch (only the UIDs asked for, an expunged one simply gone), and emit-and-settle (the
// journal entry lives exactly from the emit to the confirmed \Seen).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ImapFlow } from 'imapflow';
import { connectImap, RUNTIME_TIMEOUTS } from '../../src/lib/imap/imap-client';
import { emitBatch } from '../../src/lib/imap/poll/emit-batch';
import { sortBySize } from '../../src/lib/imap/poll/fetch-sizes';
import { findNew } from '../../src/lib/imap/poll/find-new';
import { fetchRequested } from '../../src/lib/imap/poll/requested-fetch';
import { selectFolder } from '../../src/lib/imap/poll/select-folder';
import { MailError } from '../../src/lib/mail-error';
import type { ImapOrigin } from '../../src/lib/mail-mapper';
import type { FolderProgress } from '../../src/lib/progress-store';
import { settlePolicy } from '../../src/lib/settle/policy';
import { BusyClient } from '../support/busy-client';
import { collector } from '../support/collect';
import { appendMessages, listMailbox, receiveSettings, simpleMessage, uniqueUser } from '../support/servers';
import { adminClient } from '../support/dovecot-admin';

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}`);

describe('IMAP poll stages against Dovecot', () => {
  let user: string;
  let client: ImapFlow;
  before(async () => {
    user = uniqueUser('stages');
    await appendMessages(user, names('stage', 20).map((s) => simpleMessage(s)));
    client = await connectImap(receiveSettings('imap', 'none', user), RUNTIME_TIMEOUTS, () => undefined);
  });
  after(async () => {
    await client.logout().catch(() => client.close());
  });

  it('select: a missing folder is a folder error naming the folders there are', async () => {
    await assert.rejects(selectFolder(client, 'No Such Folder', true), (err: unknown) => err instanceof MailError && err.code === 'folder' && err.details.folders.includes('INBOX'));
  });

  it('select: an open folder is kept unless asked afresh, which sees a recreated folder', async () => {
    const admin = await adminClient(user);
    try {
      await admin.mailboxCreate('Again');
      const first = await selectFolder(client, 'Again', true);
      assert.equal((await selectFolder(client, 'Again', true)).uidValidity, first.uidValidity);
      await admin.mailboxDelete('Again');
      await admin.mailboxCreate('Again');
      assert.equal((await selectFolder(client, 'Again', true)).uidValidity, first.uidValidity, 'kept: the server does not say it was recreated');
      assert.notEqual((await selectFolder(client, 'Again', true, { fresh: true })).uidValidity, first.uidValidity);
    } finally {
      await admin.logout().catch(() => admin.close());
    }
  });

  it('sizes and bodies: only the UIDs asked for, each once, while another client toggles flags; one expunged after the search comes without a body and is simply gone', async () => {
    const selected = await selectFolder(client, 'INBOX', false, { fresh: true });
    const progress: FolderProgress = { uidValidity: selected.uidValidity, lastUid: 0, skipped: [] };
    const found = await findNew(client, progress, true);
    assert.equal(found.length, 20);
    const busy = await BusyClient.start(user, [{ kind: 'toggle-flags' }]);
    try {
      await busy.now('expunge', [found[3]]);
      const asked = found.slice(0, 10);
      const sized = await sortBySize(client, asked, 1000);
      // Dovecot may still answer the size of an expunged message from its index; the body is what counts.
      assert.ok(sized.wanted.every((uid) => asked.includes(uid)));
      assert.deepEqual(sized.tooLarge, []);
      const bodies: number[] = [];
      for await (const item of fetchRequested(client, sized.wanted, 'source')) {
        assert.ok(item.source.length > 0);
        bodies.push(item.uid);
      }
      assert.deepEqual(bodies, asked.filter((uid) => uid !== found[3]));
      const small = await sortBySize(client, found.slice(10, 12), 10);
      assert.deepEqual(small.tooLarge.map((t) => t.uid), found.slice(10, 12), 'over a 10-byte limit');
    } finally {
      await busy.stop();
    }
  });

  it('emit and settle: each email journaled right after its emit, the journal cleared once \\Seen is confirmed', async () => {
    const selected = await selectFolder(client, 'INBOX', false, { fresh: true });
    const progress: FolderProgress = { uidValidity: selected.uidValidity, lastUid: 0, skipped: [] };
    const batch = (await findNew(client, progress, true)).slice(0, 3);
    const journalAtEmit: number[][] = [];
    const listener = collector(() => journalAtEmit.push((progress.owed ?? []).map((o) => o.uid)));
    const origin = (uid: number): ImapOrigin => ({ folder: 'INBOX', uid, uidValidity: selected.uidValidity, messageId: undefined, connection: 'c', key: `c/INBOX/${selected.uidValidity}/${uid}` });
    let saves = 0;
    const policy = settlePolicy({ unseenOnly: true }, 'imap');
    const emitted = await emitBatch(client, batch, { progress, unseenOnly: true, policy, listener, origin, save: () => (saves += 1), skip: () => assert.fail('nothing to skip') });
    assert.equal(emitted, 3);
    // The listener runs before the entry is written: at each emit the journal holds the ones before.
    assert.deepEqual(journalAtEmit, [[], [batch[0]], [batch[0], batch[1]]]);
    assert.deepEqual(progress.owed, []);
    assert.equal(saves, 4, 'after each emit, and once the store was confirmed');
    const box = await listMailbox(user);
    assert.deepEqual(box.filter((m) => m.seen).map((m) => m.uid), batch);
  });
});
