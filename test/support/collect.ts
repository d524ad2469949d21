import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EmailMessage } from '../../src/lib/mail-mapper';
import type { PollListener } from '../../src/lib/mail-source';

export interface Collected extends PollListener {
  emitted: EmailMessage[];
  skipped: Array<{ key: string; reason: string; detail: Record<string, string> }>;
  resets: string[];
  active: boolean;
}

/** A PollListener that records everything, as the Receive Email node would hand it on. */
export function collector(onEmit?: (message: EmailMessage) => void): Collected {
  const c: Collected = {
    emitted: [],
    skipped: [],
    resets: [],
    active: true,
    emit(message) {
      c.emitted.push(message);
      onEmit?.(message);
    },
    skip(key, reason, detail) {
      c.skipped.push({ key, reason, detail });
    },
    folderReset(folder, oldValidity, newValidity) {
      c.resets.push(`${folder}:${oldValidity}->${newValidity}`);
    },
    isActive: () => c.active,
  };
  return c;
}

export function tempStateFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-state-')), 'state.json');
}
