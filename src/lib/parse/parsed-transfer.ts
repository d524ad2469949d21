import type { EmailMessage } from '../mail-mapper';

/** An email as parsed, without where it came from: what a parse worker hands back. */
export type ParsedEmail = Omit<EmailMessage, 'email'> & { messageId: string | undefined };

/** What a parse worker answers for one request. */
export type ParseAnswer = { id: number; email: ParsedEmail } | { id: number; reason: string };

/** What the main thread asks of a parse worker. */
export interface ParseRequest {
  id: number;
  raw: Uint8Array;
}

/**
 * True when `bytes` is the whole of its memory, so it can be handed to another thread without a
 * copy. A Buffer cut from Node's shared pool (small ones) or from a larger read is not: moving its
 * memory would take its neighbours with it, and cloning it would copy all of them.
 */
export function ownsItsMemory(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
}

/**
 * `bytes` ready to move to another thread: itself when it owns its memory, else a copy of exactly
 * its bytes. The second element lists what to transfer.
 */
export function movable(bytes: Uint8Array): [Uint8Array, ArrayBuffer[]] {
  const own = ownsItsMemory(bytes) ? bytes : new Uint8Array(bytes);
  return [own, [own.buffer as ArrayBuffer]];
}

/** A Buffer over bytes that arrived from another thread, without copying them. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
