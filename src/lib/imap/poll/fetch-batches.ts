/**
 * How many messages one body FETCH asks for. Each FETCH is a round trip, followed by the batch's
 * \Seen STORE, so few large batches drain a backlog fastest; the byte bound keeps what a batch
 * can hold in memory at once the same for a backlog of 1,000 and of 100,000.
 */
export const FETCH_BATCH_MESSAGES = 250;
export const FETCH_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Splits `uids` (in order) into batches of at most `maxMessages` and, unless one message alone is
 * larger, at most `maxBytes` by their sizes on the server.
 */
export function fetchBatches(uids: number[], sizes: ReadonlyMap<number, number>, maxMessages = FETCH_BATCH_MESSAGES, maxBytes = FETCH_BATCH_BYTES): number[][] {
  const batches: number[][] = [];
  let batch: number[] = [];
  let bytes = 0;
  for (const uid of uids) {
    const size = sizes.get(uid) ?? 0;
    if (batch.length > 0 && (batch.length >= maxMessages || bytes + size > maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(uid);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
