// A real Node-RED process for end-to-end tests: its own user directory, admin authentication on
// (an "admin" who may write and a "viewer" who may only read), our package linked in the way
// `npm install <folder>` links it, or installed from a tarball.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { nodeRedDir } from './node-red-dir';
import { repoRoot } from './servers';
import { sleep, until } from './wait';

export interface EditorUser {
  username: string;
  password: string;
  scope: string;
}

export const ADMIN: EditorUser = { username: 'admin', password: 'admin-password-for-tests', scope: '*' };
export const VIEWER: EditorUser = { username: 'viewer', password: 'viewer-password-for-tests', scope: 'read' };



export function nodeRedVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(nodeRedDir, 'package.json'), 'utf8')) as { version: string }).version;
}

function bcryptHash(password: string): string {
  // bcryptjs comes with Node-RED (its admin authentication uses it).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const bcrypt = require(require.resolve('bcryptjs', { paths: [nodeRedDir] })) as { hashSync(p: string, rounds: number): string };
  return bcrypt.hashSync(password, 8);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface NodeRedOptions {
  /** `link`: symlink the working tree (default); `none`: the caller installs the package. */
  install?: 'link' | 'none';
  userDir?: string;
  logLevel?: string;
  /** Extra lines inside module.exports = { … }. */
  extraSettings?: string;
  /** Node-RED's httpAdminRoot (e.g. '/admin'): the editor and the admin API move under it. */
  adminRoot?: string;
}

export class NodeRedProcess {
  private output = '';
  private constructor(
    readonly userDir: string,
    readonly port: number,
    private readonly child: ChildProcess,
    /** '' or httpAdminRoot without a trailing slash. */
    readonly adminRoot = '',
  ) {
    child.stdout?.on('data', (c: Buffer) => (this.output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (this.output += c.toString()));
  }

  /** The editor and admin API root (below httpAdminRoot when one is set). */
  get url(): string {
    return `http://127.0.0.1:${this.port}${this.adminRoot}`;
  }

  /** The Node-RED process's id (for reading its /proc entries). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Everything Node-RED printed so far. */
  get log(): string {
    return this.output;
  }

  /** Calls `listener` with each chunk Node-RED prints from now on (stdout and stderr), as it comes. */
  onOutput(listener: (chunk: string, stream: 'stdout' | 'stderr') => void): void {
    this.child.stdout?.on('data', (c: Buffer) => listener(c.toString(), 'stdout'));
    this.child.stderr?.on('data', (c: Buffer) => listener(c.toString(), 'stderr'));
  }

  static prepareUserDir(options: NodeRedOptions = {}): string {
    const userDir = options.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-nr-'));
    if ((options.install ?? 'link') === 'link') {
      const scope = path.join(userDir, 'node_modules', '@mailwire');
      fs.mkdirSync(scope, { recursive: true });
      fs.rmSync(path.join(scope, 'node-red-email'), { force: true, recursive: true });
      fs.symlinkSync(repoRoot, path.join(scope, 'node-red-email'), 'dir');
      fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'nr-test', private: true, dependencies: { '@mailwire/node-red-email': '*' } }));
    }
    return userDir;
  }

  static async start(options: NodeRedOptions = {}): Promise<NodeRedProcess> {
    const userDir = NodeRedProcess.prepareUserDir(options);
    const port = await freePort();
    const settings = path.join(userDir, 'settings.js');
    fs.writeFileSync(
      settings,
      `module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${port},
  flowFile: 'flows.json',
  credentialSecret: 'a-test-secret',
  editorTheme: { tours: false, projects: { enabled: false } },
  logging: { console: { level: '${options.logLevel ?? 'info'}', audit: false } },
  adminAuth: {
    type: 'credentials',
    users: [
      { username: '${ADMIN.username}', password: '${bcryptHash(ADMIN.password)}', permissions: '*' },
      { username: '${VIEWER.username}', password: '${bcryptHash(VIEWER.password)}', permissions: 'read' },
    ],
  },
  ${options.adminRoot ? `httpAdminRoot: ${JSON.stringify(options.adminRoot)},` : ''}
  ${options.extraSettings ?? ''}
};
`,
    );
    const child = spawn(process.execPath, [path.join(nodeRedDir, 'red.js'), '--userDir', userDir, '--settings', settings], { stdio: ['ignore', 'pipe', 'pipe'] });
    const red = new NodeRedProcess(userDir, port, child, (options.adminRoot ?? '').replace(/\/$/, ''));
    const deadline = Date.now() + 60000;
    const started = (): boolean => {
      if (child.exitCode !== null) throw new Error(`Node-RED exited: ${red.output}`);
      return /Started flows|Server now running/.test(red.output);
    };
    await until(started, 60000, () => `Node-RED to start: ${red.output}`, 100);
    // "Server now running" comes before the flows start; wait (within the same minute) for the
    // admin API to answer.
    while (Date.now() < deadline) {
      const res = await fetch(`${red.url}/auth/login`).catch(() => undefined);
      if (res?.ok) break;
      await sleep(100);
    }
    return red;
  }

  async token(user: EditorUser = ADMIN): Promise<string> {
    const res = await fetch(`${this.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: user.scope, username: user.username, password: user.password }),
    });
    if (!res.ok) throw new Error(`login failed: ${res.status}`);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  /** An admin API call, as the given user (admin by default). */
  async api(method: string, pathname: string, body?: unknown, user: EditorUser | null = ADMIN): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2' };
    if (user) headers.authorization = `Bearer ${await this.token(user)}`;
    return fetch(`${this.url}${pathname}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Sends `signal` (SIGKILL: no close handlers, no flushing) and waits until the process is gone. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    await exited;
  }
}
