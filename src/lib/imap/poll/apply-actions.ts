import type { ImapFlow } from 'imapflow';
import { MailError } from '../../mail-error';
import type { OwedAction } from '../../progress-store';
import type { ServerAction } from '../../settle/policy';
import { fetchRequested } from './requested-fetch';
import { samePath } from './select-folder';

/** A way the server made us settle for less than asked, named for the status and the log. */
export type Fallback = 'move-by-copy' | 'deleted-not-expunged';

export interface Applied {
  /** UIDs whose action the server confirmed, or that need none any more (already so, or gone). */
  confirmed: Set<number>;
  /** UIDs whose action failed, with why (a missing folder, a refused command). */
  failed: Map<number, MailError>;
  fallbacks: Set<Fallback>;
}

function groupKey(action: ServerAction): string {
  switch (action.kind) {
    case 'seen':
    case 'delete':
      return action.kind;
    case 'flag':
      return `flag:${action.flag}`;
    case 'move':
      return `move:${action.folder}`;
    case 'return':
      return `return:${action.folder}:${action.add.join(' ')}:${action.remove.join(' ')}`;
  }
}

/** True when the message needs nothing more for this action. */
function alreadyDone(action: ServerAction, flags: Set<string>): boolean {
  if (action.kind === 'seen') return flags.has('\\Seen');
  if (action.kind === 'flag') return [...flags].some((f) => f.toLowerCase() === action.flag.toLowerCase());
  return false;
}

async function missingFolder(client: ImapFlow, folder: string): Promise<MailError> {
  const folders = (await client.list().catch(() => [])).map((m) => m.path);
  return folders.some((path) => samePath(path, folder))
    ? new MailError('protocol', `the server refused to put messages into ${folder}`, { folder })
    : new MailError('folder', `folder ${folder} does not exist`, { folder, folders: folders.join(', ') });
}

/**
 * \Deleted and UID EXPUNGE of exactly these UIDs. Without UIDPLUS there is no expunge that
 * touches only our messages (a plain EXPUNGE removes every \Deleted message in the folder, other
 * people's too), so they stay marked \Deleted for the next client that expunges.
 */
async function deleteExactly(client: ImapFlow, uids: number[], fallbacks: Set<Fallback>): Promise<boolean> {
  if (client.capabilities.has('UIDPLUS')) return (await client.messageDelete(uids, { uid: true })) === true;
  fallbacks.add('deleted-not-expunged');
  return client.messageFlagsAdd(uids, ['\\Deleted'], { uid: true, silent: true });
}

async function moveExactly(client: ImapFlow, uids: number[], folder: string, fallbacks: Set<Fallback>): Promise<boolean> {
  // MOVE is atomic (RFC 6851); imapflow's own fallback would EXPUNGE the whole folder.
  if (client.capabilities.has('MOVE')) return Boolean(await client.messageMove(uids, folder, { uid: true }));
  fallbacks.add('move-by-copy');
  if (!(await client.messageCopy(uids, folder, { uid: true }))) return false;
  return deleteExactly(client, uids, fallbacks);
}

async function run(client: ImapFlow, action: ServerAction, uids: number[], fallbacks: Set<Fallback>): Promise<boolean> {
  switch (action.kind) {
    case 'seen':
      return client.messageFlagsAdd(uids, ['\\Seen'], { uid: true, silent: true });
    case 'flag':
      return client.messageFlagsAdd(uids, [action.flag], { uid: true, silent: true });
    case 'delete':
      return deleteExactly(client, uids, fallbacks);
    case 'move':
      return moveExactly(client, uids, action.folder, fallbacks);
    case 'return':
      if (action.remove.length > 0 && !(await client.messageFlagsRemove(uids, action.remove, { uid: true, silent: true }))) return false;
      if (action.add.length > 0 && !(await client.messageFlagsAdd(uids, action.add, { uid: true, silent: true }))) return false;
      return moveExactly(client, uids, action.folder, fallbacks);
  }
}

/** Stores of a flag: doing one twice, or on a UID that is gone, changes nothing. */
function isPlainStore(action: ServerAction): boolean {
  return action.kind === 'seen' || action.kind === 'flag';
}

function groupByAction(owed: OwedAction[]): Map<string, { action: ServerAction; uids: number[] }> {
  const groups = new Map<string, { action: ServerAction; uids: number[] }>();
  for (const { uid, action } of owed) {
    const key = groupKey(action);
    const group = groups.get(key) ?? { action, uids: [] };
    if (!group.uids.includes(uid)) group.uids.push(uid);
    groups.set(key, group);
  }
  return groups;
}

/**
 * Carries out owed actions on the selected folder, one command per kind of action. A message no
 * longer there, or already as the action would leave it, needs nothing. What the server refuses
 * stays owed, with the reason.
 *
 * \Seen and flags go straight to the server: a STORE is harmless twice and on a UID that is gone
 * (RFC 3501 6.4.8 ignores it), so the check first would only cost a round trip per batch. Only
 * when such a STORE is refused, and for moves and deletes, are the messages looked at first.
 */
export async function applyActions(client: ImapFlow, owed: OwedAction[]): Promise<Applied> {
  const result: Applied = { confirmed: new Set(), failed: new Map(), fallbacks: new Set() };
  if (owed.length === 0) return result;
  const checked = owed.filter((o) => !isPlainStore(o.action));
  for (const { action, uids } of groupByAction(owed.filter((o) => isPlainStore(o.action))).values()) {
    if (await run(client, action, uids, result.fallbacks)) {
      for (const uid of uids) result.confirmed.add(uid);
      continue;
    }
    if (!client.usable) throw new MailError('closed', 'the connection ended while settling');
    checked.push(...uids.map((uid) => ({ uid, action })));
  }
  if (checked.length === 0) return result;
  const present = new Map<number, Set<string>>();
  for await (const item of fetchRequested(client, [...new Set(checked.map((o) => o.uid))], 'flags')) present.set(item.uid, item.flags);
  const due: OwedAction[] = [];
  for (const entry of checked) {
    const flags = present.get(entry.uid);
    if (!flags || alreadyDone(entry.action, flags)) result.confirmed.add(entry.uid);
    else due.push(entry);
  }
  for (const { action, uids } of groupByAction(due).values()) {
    if (await run(client, action, uids, result.fallbacks)) {
      for (const uid of uids) result.confirmed.add(uid);
      continue;
    }
    if (!client.usable) throw new MailError('closed', 'the connection ended while settling');
    const why = action.kind === 'move' || action.kind === 'return' ? await missingFolder(client, action.folder) : new MailError('protocol', `the server refused to settle with ${action.kind}`);
    for (const uid of uids) result.failed.set(uid, why);
  }
  return result;
}
