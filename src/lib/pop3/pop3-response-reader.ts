// Byte-level framing of POP3 responses (RFC 1939 section 3). Socket chunks go in as they arrive;
// complete responses come out. The body of a multi-line response stays bytes from end to end, so a
// message in any charset or with 8-bit bytes reaches the MIME parser unchanged.

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

/** RFC 2449 allows 512 octets; real greetings and errors are far shorter, so this only stops a runaway server. */
const MAX_STATUS_LINE_BYTES = 8192;

export interface Pop3Response {
  ok: boolean;
  /** The status line after `+OK` / `-ERR` and the space that follows it. */
  text: string;
  /** Present only for a multi-line response that began with `+OK`: the lines unstuffed, CRLFs kept, without the final `.CRLF`. */
  body?: Buffer;
  /** The same body when it was expected as `'parts'`: slices of the received chunks, in order, never joined. */
  bodyParts?: Buffer[];
  /**
   * Present only for a SASL continuation (`+ <base64>`, RFC 5034), which only an AUTH exchange
   * may receive: the base64 text, '' for an empty challenge. `ok` is false then.
   */
  challenge?: string;
}

/**
 * Whether a response has a body, and in what form: joined into one Buffer, or as the slices of the
 * socket chunks it arrived in, so that a large message is not held twice while it is joined.
 */
export type BodyForm = boolean | 'parts';

interface Expectation {
  multiline: BodyForm;
  /** A `+ ` continuation is an answer too (AUTH), not a framing error. */
  challenge: boolean;
}

/** The server sent something that is not POP3. */
export class Pop3FramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Pop3FramingError';
  }
}

/**
 * Where the body scanner stands. The state lives between chunks, so a terminator or a stuffed dot
 * split across socket reads is recognised however the bytes were cut.
 */
const enum BodyState {
  /** The previous byte was LF (or the body just began). */
  LineStart,
  InLine,
  /** A line began with a dot, which was dropped. */
  AfterDot,
  /** A line began with dot and CR; the CR is held back until the next byte shows whether this is the end. */
  AfterDotCr,
}

interface BodyInProgress {
  status: string;
  form: BodyForm;
  parts: Buffer[];
  length: number;
  state: BodyState;
}

/**
 * Turns a POP3 byte stream into responses. Whether a response has a body depends on the command,
 * so the caller announces each expected response with `expect()` before the server can answer it.
 * Bytes that arrive while nothing is expected are kept (see `unexpectedBytes`) and parsed once a
 * response is expected.
 *
 * Work is linear in the input: the body is kept as slices of the received chunks and joined once,
 * or not at all when the caller asks for the slices.
 */
export class Pop3ResponseReader {
  private readonly expected: Expectation[] = [];
  private unexpected: Buffer[] = [];
  private unexpectedLength = 0;

  private statusParts: Buffer[] = [];
  private statusLength = 0;

  /** Set while the body of an `+OK` multi-line response is being read. */
  private body: BodyInProgress | null = null;

  /**
   * Announces the next response; `multiline` is true (or 'parts') for commands like RETR, LIST,
   * UIDL, CAPA, `challenge` for the lines of an AUTH exchange, which the server may answer with `+ `.
   */
  expect(multiline: BodyForm, challenge = false): void {
    this.expected.push({ multiline, challenge });
  }

  /** Responses announced with `expect()` and not complete yet. */
  get pendingResponses(): number {
    return this.expected.length;
  }

  /** Bytes received while no response was expected. A POP3 server never speaks unasked. */
  get unexpectedBytes(): number {
    return this.unexpectedLength;
  }

  /** Drops the bytes received while nothing was expected (after STLS they may be an injection). */
  discardUnexpected(): void {
    this.unexpected = [];
    this.unexpectedLength = 0;
  }

  /** Forgets everything, expectations included; used when the byte stream changes (TLS upgrade). */
  reset(): void {
    this.expected.length = 0;
    this.discardUnexpected();
    this.statusParts = [];
    this.statusLength = 0;
    this.body = null;
  }

  /** Feeds one socket chunk and returns the responses it completed, in order. Throws Pop3FramingError. */
  push(chunk: Buffer): Pop3Response[] {
    const responses: Pop3Response[] = [];
    const inputs = this.unexpectedLength > 0 ? [...this.unexpected, chunk] : [chunk];
    this.discardUnexpected();
    for (let i = 0; i < inputs.length; i += 1) {
      const input = inputs[i];
      let offset = 0;
      while (offset < input.length) {
        if (this.expected.length === 0) {
          for (const rest of [input.subarray(offset), ...inputs.slice(i + 1)]) {
            if (rest.length === 0) continue;
            this.unexpected.push(rest);
            this.unexpectedLength += rest.length;
          }
          return responses;
        }
        offset = this.body ? this.readBody(this.body, input, offset, responses) : this.readStatus(input, offset, responses);
      }
    }
    return responses;
  }

  private readStatus(input: Buffer, offset: number, responses: Pop3Response[]): number {
    const lf = input.indexOf(LF, offset);
    const end = lf === -1 ? input.length : lf;
    if (this.statusLength + (end - offset) > MAX_STATUS_LINE_BYTES) {
      throw new Pop3FramingError(`status line longer than ${MAX_STATUS_LINE_BYTES} bytes`);
    }
    this.statusParts.push(input.subarray(offset, end));
    this.statusLength += end - offset;
    if (lf === -1) return input.length;

    let line = Buffer.concat(this.statusParts, this.statusLength);
    this.statusParts = [];
    this.statusLength = 0;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    const { multiline, challenge } = this.expected[0];
    if (challenge) {
      // `+OK` does not match: after the plus comes a space or the end of the line.
      const continuation = /^\+(?: (.*))?$/s.exec(line.toString('latin1'));
      if (continuation) {
        this.expected.shift();
        responses.push({ ok: false, text: '', challenge: continuation[1] ?? '' });
        return lf + 1;
      }
    }
    const { ok, text } = parseStatus(line);
    if (ok && multiline !== false) {
      this.body = { status: text, form: multiline, parts: [], length: 0, state: BodyState.LineStart };
    } else {
      this.expected.shift();
      responses.push({ ok, text });
    }
    return lf + 1;
  }

  /** Scans for `.CRLF` at a line start, dropping the first dot of every line that starts with one. */
  private readBody(body: BodyInProgress, input: Buffer, offset: number, responses: Pop3Response[]): number {
    let keepFrom = offset;
    let at = offset;
    const keep = (end: number): void => {
      if (end > keepFrom) {
        body.parts.push(input.subarray(keepFrom, end));
        body.length += end - keepFrom;
      }
    };
    while (at < input.length) {
      switch (body.state) {
        case BodyState.LineStart:
          if (input[at] === DOT) {
            keep(at);
            at += 1;
            keepFrom = at;
            body.state = BodyState.AfterDot;
          } else {
            body.state = BodyState.InLine;
          }
          break;
        case BodyState.InLine: {
          const lf = input.indexOf(LF, at);
          if (lf === -1) {
            at = input.length;
          } else {
            at = lf + 1;
            body.state = BodyState.LineStart;
          }
          break;
        }
        case BodyState.AfterDot:
          if (input[at] === CR) {
            keep(at);
            at += 1;
            keepFrom = at;
            body.state = BodyState.AfterDotCr;
          } else {
            // RFC 1939: a leading dot followed by anything but CRLF is dropped; `..` is the usual case.
            body.state = BodyState.InLine;
          }
          break;
        case BodyState.AfterDotCr:
          if (input[at] === LF) {
            this.body = null;
            this.expected.shift();
            responses.push(body.form === 'parts'
              ? { ok: true, text: body.status, bodyParts: body.parts }
              : { ok: true, text: body.status, body: Buffer.concat(body.parts, body.length) });
            return at + 1;
          }
          // Not the end after all: the held-back CR belongs to the line.
          // A buffer of its own: the parts may be handed out, and a shared one could be written to.
          body.parts.push(Buffer.from([CR]));
          body.length += 1;
          body.state = BodyState.InLine;
          break;
      }
    }
    keep(input.length);
    return input.length;
  }
}

function parseStatus(line: Buffer): { ok: boolean; text: string } {
  const text = line.toString('utf8');
  const match = /^(\+OK|-ERR)(?: (.*))?$/is.exec(text);
  if (!match) {
    throw new Pop3FramingError(`not a POP3 status line: ${JSON.stringify(text.slice(0, 40))}`);
  }
  return { ok: match[1].toUpperCase() === '+OK', text: match[2] ?? '' };
}
