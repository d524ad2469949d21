// POP3 replies as a server puts them on the wire, for tests that play the server or feed a reader.

/** What a server puts on the wire for a message: every line starting with a dot gets one more. */
export function stuff(message: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let lineStart = 0; lineStart < message.length;) {
    const lf = message.indexOf(0x0a, lineStart);
    const lineEnd = lf === -1 ? message.length : lf + 1;
    if (message[lineStart] === 0x2e) parts.push(Buffer.from('.'));
    parts.push(message.subarray(lineStart, lineEnd));
    lineStart = lineEnd;
  }
  return Buffer.concat(parts);
}

/** A whole RETR reply: the status line, the dot-stuffed message, the terminator. */
export function retrResponse(message: Buffer, status = '+OK message follows'): Buffer {
  return Buffer.concat([Buffer.from(`${status}\r\n`), stuff(message), Buffer.from('.\r\n')]);
}
