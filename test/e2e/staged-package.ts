// A Node-RED user directory holding a copy of the built package (package.json, dist, resources,
// examples), as `npm install` leaves it, with the package's dependencies reached through a link to
// the working tree's node_modules.
//
// Why a copy and not the link to the working tree: Node-RED reads a language's messages and help
// from disk the first time a browser asks for that language, and keeps what it found (falling back
// to English for good if the files were missing at that moment). A `node scripts/build.mjs` run
// while the test runs (another terminal, a watcher) empties dist/ for a few seconds; with a copy
// taken at the start the editor under test cannot see that.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../support/servers';

const NODE_FILES = ['receive-connection', 'receive-email', 'send-connection', 'send-email', 'email-done'];
/** What the editor files load from resources/ (Node-RED serves it at resources/<module>/). */
const RESOURCE_FILES = ['resources/mailwire-editor.js', 'resources/mailwire-editor.css', 'resources/mailwire-failure-text.js'];

/** The files a finished build has; the build copies icons last. */
function builtFiles(root: string): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { 'node-red'?: { nodes?: Record<string, string> } };
  const nodes = Object.values(pkg['node-red']?.nodes ?? {});
  return [
    'package.json',
    ...nodes,
    ...NODE_FILES.map((f) => `dist/nodes/${f}.html`),
    ...RESOURCE_FILES,
    ...['en-US', 'ja'].flatMap((lang) => NODE_FILES.flatMap((f) => [`dist/nodes/locales/${lang}/${f}.json`, `dist/nodes/locales/${lang}/${f}.html`])),
    'dist/nodes/icons/mailwire-receive.svg',
    'dist/nodes/icons/mailwire-send.svg',
    'dist/nodes/icons/mailwire-done.svg',
  ];
}

function complete(root: string): boolean {
  try {
    return builtFiles(root).every((f) => fs.existsSync(path.join(root, f)));
  } catch {
    return false;
  }
}

export interface StagedPackage {
  userDir: string;
  /** The package as Node-RED loads it. */
  packageDir: string;
  remove(): void;
}

/** Copies the built package into a new user directory; waits out a build that is running. */
export async function stagePackage(): Promise<StagedPackage> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-e2e-'));
  const packageDir = path.join(userDir, 'node_modules', '@mailwire', 'node-red-email');
  const deadline = Date.now() + 60000;
  for (;;) {
    fs.rmSync(packageDir, { recursive: true, force: true });
    fs.mkdirSync(packageDir, { recursive: true });
    try {
      if (complete(repoRoot)) {
        for (const entry of ['package.json', 'dist', 'resources', 'examples']) {
          fs.cpSync(path.join(repoRoot, entry), path.join(packageDir, entry), { recursive: true });
        }
        // A build may have started while we copied: the copy must be whole, and dist/ still there.
        if (complete(packageDir) && complete(repoRoot)) break;
      }
    } catch {
      // dist/ vanished under the copy: try again.
    }
    if (Date.now() > deadline) throw new Error(`no complete build in ${repoRoot}/dist: run node scripts/build.mjs`);
    await new Promise((r) => setTimeout(r, 250));
  }
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(packageDir, 'node_modules'), 'dir');
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'nr-e2e', private: true, dependencies: { '@mailwire/node-red-email': '*' } }));
  return {
    userDir,
    packageDir,
    remove: () => fs.rmSync(userDir, { recursive: true, force: true }),
  };
}
