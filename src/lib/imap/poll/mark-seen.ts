import type { ImapFlow } from 'imapflow';

/**
 * \Seen on these UIDs; true once the server confirmed it. imapflow reports a refused STORE as
 * false rather than an error; a UID another session expunged meanwhile is not a failure (the
 * server either ignores it or says NO, and the next poll's search settles it either way).
 */
export async function markSeen(client: ImapFlow, uids: number[]): Promise<boolean> {
  if (uids.length === 0) return true;
  return client.messageFlagsAdd(uids, ['\\Seen'], { uid: true, silent: true });
}
