// What the bench checks on one received email, computed where the email arrives: in the bare
// loop's process, or inside Node-RED (node-red-reporter.ts), so both sides pay for the same check
// and only a few numbers travel back.
import { createHash } from 'node:crypto';
import { drainMarker, drainSubject } from './messages';

export interface AttachmentVerdict {
  filename: string;
  size: number;
  sha256: string;
}

export interface Verdict {
  /** The drain message's number from its subject, -1 when the subject is not one of the drain's. */
  index: number;
  /** The whole subject is the one generated for that number. */
  subjectOk: boolean;
  /** The text part holds that message's marker (the body was parsed intact). */
  markerOk: boolean;
  attachments: AttachmentVerdict[];
}

export interface ReceivedAttachment {
  filename?: string;
  content?: unknown;
}

export function verdictOf(subject: unknown, text: unknown, attachments: ReceivedAttachment[] | undefined): Verdict {
  const subjectText = typeof subject === 'string' ? subject : '';
  const match = /^Bench (\d{5}):/.exec(subjectText);
  const index = match ? Number(match[1]) : -1;
  return {
    index,
    subjectOk: index >= 0 && subjectText.startsWith(drainSubject(index)),
    markerOk: index >= 0 && typeof text === 'string' && text.includes(drainMarker(index)),
    attachments: (attachments ?? []).map((a) => {
      const content = Buffer.isBuffer(a.content) ? a.content : Buffer.alloc(0);
      return { filename: a.filename ?? '', size: content.length, sha256: createHash('sha256').update(content).digest('hex') };
    }),
  };
}
