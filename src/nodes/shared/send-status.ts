import type { Node } from 'node-red';
import { clockTime } from './clock-time';

/** A key of the Send Email catalog, with its values, translated. */
export type Translate = (key: string, values?: Record<string, string | number>) => string;

/**
 * The Send Email node's status line, set when something changes for the user: "sending" when an
 * email goes out while none is in flight, "sent <time>" when the last one in flight is answered,
 * and every failure at once. Two status events per email, each a translation (and a clock
 * formatted for the time), cost more CPU in a bulk send than nodemailer's composing of the email,
 * and each went to every open editor. A failure stays on the line until the next burst starts, so
 * the other emails of its burst do not turn the line green before anyone saw it.
 */
export class SendStatus {
  private inFlight = 0;
  private failedInBurst = false;
  private sendingText: string | undefined;

  constructor(
    private readonly node: Node,
    private readonly t: Translate,
  ) {}

  /** An email was handed to the sender. */
  started(): void {
    this.inFlight += 1;
    if (this.inFlight > 1) return;
    this.failedInBurst = false;
    // Translated once: the text does not change while the runtime runs.
    this.sendingText ??= this.t('status.sending');
    this.node.status({ fill: 'blue', shape: 'dot', text: this.sendingText });
  }

  /** The server accepted an email that started(). */
  sent(): void {
    this.inFlight -= 1;
    if (this.inFlight > 0 || this.failedInBurst) return;
    this.node.status({ fill: 'green', shape: 'dot', text: this.t('status.sent', { time: clockTime() }) });
  }

  /** An email that started() failed; `reason` is the short text for the status line. */
  failed(reason: string): void {
    this.inFlight -= 1;
    this.failedInBurst = true;
    this.node.status({ fill: 'red', shape: 'ring', text: this.t('status.error', { reason }) });
  }

  /** An email was refused before it was handed to the sender: a failure of its burst like any other. */
  refused(reason: string): void {
    this.failedInBurst = true;
    this.node.status({ fill: 'red', shape: 'ring', text: this.t('status.error', { reason }) });
  }
}
