// node-red-node-test-helper set up for our compiled nodes, with a private user directory so the
// receive nodes' progress files land in a temporary folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import helper from 'node-red-node-test-helper';
import { nodeRedDir } from './node-red-dir';
import { repoRoot } from './servers';

helper.init(require.resolve(nodeRedDir));

export { helper };

/** The compiled node modules, loaded from dist/ where their .html and locales sit beside them. */
export type NodeInitializer = Parameters<typeof helper.load>[0];

export function nodeModule(name: 'receive-connection' | 'receive-email' | 'send-connection' | 'send-email' | 'email-done'): NodeInitializer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(repoRoot, 'dist', 'nodes', `${name}.js`));
}

export function coreNode(file: string): NodeInitializer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(path.dirname(require.resolve('@node-red/nodes/package.json', { paths: [nodeRedDir] })), 'core', file));
}

export function useTempUserDir(): string {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-userdir-'));
  helper.settings({ userDir });
  return userDir;
}

export function startServer(): Promise<void> {
  return new Promise((resolve) => helper.startServer(() => resolve()));
}

export function stopServer(): Promise<void> {
  return new Promise((resolve) => helper.stopServer(() => resolve()));
}
