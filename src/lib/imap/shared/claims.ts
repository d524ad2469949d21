import type { ImapFlow } from 'imapflow';
import { MailError } from '../../mail-error';
import { samePath } from '../poll/select-folder';

/**
 * Several Node-RED instances share one folder through the server alone. Measured on Dovecot 2.3:
 * neither a MOVE (two sessions moving the same message both got a copy, 100 of 200) nor a STORE
 * with UNCHANGEDSINCE (two sessions both "won" a message in 1 of 10 rounds) is atomic between
 * sessions, because each checks its own view of the folder. What holds is the order in which a
 * server commits changes and shows them to the next command: so an instance claims a message by
 * adding a keyword of its own and then reading the flags back. Whoever sees its keyword alone has
 * it (another instance that claimed at the same time necessarily sees both, and lets go); whoever
 * sees another's lets go. Only the winner then moves the message into its own claims folder.
 *
 * A live instance keeps touching a heartbeat message in its claims folder (the folder's
 * HIGHESTMODSEQ, RFC 7162, moves). One whose folder stands still for a lease has died: its
 * claims, in the source folder and in its claims folder, are claimed again by the others.
 */
export const DONE_KEYWORD = '$MailwireDone';
export const LEASE_KEYWORD = '$MailwireLease';
const CLAIM_PREFIX = '$MwClaim_';
const CLAIMS = 'Mailwire Claims';

/** The server extensions a shared folder needs: MOVE into the claims folder, UID EXPUNGE, HIGHESTMODSEQ. */
export const SHARED_CAPABILITIES = ['MOVE', 'UIDPLUS', 'CONDSTORE'] as const;

export interface SharedOptions {
  /** Stable for one node in one Node-RED instance (host, user directory, node), short. */
  instanceId: string;
  leaseMs: number;
}

export interface ClaimsNames {
  /** Where every instance's claims folder for this source folder lives. */
  parent: string;
  /** This instance's. */
  own: string;
  delimiter: string;
}

export function claimsNames(client: ImapFlow, source: string, instanceId: string): ClaimsNames {
  const delimiter = client.namespace?.delimiter || '/';
  const suffix = samePath(source, 'INBOX') ? '' : ` ${source.split(delimiter).join('_')}`;
  const parent = `${CLAIMS}${suffix}`;
  return { parent, own: `${parent}${delimiter}${instanceId}`, delimiter };
}

/** The keyword with which the instance of this id claims messages. */
export function claimKeyword(instanceId: string): string {
  return `${CLAIM_PREFIX}${instanceId}`;
}

/** The instance ids whose claim keywords are among these flags. */
export function claimants(flags: Iterable<string>): string[] {
  return [...flags].filter((f) => f.startsWith(CLAIM_PREFIX)).map((f) => f.slice(CLAIM_PREFIX.length));
}

/** Refuses, with what is missing, a server on which sharing could not be safe. */
export function checkSharedSupport(client: ImapFlow): void {
  const missing = SHARED_CAPABILITIES.filter((cap) => !client.capabilities.has(cap));
  if (missing.length > 0) {
    throw new MailError('invalid-config', `shared needs ${missing.join(', ')}`, { problem: 'shared-unsupported', missing: missing.join(', ') });
  }
}

/** Creates a folder unless it exists; a creation race with another instance is fine. */
export async function ensureFolder(client: ImapFlow, path: string): Promise<void> {
  const exists = (await client.list({ listOnly: true })).some((m) => samePath(m.path, path));
  if (exists) return;
  try {
    await client.mailboxCreate(path);
  } catch (err) {
    if (!(await client.list({ listOnly: true })).some((m) => samePath(m.path, path))) throw err;
  }
}
