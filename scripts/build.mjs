#!/usr/bin/env node
// Compiles src/ to dist/ and puts each node's editor .html, the locales and the icons beside the
// compiled node files, where Node-RED looks for them. Tests and benchmarks compile to .build/.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const withTests = !process.argv.includes('--package-only');

fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });

const nodesOut = path.join(root, 'dist', 'nodes');
for (const file of fs.readdirSync(path.join(root, 'src', 'nodes'))) {
  if (file.endsWith('.html')) fs.copyFileSync(path.join(root, 'src', 'nodes', file), path.join(nodesOut, file));
}
fs.cpSync(path.join(root, 'locales'), path.join(nodesOut, 'locales'), { recursive: true });
fs.cpSync(path.join(root, 'icons'), path.join(nodesOut, 'icons'), { recursive: true });

if (withTests) {
  fs.rmSync(path.join(root, '.build'), { recursive: true, force: true });
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.test.json')], { stdio: 'inherit' });
}
