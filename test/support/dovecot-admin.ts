// The private Dovecot seen from the side: who is connected, kicking a user, stopping and starting
// the daemon (Dovecot only: Postfix, which other tests use, keeps running). Everything here is
// asynchronous, so a test that waits on Dovecot never blocks the node it is watching.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { adminClient, listMailbox, repoRoot, serverInfo } from './servers';
import { until } from './wait';

export { adminClient };

const run = promisify(execFile);

export function dovecotConf(): string {
  return path.join(serverInfo().stateDir, 'dovecot', 'dovecot.conf');
}

export async function doveadm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('doveadm', ['-c', dovecotConf(), ...args], { encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The user's connections as Dovecot counts them (`doveadm who -1 <user>`), optionally one protocol. */
export async function serverConnections(user: string, proto?: 'imap' | 'pop3'): Promise<number> {
  const { stdout } = await doveadm('who', '-1', user);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([name, protocol]) => name === user && (!proto || protocol === proto)).length;
}

/** `doveadm kick <user>`: true when at least one connection was kicked. */
export async function kick(user: string): Promise<boolean> {
  const { code } = await doveadm('kick', user);
  // 0: kicked; 68 (EX_NOUSER): nobody of that name was connected.
  return code === 0;
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function waitForPort(port: number, open: boolean, ms: number): Promise<void> {
  return until(async () => (await portOpen(port)) === open, ms, `port ${port} to ${open ? 'open' : 'close'}`, 100);
}

/**
 * Runs the dovecot binary and waits for it to exit. No pipes: the daemon that `dovecot` forks would
 * inherit them and keep an execFile() waiting for as long as the daemon lives.
 */
function dovecotCommand(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('dovecot', ['-c', dovecotConf(), ...args], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 1));
  });
}

/** Stops the Dovecot daemon and waits until its IMAP and POP3 ports are closed. */
export async function stopDovecot(): Promise<void> {
  await dovecotCommand(['stop']);
  const { ports } = serverInfo();
  await Promise.all([ports.imap, ports.pop3].map((p) => waitForPort(p, false, 15000)));
}

/**
 * Starts Dovecot again with its config as scripts/mail-servers.mjs wrote it. When that does not
 * bring the ports up, falls back to `node scripts/mail-servers.mjs start` (which restarts
 * Postfix as well).
 */
export async function startDovecot(): Promise<void> {
  const { ports } = serverInfo();
  const all = [ports.imap, ports.imaps, ports.pop3, ports.pop3s];
  if ((await Promise.all(all.map(portOpen))).every(Boolean)) return;
  try {
    await dovecotCommand([]);
    await Promise.all(all.map((p) => waitForPort(p, true, 15000)));
  } catch {
    await new Promise((resolve) => {
      spawn(process.execPath, [path.join(repoRoot, 'scripts', 'mail-servers.mjs'), 'start'], { cwd: repoRoot, stdio: 'ignore' }).once('exit', resolve);
    });
  }
}

export function dovecotConfExists(): boolean {
  return fs.existsSync(dovecotConf());
}

/** The UIDs the server holds as read, and all UIDs, in one folder. */
export async function seenUids(user: string, folder = 'INBOX'): Promise<{ seen: Set<number>; all: number[] }> {
  const box = await listMailbox(user, folder);
  return { seen: new Set(box.filter((m) => m.seen).map((m) => m.uid)), all: box.map((m) => m.uid) };
}

/** Creates folders in the user's mailbox (settle and shared tests move mail into them). */
export async function createFolders(user: string, ...folders: string[]): Promise<void> {
  const client = await adminClient(user);
  try {
    for (const folder of folders) await client.mailboxCreate(folder);
  } finally {
    await client.logout().catch(() => client.close());
  }
}
