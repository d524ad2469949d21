// Delivers messages straight into a test user's Maildir the way an MDA does (write into tmp/,
// then rename into new/), so the server never sees a half-written file. Large messages are
// written in 64 KiB pieces so that the test process itself never holds them: the memory tests
// measure this very process, where the Receive Email node runs.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { serverInfo } from '../../support/servers';

/** A raw message, or a large one to be generated on disk: a text part and a base64 attachment. */
export type MaildirEntry = Buffer | { subject: string; size: number };

const CHUNK_LINES = 840; // 840 lines of 76 + CRLF = 64,680 bytes

function bigHeader(subject: string): string {
  const boundary = `big-${randomBytes(6).toString('hex')}`;
  return (
    `From: Sender <sender@example.test>\r\nTo: rcpt@example.test\r\nSubject: ${subject}\r\n` +
    `Message-ID: <${randomBytes(8).toString('hex')}@example.test>\r\nDate: ${new Date().toUTCString()}\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n` +
    `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody of ${subject}\r\n` +
    `--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n` +
    `Content-Disposition: attachment; filename="big.bin"\r\n\r\n` +
    `\u0000${boundary}`
  );
}

function writeBig(fd: number, subject: string, size: number): void {
  const [head, boundary] = bigHeader(subject).split('\u0000');
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  fs.writeSync(fd, head);
  const line = `${randomBytes(57).toString('base64')}\r\n`; // 76 characters of valid base64
  const chunk = Buffer.from(line.repeat(CHUNK_LINES));
  let written = Buffer.byteLength(head);
  while (written + tail.length < size) {
    const n = Math.min(chunk.length, Math.ceil((size - written - tail.length) / 78) * 78);
    fs.writeSync(fd, chunk, 0, n);
    written += n;
  }
  fs.writeSync(fd, tail);
}

export function deliver(user: string, entries: MaildirEntry[]): void {
  const info = serverInfo();
  const home = path.join(info.stateDir, 'mail', user);
  const maildir = path.join(home, 'Maildir');
  const owner = fs.statSync(path.join(info.stateDir, 'mail'));
  for (const dir of [home, maildir, ...['new', 'cur', 'tmp'].map((s) => path.join(maildir, s))]) {
    fs.mkdirSync(dir, { recursive: true });
    fs.chownSync(dir, owner.uid, owner.gid);
  }
  // Dovecot numbers new files in file-name order: seconds, then the M (microseconds) field.
  const stamp = Math.floor(Date.now() / 1000);
  const names = entries.map((_, i) => `${stamp}.M${String(i).padStart(7, '0')}P${process.pid}R${randomBytes(4).toString('hex')}.mailwire-fault`);
  entries.forEach((entry, i) => {
    const file = path.join(maildir, 'tmp', names[i]);
    const fd = fs.openSync(file, 'w');
    try {
      if (Buffer.isBuffer(entry)) fs.writeSync(fd, entry);
      else writeBig(fd, entry.subject, entry.size);
    } finally {
      fs.closeSync(fd);
    }
    fs.chownSync(file, owner.uid, owner.gid);
  });
  for (const name of names) fs.renameSync(path.join(maildir, 'tmp', name), path.join(maildir, 'new', name));
}
