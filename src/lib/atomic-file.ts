import fs from 'node:fs';
import path from 'node:path';

/**
 * Replaces `file` with `content` so that a crash leaves either the old or the new content, never a
 * mix: write beside it, flush it to the disk, then rename over it. The temporary name carries the process id so two
 * Node-RED instances sharing a directory do not write into each other's temporary file.
 */
export function writeFileAtomic(file: string, content: string, mode?: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    // openSync's mode only applies when it creates the file; a stale temporary file keeps its own.
    if (mode !== undefined) fs.fchmodSync(fd, mode);
    fs.writeSync(fd, content);
    // On the disk before the rename, so a power cut cannot leave the new name on empty content.
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
