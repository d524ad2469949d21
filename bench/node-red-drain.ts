// Our node in a real Node-RED process, started as users start it: node-red's red.js with a
// settings file and a user directory on the real disk (os.tmpdir()), our package linked into it
// (test/support/node-red-process.ts). Started with no flow; the drain flow is deployed through the
// admin HTTP API afterwards. The flow:
//   receive connection -> Receive Email -> function: reporter.email(msg)
//   status (Receive Email only) -> function: reporter.status(msg)
//   catch (Receive Email only)  -> function: reporter.caught(msg)
// where the reporter (node-red-reporter.ts) sits in functionGlobalContext and prints one line per
// event, which this side reads from Node-RED's stdout.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { NodeRedProcess } from '../test/support/node-red-process';
import { REPORT_PREFIX } from './node-red-reporter';
import type { Report } from './node-red-reporter';
import type { JobSpec } from './protocol';

const REPORTER = path.join(__dirname, 'node-red-reporter.js');
/** Filesystem magic numbers (statfs f_type) worth naming in the report. */
const FS_TYPES: Record<number, string> = { 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x794c7630: 'overlayfs' };

/** A function node that hands msg to one of the reporter's functions and ends the message there. */
function reporterCall(id: string, name: 'email' | 'status' | 'caught'): Record<string, unknown> {
  return {
    id, type: 'function', z: 'bench-tab', name: `report ${name}`, func: `global.get('mailwireBench').${name}(msg);\nreturn null;`,
    outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [[]],
  };
}

/** The drain flow for one run, credentials included (Node-RED stores them encrypted). */
export function drainFlow(spec: JobSpec): unknown[] {
  return [
    { id: 'bench-tab', type: 'tab', label: 'drain' },
    {
      id: 'bench-conn', type: 'mailwire-receive-connection', name: 'bench', description: '', protocol: spec.protocol,
      host: spec.host, port: spec.port, security: 'tls', certificate: spec.certificatePem,
      credentials: { user: spec.user, password: spec.password },
    },
    {
      id: 'bench-recv', type: 'mailwire-receive-email', z: 'bench-tab', name: '', connection: 'bench-conn', folder: '',
      unseenOnly: true, delay: 1, delayUnit: 'h', maxEmails: -1,
      ...(spec.sizeLimitMiB ? { sizeLimit: spec.sizeLimitMiB } : {}),
      wires: [['bench-email']],
    },
    reporterCall('bench-email', 'email'),
    { id: 'bench-status', type: 'status', z: 'bench-tab', name: '', scope: ['bench-recv'], wires: [['bench-status-report']] },
    reporterCall('bench-status-report', 'status'),
    { id: 'bench-catch', type: 'catch', z: 'bench-tab', name: '', scope: ['bench-recv'], uncaught: false, wires: [['bench-caught-report']] },
    reporterCall('bench-caught-report', 'caught'),
  ];
}

export class NodeRedDrain {
  private lineStart = '';
  private listeners: Array<(report: Report) => void> = [];

  private constructor(
    private readonly red: NodeRedProcess,
    /** From spawning red.js until the admin API answered, ms. */
    readonly startupMs: number,
    private readonly token: string,
  ) {
    red.onOutput((chunk, stream) => {
      if (stream === 'stdout') this.read(chunk);
    });
  }

  /** Node-RED up with no flow, an admin token fetched: ready for the clock to start. */
  static async start(): Promise<NodeRedDrain> {
    const began = performance.now();
    const red = await NodeRedProcess.start({
      logLevel: 'info',
      extraSettings: `functionGlobalContext: { mailwireBench: require(${JSON.stringify(REPORTER)}) },`,
    });
    const startupMs = performance.now() - began;
    try {
      return new NodeRedDrain(red, startupMs, await red.token());
    } catch (err) {
      await red.stop();
      fs.rmSync(red.userDir, { recursive: true, force: true });
      throw err;
    }
  }

  get pid(): number {
    return this.red.pid ?? 0;
  }

  /** Where the user directory (flows, credentials, the node's state file) is, and on what filesystem. */
  userDirNote(): string {
    let type = 'unknown filesystem';
    try {
      const magic = fs.statfsSync(this.red.userDir).type;
      type = FS_TYPES[magic] ?? `filesystem 0x${magic.toString(16)}`;
    } catch {
      // Only for the note.
    }
    return `user directory on ${type} (${path.dirname(this.red.userDir)})`;
  }

  onReport(listener: (report: Report) => void): void {
    this.listeners.push(listener);
  }

  /** POST /flows (a full deploy) with the token fetched beforehand; resolves when Node-RED answers. */
  async deploy(flow: unknown[]): Promise<void> {
    const res = await fetch(`${this.red.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ flows: flow }),
    });
    if (res.status !== 200) throw new Error(`deploy failed: ${res.status} ${(await res.text()).slice(0, 200)}`);
  }

  /** Warnings and errors Node-RED logged (the last few). */
  problems(): string[] {
    return this.red.log.split('\n').filter((l) => /\[(error|warn)\]/.test(l)).slice(-3).map((l) => l.slice(0, 200));
  }

  async stop(): Promise<void> {
    await this.red.stop().catch(() => undefined);
    fs.rmSync(this.red.userDir, { recursive: true, force: true });
  }

  private read(chunk: string): void {
    const lines = (this.lineStart + chunk).split('\n');
    this.lineStart = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith(REPORT_PREFIX)) continue;
      const report = JSON.parse(line.slice(REPORT_PREFIX.length)) as Report;
      for (const listener of this.listeners) listener(report);
    }
  }
}
