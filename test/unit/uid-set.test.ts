import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fetchBatches } from '../../src/lib/imap/poll/fetch-batches';
import { uidSet } from '../../src/lib/imap/poll/uid-set';

describe('UID sets and fetch batches', () => {
  it('writes runs as ranges, in order, each UID once', () => {
    assert.equal(uidSet([5, 1, 2, 3, 9, 10, 3, 12]), '1:3,5,9:10,12');
    assert.equal(uidSet([7]), '7');
    assert.equal(uidSet(Array.from({ length: 1000 }, (_, i) => i + 1)), '1:1000');
  });
  it('cuts batches by count and by bytes, and never leaves a message out', () => {
    const uids = Array.from({ length: 10 }, (_, i) => i + 1);
    const sizes = new Map(uids.map((uid) => [uid, uid === 4 ? 950 : 100]));
    assert.deepEqual(fetchBatches(uids, sizes, 3, 1000), [[1, 2, 3], [4], [5, 6, 7], [8, 9, 10]]);
    // One message over the byte bound still goes, alone.
    assert.deepEqual(fetchBatches([1, 2], new Map([[1, 5000], [2, 10]]), 10, 1000), [[1], [2]]);
    assert.deepEqual(fetchBatches([], new Map()), []);
  });
});
