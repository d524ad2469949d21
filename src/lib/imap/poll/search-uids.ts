import type { ImapFlow } from 'imapflow';
import { MailError } from '../../mail-error';

/**
 * UID SEARCH that fails loudly: imapflow answers a refused search with false, which must not be
 * read as "nothing found" (that would clear the ledger and emit its UIDs a second time).
 */
export async function searchUids(client: ImapFlow, query: Parameters<ImapFlow['search']>[0]): Promise<number[]> {
  const found = await client.search(query, { uid: true });
  if (!found) throw new MailError('protocol', 'UID SEARCH failed');
  return found;
}
