import type { ImapFlow, MailboxObject } from 'imapflow';
import { MailError, classifyError } from '../../mail-error';

/** The folder as the server has it open for us. */
export interface SelectedFolder {
  path: string;
  uidValidity: string;
  /** UIDNEXT: the UID the next message will get. */
  uidNext: number;
}

interface ServerError {
  mailboxMissing?: boolean;
  serverResponseCode?: string;
  responseText?: string;
}

/** INBOX is case-insensitive (RFC 3501 5.1); every other name is the server's own. */
export function samePath(a: string, b: string): boolean {
  return a === b || (a.toUpperCase() === 'INBOX' && b.toUpperCase() === 'INBOX');
}

function described(mailbox: MailboxObject): SelectedFolder {
  return { path: mailbox.path, uidValidity: String(mailbox.uidValidity), uidNext: Number(mailbox.uidNext ?? 0) };
}

/**
 * Stage 1: the folder open, with EXAMINE when nothing will be changed (so not even \Recent is
 * consumed) and SELECT otherwise. Without `fresh`, a session that has it open that way already
 * keeps it (a held IDLE session stays where it is); `fresh` always selects.
 */
export async function selectFolder(client: ImapFlow, folder: string, readOnly: boolean, options: { fresh?: boolean } = {}): Promise<SelectedFolder> {
  const current = client.mailbox;
  if (!options.fresh && current && samePath(current.path, folder) && current.readOnly === readOnly) return described(current);
  try {
    return described(await client.mailboxOpen(folder, { readOnly }));
  } catch (err) {
    const serverError = err as ServerError;
    const missing = serverError.mailboxMissing === true || serverError.serverResponseCode === 'NONEXISTENT' || /exist|unknown mailbox|no such/i.test(serverError.responseText ?? '');
    if (missing && client.usable) {
      const folders = (await client.list().catch(() => [])).map((m) => m.path);
      throw new MailError('folder', `folder ${folder} does not exist`, { folder, folders: folders.join(', ') });
    }
    throw classifyError(err);
  }
}
