import os from 'node:os';
import path from 'node:path';
import type { NodeAPI } from 'node-red';

/** Node-RED's user directory, where the package keeps its state beside the flows. */
export function userDirOf(RED: NodeAPI): string {
  return (RED.settings as unknown as { userDir?: string }).userDir ?? path.join(os.homedir(), '.node-red');
}
