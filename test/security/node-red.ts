// A real Node-RED (test/support/node-red-process.ts) for the security tests, with:
//  - extra admin users: the Validate routes allow 10 calls a minute per client (address + user),
//    and these tests make more than that on purpose, so the calls are spread over several admins
//    (the adminAuth given here replaces the one the helper writes: a later key in the settings
//    object literal wins);
//  - a recorder of everything the comms websocket (the editor's live channel: status, debug,
//    notifications) sends to an admin.
import fs from 'node:fs';
import path from 'node:path';
import { ADMIN, NodeRedProcess, VIEWER } from '../support/node-red-process';
import type { EditorUser, NodeRedOptions } from '../support/node-red-process';
import { nodeRedDir } from '../support/node-red-dir';

function nodeRedRequire<T>(name: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(require.resolve(name, { paths: [nodeRedDir, path.join(nodeRedDir, '..', '..')] })) as T;
}

function hash(password: string): string {
  return nodeRedRequire<{ hashSync(p: string, rounds: number): string }>('bcryptjs').hashSync(password, 8);
}

export function extraAdmins(count: number): EditorUser[] {
  return Array.from({ length: count }, (_, i) => ({ username: `admin${i + 1}`, password: `admin${i + 1}-password-for-tests`, scope: '*' }));
}

export async function startNodeRed(admins: EditorUser[], options: NodeRedOptions = {}): Promise<NodeRedProcess> {
  const users = [
    { ...ADMIN, permissions: '*' },
    { ...VIEWER, permissions: 'read' },
    ...admins.map((a) => ({ ...a, permissions: '*' })),
  ].map((u) => `{ username: ${JSON.stringify(u.username)}, password: ${JSON.stringify(hash(u.password))}, permissions: ${JSON.stringify(u.permissions)} }`);
  const adminAuth = `adminAuth: { type: 'credentials', users: [${users.join(', ')}] },`;
  return NodeRedProcess.start({ ...options, extraSettings: `${adminAuth}\n${options.extraSettings ?? ''}` });
}

/** Rotates Validate calls over admin users so that none of them reaches the rate limit. */
export class AdminPool {
  private calls = 0;
  constructor(
    private readonly admins: EditorUser[],
    private readonly perUser = 9,
  ) {}

  next(): EditorUser {
    const user = this.admins[Math.floor(this.calls / this.perUser)];
    if (!user) throw new Error('the admin pool is used up: give startNodeRed more admins');
    this.calls += 1;
    return user;
  }
}

interface WebSocketLike {
  on(event: 'open' | 'close', listener: () => void): void;
  on(event: 'message', listener: (data: unknown) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  send(data: string): void;
  close(): void;
}

export class CommsRecorder {
  readonly frames: string[] = [];
  private constructor(private readonly socket: WebSocketLike) {}

  static async connect(red: NodeRedProcess, user: EditorUser = ADMIN): Promise<CommsRecorder> {
    const token = await red.token(user);
    const WebSocket = nodeRedRequire<new (url: string) => WebSocketLike>('ws');
    const socket = new WebSocket(`ws://127.0.0.1:${red.port}/comms`);
    const recorder = new CommsRecorder(socket);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('comms: no auth reply')), 10000);
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on('open', () => socket.send(JSON.stringify({ auth: token })));
      socket.on('message', (data) => {
        const text = String(data);
        recorder.frames.push(text);
        if (text.includes('"auth":"ok"')) {
          clearTimeout(timer);
          // Retained messages (current statuses) come on subscribe; everything else comes anyway.
          socket.send(JSON.stringify({ subscribe: '#' }));
          resolve();
        }
        if (text.includes('"auth":"fail"')) reject(new Error('comms: auth failed'));
      });
    });
    return recorder;
  }

  /** Parsed events: `{ topic, data }`. */
  get events(): Array<{ topic: string; data: unknown }> {
    return this.frames.flatMap((f) => {
      try {
        const parsed = JSON.parse(f) as unknown;
        return Array.isArray(parsed) ? (parsed as Array<{ topic: string; data: unknown }>) : [];
      } catch {
        return [];
      }
    });
  }

  get text(): string {
    return this.frames.join('\n');
  }

  close(): void {
    this.socket.close();
  }
}

/** Every file under `dir` (links not followed), for grepping what Node-RED wrote to disk. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}
