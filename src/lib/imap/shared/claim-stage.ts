import type { ImapFlow, SearchObject } from 'imapflow';
import { MailError } from '../../mail-error';
import type { PollJob } from '../../mail-source';
import type { FolderProgress } from '../../progress-store';
import { sortBySize } from '../poll/fetch-sizes';
import { floorUid, startingProgress } from '../poll/folder-progress';
import { folderPath } from '../poll/poll-folder';
import { fetchRequested } from '../poll/requested-fetch';
import { samePath, selectFolder } from '../poll/select-folder';
import { DONE_KEYWORD, LEASE_KEYWORD, checkSharedSupport, claimKeyword, claimants, ensureFolder } from './claims';
import type { ClaimsNames, SharedOptions } from './claims';
import type { PeerWatch } from './peer-watch';

export interface ClaimJob {
  job: PollJob;
  names: ClaimsNames;
  shared: SharedOptions;
  peers: PeerWatch;
  /** Where the node's starting point in the source folder is kept. */
  sourceScope: string;
}

interface ListedStatus {
  status?: { messages?: number; highestModseq?: bigint | number | string };
}

/** The heartbeat: a message marked \Deleted (so never emitted) whose flags the instance keeps changing. */
const HEARTBEAT = Buffer.from('Subject: Mailwire heartbeat\r\nFrom: mailwire@localhost\r\n\r\nKeeps this claims folder alive while its Node-RED instance runs.\r\n');

async function heartbeatUid(client: ImapFlow, names: ClaimsNames): Promise<number | undefined> {
  await selectFolder(client, names.own, false, { fresh: true });
  const found = (await client.search({ deleted: true }, { uid: true })) || [];
  return found[0];
}

/** A live instance's claims folder keeps changing, so that no other instance takes its claims over. */
export async function renewLease(client: ImapFlow, names: ClaimsNames): Promise<void> {
  await ensureFolder(client, names.own);
  let uid = await heartbeatUid(client, names);
  if (uid === undefined) {
    await client.append(names.own, HEARTBEAT, ['\\Deleted', '\\Seen']);
    uid = await heartbeatUid(client, names);
    if (uid === undefined) return;
  }
  await client.messageFlagsAdd([uid], [LEASE_KEYWORD], { uid: true, silent: true });
  await client.messageFlagsRemove([uid], [LEASE_KEYWORD], { uid: true, silent: true });
}

/**
 * Claims messages of the selected folder: adds this instance's keyword (taking away the keywords
 * of instances known dead), reads the flags back, and keeps what carries no other instance's
 * keyword; lets go of the rest. Returns the UIDs won.
 */
export async function claimIn(client: ImapFlow, uids: number[], me: string, dead: ReadonlySet<string>): Promise<number[]> {
  if (uids.length === 0) return [];
  const mine = claimKeyword(me);
  if (dead.size > 0) await client.messageFlagsRemove(uids, [...dead].map(claimKeyword), { uid: true, silent: true });
  if (!(await client.messageFlagsAdd(uids, [mine], { uid: true, silent: true }))) throw new MailError('protocol', 'the server refused a claim keyword');
  const won: number[] = [];
  const lost: number[] = [];
  for await (const item of fetchRequested(client, uids, 'flags')) {
    const who = claimants(item.flags);
    if (who.length === 1 && who[0] === me) won.push(item.uid);
    else if (who.includes(me)) lost.push(item.uid);
  }
  if (lost.length > 0) await client.messageFlagsRemove(lost, [mine], { uid: true, silent: true });
  return won.sort((a, b) => a - b);
}

/**
 * Instances whose claims folder has stood still for a whole lease are dead: what they held in
 * it is claimed and moved into this instance's folder. Returns the dead instances' ids and how
 * many emails wait in this instance's folder.
 */
async function takeOverDead(client: ImapFlow, claim: ClaimJob): Promise<{ dead: Set<string>; waiting: number }> {
  const { names, peers, shared } = claim;
  const folders = (await client.list({ listOnly: true })).map((m) => m.path).filter((path) => path.startsWith(`${names.parent}${names.delimiter}`));
  const dead = new Set<string>();
  let waiting = 0;
  for (const path of folders) {
    const status = (await client.status(path, { messages: true, highestModseq: true })) as ListedStatus['status'];
    // The heartbeat is one of the messages.
    const messages = Math.max(0, Number(status?.messages ?? 0) - 1);
    if (samePath(path, names.own)) {
      waiting += messages;
      continue;
    }
    // Without HIGHESTMODSEQ a live instance would look dead: refuse rather than guess.
    if (status?.highestModseq === undefined) throw new MailError('invalid-config', 'STATUS without HIGHESTMODSEQ', { problem: 'shared-unsupported', missing: 'CONDSTORE' });
    if (!peers.observe(path, String(status.highestModseq), shared.leaseMs)) continue;
    const entry = { path };
    const peerId = entry.path.slice(names.parent.length + names.delimiter.length);
    dead.add(peerId);
    if (messages === 0) continue;
    await selectFolder(client, entry.path, false, { fresh: true });
    const held = (await client.search({ deleted: false }, { uid: true })) || [];
    const won = await claimIn(client, held, shared.instanceId, dead);
    if (won.length > 0) await client.messageMove(won, names.own, { uid: true });
    waiting += won.length;
  }
  return { dead, waiting };
}

/**
 * The claim stage of a shared poll: take over what dead instances held, then claim the oldest
 * new emails of the source folder, as many as this poll may emit, and move what was won into
 * this instance's claims folder; the stages that follow read that folder. Oversized emails are
 * reported by the instance that wins them and marked done for all.
 */
export async function claimStage(client: ImapFlow, claim: ClaimJob): Promise<void> {
  const { job, names, shared } = claim;
  checkSharedSupport(client);
  await renewLease(client, names);
  const { dead, waiting } = await takeOverDead(client, claim);
  const room = job.request.maxEmails > 0 ? job.request.maxEmails - waiting : Infinity;

  const source = folderPath(job.request.folder);
  const selected = await selectFolder(client, source, false, { fresh: true });
  const mailbox = client.mailbox;
  if (mailbox && mailbox.permanentFlags && !mailbox.permanentFlags.has('\\*')) {
    throw new MailError('invalid-config', `folder ${source} does not take keywords`, { problem: 'shared-unsupported', missing: 'keywords' });
  }
  let progress: FolderProgress | undefined = job.progress.folder(claim.sourceScope);
  if (!progress || progress.uidValidity !== selected.uidValidity) {
    progress = startingProgress(selected, job.request.start);
    job.progress.set(claim.sourceScope, progress);
  }
  const floor = floorUid(progress);
  const query: SearchObject = { deleted: false, unKeyword: DONE_KEYWORD, ...(job.request.unseenOnly ? { seen: false } : {}), ...(floor > 1 ? { uid: `${floor}:*` } : {}) };
  const found = ((await client.search(query, { uid: true })) || []).filter((uid) => uid >= floor).sort((a, b) => a - b);
  // Free, claimed by a dead instance, or by this one before it stopped; not what a live one holds.
  const candidates: number[] = [];
  for await (const item of fetchRequested(client, found, 'flags')) {
    const who = claimants(item.flags);
    if (who.every((id) => id === shared.instanceId || dead.has(id))) candidates.push(item.uid);
  }
  candidates.sort((a, b) => a - b);
  const chosen = room === Infinity ? candidates : candidates.slice(0, Math.max(0, room));
  const won = await claimIn(client, chosen, shared.instanceId, dead);
  if (won.length === 0) return;
  const sized = await sortBySize(client, won, job.sizeLimit);
  if (sized.tooLarge.length > 0) {
    const uids = sized.tooLarge.map((t) => t.uid);
    await client.messageFlagsRemove(uids, [claimKeyword(shared.instanceId)], { uid: true, silent: true });
    await client.messageFlagsAdd(uids, [DONE_KEYWORD], { uid: true, silent: true });
    for (const { uid, size } of sized.tooLarge) {
      job.listener.skip(`${job.connectionId}/${source}/${selected.uidValidity}/${uid}`, 'too-large', { size: String(size), limit: String(job.sizeLimit) });
    }
  }
  if (sized.wanted.length > 0) await client.messageMove(sized.wanted, names.own, { uid: true });
}
