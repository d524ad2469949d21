import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { journalPath } from '../../src/lib/journal-file';
import type { ProgressChange } from '../../src/lib/progress-change';
import { FileProgressStore } from '../../src/lib/progress-store';
import type { FolderProgress, MaildropProgress } from '../../src/lib/progress-store';
import { tempStateFile } from '../support/collect';

const FOLDER = 'imap://u@h:1/INBOX';
const DROP = 'pop3://u@h:2';

function fileBytes(file: string): number {
  return fs.statSync(file).size + (fs.existsSync(journalPath(file)) ? fs.statSync(journalPath(file)).size : 0);
}

/** A closed store whose maildrop got 'a' as a whole value, then 'b' as a change in the journal. */
function savedAB(): { file: string; drop: MaildropProgress } {
  const file = tempStateFile();
  const store = new FileProgressStore(file);
  const drop: MaildropProgress = { emitted: ['a'], skipped: [] };
  store.set(DROP, drop);
  drop.emitted.push('b');
  store.set(DROP, drop, { append: { emitted: ['b'] } });
  store.close();
  return { file, drop };
}

describe('progress store: snapshot + journal', () => {
  it('a store opened afterwards sees exactly what was set, changes and whole values mixed, across compactions', () => {
    const file = tempStateFile();
    const store = new FileProgressStore(file);
    const folder: FolderProgress = { uidValidity: '9', lastUid: 0, skipped: [] };
    store.set(FOLDER, folder);
    const drop: MaildropProgress = { emitted: [], skipped: [] };
    store.set(DROP, drop);
    for (let i = 1; i <= 3000; i += 1) {
      // What the poll stages do: change the value in place, then hand the store the change.
      folder.lastUid = i;
      const owed = { uid: i, action: { kind: 'seen' as const } };
      (folder.owed ??= []).push(owed);
      (folder.unsettled ??= {})[i] = 1;
      const change: ProgressChange = { set: { lastUid: i }, append: { owed: [owed] }, entries: { unsettled: { [i]: 1 } } };
      if (i > 1) change.entries = { unsettled: { [i]: 1, [i - 1]: null } };
      if (i > 1) delete folder.unsettled[i - 1];
      store.set(FOLDER, folder, change);
      drop.emitted.push(`uidl-${i}`);
      store.set(DROP, drop, { append: { emitted: [`uidl-${i}`] } });
      // Now and then a whole value, as after a batch's settle.
      if (i % 500 === 0) {
        folder.owed = [];
        store.set(FOLDER, folder);
      }
    }
    const reopened = new FileProgressStore(file);
    assert.deepEqual(reopened.folder(FOLDER), folder);
    assert.deepEqual(reopened.maildrop(DROP), drop);
    store.close();
    reopened.close();
  });

  it('an emitted email costs the file a few dozen bytes, however many were emitted before (O(1), not O(mailbox))', () => {
    const file = tempStateFile();
    const store = new FileProgressStore(file);
    const drop: MaildropProgress = { emitted: [], skipped: [] };
    store.set(DROP, drop);
    const uidl = (i: number): string => `0000${i}.abcdefgh`.slice(-14);
    for (let i = 0; i < 20_000; i += 1) {
      drop.emitted.push(uidl(i));
      store.set(DROP, drop, { append: { emitted: [uidl(i)] } });
    }
    // Written in all: the journal lines plus the snapshots of the compactions, which happen when the
    // journal reaches the snapshot's size, so they add at most about as much again.
    let written = 0;
    const before = fileBytes(file);
    const realWrite = fs.writeSync;
    const counting = (fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]): number => {
      written += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
      return (realWrite as (...args: unknown[]) => number)(fd, data, ...rest);
    };
    fs.writeSync = counting as typeof fs.writeSync;
    try {
      for (let i = 20_000; i < 21_000; i += 1) {
        drop.emitted.push(uidl(i));
        store.set(DROP, drop, { append: { emitted: [uidl(i)] } });
      }
    } finally {
      fs.writeSync = realWrite;
    }
    assert.ok(written / 1000 < 160, `${written / 1000} bytes per email appended (the whole list is ${before} bytes)`);
    assert.deepEqual(new FileProgressStore(file).maildrop(DROP)?.emitted.length, 21_000);
    store.close();
  });

  it('a last line torn by a crash is ignored; what came before it is kept', () => {
    const { file } = savedAB();
    fs.appendFileSync(journalPath(file), '{"s":"pop3://u@h:2","c":{"append":{"emitt');
    const reopened = new FileProgressStore(file);
    assert.deepEqual(reopened.maildrop(DROP)?.emitted, ['a', 'b']);
    // The next write starts a new generation without the torn line.
    reopened.set(DROP, { emitted: ['a', 'b', 'c'], skipped: [] }, { append: { emitted: ['c'] } });
    assert.deepEqual(new FileProgressStore(file).maildrop(DROP)?.emitted, ['a', 'b', 'c']);
    reopened.close();
  });

  it('a journal left over from before the last snapshot (a crash while compacting) is not replayed twice', () => {
    const { file, drop } = savedAB();
    const oldJournal = fs.readFileSync(journalPath(file), 'utf8');
    // The next instance compacts on its first write: a snapshot of the next generation…
    const next = new FileProgressStore(file);
    drop.emitted.push('c');
    next.set(DROP, drop, { append: { emitted: ['c'] } });
    next.close();
    // …and the crash came before the journal was restarted: the old one is still there.
    fs.writeFileSync(journalPath(file), oldJournal);
    assert.deepEqual(new FileProgressStore(file).maildrop(DROP)?.emitted, ['a', 'b', 'c']);
  });

  it('reads the whole-file format of earlier versions', () => {
    const file = tempStateFile();
    fs.writeFileSync(file, JSON.stringify({ version: 1, scopes: { [FOLDER]: { uidValidity: '3', lastUid: 7, skipped: [], pendingSeen: [6, 7] } } }));
    const store = new FileProgressStore(file);
    assert.deepEqual(store.folder(FOLDER), { uidValidity: '3', lastUid: 7, skipped: [], pendingSeen: [6, 7] });
    store.set(FOLDER, { uidValidity: '3', lastUid: 8, skipped: [] });
    assert.equal(new FileProgressStore(file).folder(FOLDER)?.lastUid, 8);
    store.remove();
    assert.equal(fs.existsSync(file), false);
    assert.equal(fs.existsSync(journalPath(file)), false);
  });
});
