// Access to the private Dovecot that scripts/mail-servers.mjs started: its ports, the one test
// password, the generated certificate, and ways to put mail into a fresh mailbox.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import type { ReceiveSettings, Security, ServerSettings } from '../../src/lib/connection-options';
import { until } from './wait';

export interface OAuthClientInfo {
  id: string;
  /** Absent for the public client. */
  secret?: string;
}

/** The private OAuth2 provider (scripts/oauth-server.mjs); endpoints as its discovery document gives them. */
export interface OAuthInfo {
  issuer: string;
  port: number;
  /** The test CA that issued the provider's certificate; test processes trust it (NODE_EXTRA_CA_CERTS). */
  caFile: string;
  certificate: string;
  key: string;
  authorizeUrl: string;
  tokenUrl: string;
  deviceUrl: string;
  revokeUrl: string;
  introspectUrl: string;
  /** Scope (and audience) of client-credentials tokens, which Dovecot lets into any mailbox. */
  appScope: string;
  /** Lifetime of the `short` client's access tokens. */
  shortTokenSeconds: number;
  clients: { app: Required<OAuthClientInfo>; public: OAuthClientInfo; short: Required<OAuthClientInfo>; dovecot: Required<OAuthClientInfo> };
}

export interface ServerInfo {
  stateDir: string;
  host: string;
  password: string;
  certificate: string;
  key: string;
  ports: { imap: number; imaps: number; pop3: number; pop3s: number; lmtp: number; sasl: number; smtp?: number; submission?: number; submissions?: number; oauth?: number };
  oauth?: OAuthInfo;
}

export const repoRoot = path.resolve(__dirname, '..', '..', '..');

let cached: ServerInfo | undefined;
export function serverInfo(): ServerInfo {
  if (!cached) {
    const file = path.join(process.env.MAILWIRE_STATE_DIR ?? path.join(repoRoot, '.mailwire'), 'servers.json');
    cached = JSON.parse(fs.readFileSync(file, 'utf8')) as ServerInfo;
  }
  return cached;
}

export function certificatePem(): string {
  return fs.readFileSync(serverInfo().certificate, 'utf8');
}

/** Any user name logs in with the test password, so a new name is a new, empty mailbox. */
export function uniqueUser(prefix = 'u'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function receiveSettings(protocol: 'imap' | 'pop3', security: Security, user: string, overrides: Partial<ReceiveSettings> = {}): ReceiveSettings {
  const info = serverInfo();
  const port = protocol === 'imap'
    ? (security === 'tls' ? info.ports.imaps : info.ports.imap)
    : (security === 'tls' ? info.ports.pop3s : info.ports.pop3);
  return {
    protocol,
    host: security === 'none' ? '127.0.0.1' : 'localhost',
    port,
    security,
    certificate: security === 'none' ? '' : certificatePem(),
    user,
    password: info.password,
    ...overrides,
  };
}

/** An RFC 5322 message with a unique subject, CRLF line ends. */
export function simpleMessage(subject: string, body = `Body of ${subject}`, extraHeaders = ''): Buffer {
  return Buffer.from(
    `From: Sender <sender@example.test>\r\nTo: rcpt@example.test\r\nSubject: ${subject}\r\n` +
    `Message-ID: <${randomBytes(8).toString('hex')}@example.test>\r\nDate: ${new Date().toUTCString()}\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n${extraHeaders}\r\n${body}\r\n`,
  );
}

/** An IMAP client on the plain port, logged in as `user`, for setting things up from a test (folders, flags). */
export async function adminClient(user: string): Promise<ImapFlow> {
  const info = serverInfo();
  const client = new ImapFlow({ host: '127.0.0.1', port: info.ports.imap, secure: false, doSTARTTLS: false, auth: { user, pass: info.password }, logger: false });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Appends through IMAP (plain port), in order, so UIDs follow the array order. */
export async function appendMessages(user: string, messages: Buffer[], options: { folder?: string; seen?: boolean; create?: boolean } = {}): Promise<void> {
  const client = await adminClient(user);
  try {
    const folder = options.folder ?? 'INBOX';
    if (options.create && folder !== 'INBOX') await client.mailboxCreate(folder).catch(() => undefined);
    for (const raw of messages) {
      await client.append(folder, raw, options.seen ? ['\\Seen'] : []);
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
}

/**
 * Writes messages straight into the user's Maildir: thousands in a second, where APPEND would
 * take a while. Dovecot assigns UIDs in file-name order when it next looks.
 */
export function writeMaildir(user: string, messages: Buffer[], options: { seen?: boolean } = {}): void {
  const info = serverInfo();
  const maildir = path.join(info.stateDir, 'mail', user, 'Maildir');
  const owner = fs.statSync(path.join(info.stateDir, 'mail'));
  for (const sub of ['', 'new', 'cur', 'tmp']) {
    const dir = path.join(maildir, sub);
    fs.mkdirSync(dir, { recursive: true });
    fs.chownSync(path.join(info.stateDir, 'mail', user), owner.uid, owner.gid);
    fs.chownSync(dir, owner.uid, owner.gid);
  }
  const stamp = Math.floor(Date.now() / 1000);
  messages.forEach((raw, i) => {
    const base = `${stamp}.M${String(i).padStart(7, '0')}P${process.pid}.mailwire-test`;
    const file = options.seen ? path.join(maildir, 'cur', `${base}:2,S`) : path.join(maildir, 'new', base);
    fs.writeFileSync(file, raw);
    fs.chownSync(file, owner.uid, owner.gid);
  });
}

/** Flags and subjects as the server holds them now, oldest first. */
export async function listMailbox(user: string, folder = 'INBOX'): Promise<Array<{ uid: number; seen: boolean; subject: string }>> {
  const client = await adminClient(user);
  try {
    const lock = await client.getMailboxLock(folder, { readOnly: true });
    try {
      const out: Array<{ uid: number; seen: boolean; subject: string }> = [];
      const exists = typeof client.mailbox === 'object' ? client.mailbox.exists : 0;
      if (exists === 0) return out;
      for await (const m of client.fetch('1:*', { uid: true, flags: true, envelope: true })) {
        out.push({ uid: m.uid, seen: m.flags?.has('\\Seen') ?? false, subject: m.envelope?.subject ?? '' });
      }
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
}

/** The raw messages of a mailbox in arrival order, waiting until at least `count` are there. */
export async function waitForMessages(user: string, count: number, timeoutMs = 10000): Promise<Buffer[]> {
  let found: Buffer[] | undefined;
  await until(async () => (found = await messagesIfAtLeast(user, count)) !== undefined, timeoutMs, `mailbox ${user} to get ${count} message(s)`, 100);
  return found ?? [];
}

/** The raw messages of the INBOX in arrival order, when there are at least `count`. */
async function messagesIfAtLeast(user: string, count: number): Promise<Buffer[] | undefined> {
  const client = await adminClient(user);
  try {
    const lock = await client.getMailboxLock('INBOX', { readOnly: true });
    try {
      const exists = typeof client.mailbox === 'object' ? client.mailbox.exists : 0;
      if (exists < count) return undefined;
      const out: Buffer[] = [];
      for await (const m of client.fetch('1:*', { source: true })) out.push(m.source ?? Buffer.alloc(0));
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
}

export function sendSettings(security: Security, user: string, overrides: Partial<ServerSettings> = {}): ServerSettings {
  const info = serverInfo();
  const ports = info.ports as Required<ServerInfo['ports']>;
  const port = security === 'tls' ? ports.submissions : ports.submission;
  return {
    host: security === 'none' ? '127.0.0.1' : 'localhost',
    port: security === 'none' ? ports.smtp : port,
    security,
    certificate: security === 'none' ? '' : certificatePem(),
    user: security === 'none' ? '' : user,
    password: security === 'none' ? '' : info.password,
    ...overrides,
  };
}
