// The real Receive Email node under node-red-node-test-helper, watched from the outside: every
// instance the runtime creates (one per deploy) is recorded with what it sent, its status and
// warnings (with time stamps), and when its close began; every RED._ call is logged with its
// values, which the helper's RED._ drops (status texts stay message keys, as in the other tests).
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import type { NodeInitializer } from './flows';
import { coreNode, helper, nodeModule } from './flows';
import { certificatePem, serverInfo } from './servers';

export type Flow = Parameters<typeof helper.load>[1];
export type Msg = NodeMessage & Record<string, unknown> & { topic: string; email: { key: string; uid?: number; uidl?: string } };

export interface Sent {
  at: number;
  msg: Msg;
}

export interface Instance {
  id: string;
  /** Deploy generation: which load() created it (see Watch.generation). */
  generation: number;
  node: Node;
  createdAt: number;
  /** When the runtime began closing it. */
  closingAt: number | undefined;
  sent: Sent[];
  /** `seq` orders statuses and translations (RED._ calls) of all instances against each other. */
  statuses: Array<{ at: number; seq: number; text: string; fill?: string }>;
  warnings: Array<{ at: number; text: string }>;
  errors: Array<{ at: number; text: string }>;
  /** Sends after its close had begun: must stay empty. */
  sentWhileClosing: Sent[];
}

export interface Translation {
  at: number;
  seq: number;
  key: string;
  values: Record<string, unknown> | undefined;
}

const RECEIVE_TYPE = 'mailwire-receive-email';

export class Watch {
  generation = 0;
  private seq = 0;
  readonly instances: Instance[] = [];
  readonly translations: Translation[] = [];

  /** The node modules to load: connection, an instrumented Receive Email, Catch. */
  nodes(): NodeInitializer {
    return [nodeModule('receive-connection'), this.receiveEmail(), nodeModule('email-done'), coreNode('common/25-catch.js')] as unknown as NodeInitializer;
  }

  /** Loads a flow as a new deploy generation. */
  async load(flow: Flow, credentials: Record<string, Record<string, string>>): Promise<void> {
    this.generation += 1;
    await helper.load(this.nodes(), flow, credentials);
  }

  /** Unloads (closes every node) and says how long the close took. */
  async unload(): Promise<number> {
    const started = Date.now();
    await helper.unload();
    return Date.now() - started;
  }

  current(id = 'recv'): Instance {
    const found = [...this.instances].reverse().find((i) => i.id === id);
    if (!found) throw new Error(`no instance of ${id}`);
    return found;
  }

  /** Everything sent by every instance, in order. */
  allSent(id?: string): Sent[] {
    return this.instances.filter((i) => !id || i.id === id).flatMap((i) => i.sent).sort((a, b) => a.at - b.at);
  }

  keys(id?: string): string[] {
    return this.allSent(id).map((s) => s.msg.email.key);
  }

  /**
   * The values of the RED._ call that made a status text: the last call for that key before the
   * status was set (the node translates and sets the status in one synchronous step).
   */
  valuesOf(status: { seq: number; text: string }): Record<string, unknown> | undefined {
    let found: Translation | undefined;
    for (const t of this.translations) if (t.key === status.text && t.seq < status.seq) found = t;
    return found?.values;
  }

  /** RED._ calls for a key suffix such as 'status.retrying'. */
  translated(suffix: string, since = 0): Translation[] {
    return this.translations.filter((t) => t.key === `${RECEIVE_TYPE}.${suffix}` && t.at >= since);
  }

  private receiveEmail(): NodeInitializer {
    const watch = this;
    const register = nodeModule('receive-email') as unknown as (RED: NodeAPI) => void;
    return ((RED: NodeAPI) => {
      const nodes = new Proxy(RED.nodes, {
        get(target, prop, receiver) {
          if (prop !== 'registerType') return Reflect.get(target, prop, receiver);
          return (type: string, ctor: (this: Node, def: unknown) => void, opts?: unknown) => {
            function Watched(this: Node, def: { id: string }): void {
              ctor.call(this, def);
              watch.instrument(this, def.id);
            }
            return (target.registerType as unknown as (...args: unknown[]) => void)(type, Watched, opts);
          };
        },
      });
      const red = new Proxy(RED, {
        get(target, prop, receiver) {
          if (prop === 'nodes') return nodes;
          if (prop === '_') {
            return (key: string, values?: Record<string, unknown>) => {
              watch.translations.push({ at: Date.now(), seq: (watch.seq += 1), key, values });
              return target._(key, values as never);
            };
          }
          return Reflect.get(target, prop, receiver);
        },
      });
      register(red);
    }) as unknown as NodeInitializer;
  }

  private instrument(node: Node, id: string): void {
    const instance: Instance = {
      id,
      generation: this.generation,
      node,
      createdAt: Date.now(),
      closingAt: undefined,
      sent: [],
      statuses: [],
      warnings: [],
      errors: [],
      sentWhileClosing: [],
    };
    this.instances.push(instance);
    const send = node.send.bind(node);
    node.send = ((msg: Msg) => {
      const entry = { at: Date.now(), msg };
      instance.sent.push(entry);
      if (instance.closingAt !== undefined) instance.sentWhileClosing.push(entry);
      send(msg);
    }) as Node['send'];
    const status = node.status.bind(node);
    node.status = ((s: { text?: string; fill?: string }) => {
      instance.statuses.push({ at: Date.now(), seq: (this.seq += 1), text: s.text ?? '', fill: s.fill });
      status(s as never);
    }) as Node['status'];
    const warn = node.warn.bind(node);
    node.warn = ((text: unknown) => {
      instance.warnings.push({ at: Date.now(), text: String(text) });
      warn(text);
    }) as Node['warn'];
    const error = node.error.bind(node);
    node.error = ((text: unknown, msg?: NodeMessage) => {
      instance.errors.push({ at: Date.now(), text: String(text) });
      error(text, msg);
    }) as Node['error'];
    // Registered after the node's own close handler, so it runs once that one has begun.
    node.on('close', () => {
      instance.closingAt = Date.now();
    });
  }
}

/** A receive connection to the private Dovecot: plain text on 127.0.0.1, or SSL/TLS to localhost trusting its certificate. */
export function connection(protocol: 'imap' | 'pop3', port?: number, security: 'none' | 'tls' = 'none'): Record<string, unknown> {
  const info = serverInfo();
  const tls = security === 'tls';
  const ports = tls ? { imap: info.ports.imaps, pop3: info.ports.pop3s } : { imap: info.ports.imap, pop3: info.ports.pop3 };
  return {
    id: 'conn',
    type: 'mailwire-receive-connection',
    name: 'faults',
    protocol,
    host: tls ? 'localhost' : '127.0.0.1',
    port: port ?? ports[protocol],
    security,
    certificate: tls ? certificatePem() : '',
  };
}

/** Error-level lines the runtime logged since the flow was loaded (node.error and the runtime's own). */
export function errorLines(): string[] {
  const spy = helper.log() as unknown as { args: Array<[{ level?: number; msg?: unknown }]> };
  return spy.args.map(([entry]) => entry).filter((entry) => entry?.level === 20).map((entry) => String(entry.msg));
}

export function receiver(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'recv', type: RECEIVE_TYPE, connection: 'conn', folder: '', unseenOnly: true, delay: 200, delayUnit: 'ms', maxEmails: -1, wires: [['out']], ...overrides };
}

/** One tab: connections, receivers, an `out` helper node, a Catch node wired to `caught`. */
export function flow(connections: Array<Record<string, unknown>>, receivers: Array<Record<string, unknown>>, extra: Array<Record<string, unknown>> = []): Flow {
  return [
    { id: 'tab', type: 'tab' },
    ...connections,
    ...receivers.map((r) => ({ ...r, z: 'tab' })),
    { id: 'out', type: 'helper', z: 'tab' },
    { id: 'catcher', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'tab' },
    ...extra.map((n) => ({ ...n, z: 'tab' })),
  ] as unknown as Flow;
}

export function credentials(user: string, id = 'conn'): Record<string, Record<string, string>> {
  return { [id]: { user, password: serverInfo().password } };
}

/** Keys that occur more than once. */
export function duplicates(keys: string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const k of keys) (seen.has(k) ? twice : seen).add(k);
  return [...twice];
}

/** UID from an IMAP key "conn/folder/uidvalidity/uid". */
export function uidOf(key: string): number {
  return Number(key.split('/').pop());
}
