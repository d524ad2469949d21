import type { SettleOutcome } from '../mail-source';
import type { SettleResult } from './policy';

/** A Receive Email node (settle ack) that holds emails in flight until they are acknowledged. */
export interface SettleHolder {
  /** Settles the email if this holder has it in flight; undefined when it does not. */
  settle(key: string, result: SettleResult): Promise<SettleOutcome> | undefined;
}

/**
 * Where an Email Done node finds the receiver of an email, by `msg.email.key`, within this
 * Node-RED process. Receivers hold their in-flight keys here (settle ack) or say that their
 * connection settles on emit, so a message of theirs needs nothing and is no cause for a warning.
 */
export class SettleRegistry {
  private readonly holders = new Map<string, SettleHolder[]>();
  private readonly onEmit = new Map<string, number>();

  hold(key: string, holder: SettleHolder): void {
    const list = this.holders.get(key) ?? [];
    if (!list.includes(holder)) list.push(holder);
    this.holders.set(key, list);
  }

  release(key: string, holder: SettleHolder): void {
    const list = (this.holders.get(key) ?? []).filter((h) => h !== holder);
    if (list.length > 0) this.holders.set(key, list);
    else this.holders.delete(key);
  }

  /** The acknowledgement of `key`, carried out by the receiver that emitted it; undefined when none holds it. */
  settle(key: string, result: SettleResult): Promise<SettleOutcome> | undefined {
    for (const holder of this.holders.get(key) ?? []) {
      const outcome = holder.settle(key, result);
      if (outcome) return outcome;
    }
    return undefined;
  }

  /** A receiver on this connection settles on emit; call the returned function when it stops. */
  settlesOnEmit(connectionId: string): () => void {
    this.onEmit.set(connectionId, (this.onEmit.get(connectionId) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.onEmit.get(connectionId) ?? 1) - 1;
      if (left > 0) this.onEmit.set(connectionId, left);
      else this.onEmit.delete(connectionId);
    };
  }

  isSettledOnEmit(connectionId: string): boolean {
    return this.onEmit.has(connectionId);
  }
}

/** One per Node-RED process: Email Done nodes and receivers meet here. */
export const settleRegistry = new SettleRegistry();
