#!/usr/bin/env node
// Runs the benchmark's parts compiled to .build/bench/ (npm run bench builds them first): the
// receive drain (drain.js, with the settle-drain runs when asked for), the send bench (send.js),
// push latency (push.js), the cost of 50 and 200 idle polling nodes (idle-cost.js) and, when asked for, three
// Node-RED processes sharing a mailbox (shared.js) and OAuth2 logins (oauth-login.js), with the
// private mail servers started for the run and stopped after, unless they were already up. Words pick runs by id (bench/plans.ts lists them):
// `npm run bench -- pop3-drain push-latency`; each `--name=value` option goes to the part that
// knows it: `npm run bench -- pop3-drain --count=200`; `--no-send` leaves the send bench out.
//
// The bench runs for minutes and every build wipes dist/ and .build/, so it runs from a private
// copy of both (node_modules linked in): a rebuild meanwhile cannot pull files from under it, and
// every run measures the same code.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as servers from './mail-servers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, '.build', 'bench', 'plans.js');

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

if (!fs.existsSync(entry)) {
  process.stderr.write(`${path.relative(root, entry)} is missing: run "node scripts/build.mjs" (or "npm run bench") first\n`);
  process.exit(1);
}

const args = process.argv.slice(2);
const { PARTS } = createRequire(import.meta.url)(entry);
const filters = args.filter((a) => !a.startsWith('--'));
const options = args.filter((a) => a.startsWith('--') && a !== '--no-send');
const known = PARTS.flatMap((part) => part.options);
const optionName = (arg) => arg.slice(2).split('=')[0];
const unknown = options.filter((arg) => !arg.includes('=') || !known.includes(optionName(arg)));
if (unknown.length > 0) {
  process.stderr.write(`unknown option ${unknown.join(' ')}; options: ${known.map((name) => `--${name}=…`).join(' ')} --no-send\n`);
  process.exit(2);
}
// A word picks every run whose id contains it; a part runs when it has a run picked. Without words
// everything runs but the opt-in parts and runs (settle-drain, shared-3: bench/plans.ts).
const matching = (part) => filters.filter((word) => part.ids.some((id) => id.includes(word)));
const selected = PARTS.filter((part) => (filters.length === 0 ? !part.optIn : matching(part).length > 0) && !(part.script === 'send.js' && args.includes('--no-send')));
if (selected.length === 0) {
  process.stderr.write(`no run matches ${filters.join(' ')}; ids: ${PARTS.flatMap((part) => part.ids).join(', ')}\n`);
  process.exit(2);
}

const snapshot = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-bench-'));
// resources/ holds the editor's shared scripts, which Node-RED serves from the package (oauth-login opens the editor).
for (const dir of ['dist', '.build', 'resources']) fs.cpSync(path.join(root, dir), path.join(snapshot, dir), { recursive: true });
// Node-RED finds the package's nodes through its package.json (idle-50 links the copy into a real Node-RED).
fs.copyFileSync(path.join(root, 'package.json'), path.join(snapshot, 'package.json'));
fs.symlinkSync(path.join(root, 'node_modules'), path.join(snapshot, 'node_modules'), 'dir');

const { info, started } = await servers.ensureStarted();
const alreadyUp = !started;
// As in scripts/test.mjs: the parts (and the Node-RED they start) trust the OAuth2 test provider's
// CA the way a deployment trusts a private CA; a CA file named already is kept beside it.
let extraCa = process.env.NODE_EXTRA_CA_CERTS;
if (info.oauth?.caFile) {
  extraCa = info.oauth.caFile;
  if (process.env.NODE_EXTRA_CA_CERTS && fs.existsSync(process.env.NODE_EXTRA_CA_CERTS)) {
    extraCa = path.join(info.stateDir, 'tls', 'extra-ca-bundle.crt');
    fs.writeFileSync(extraCa, `${fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8')}\n${fs.readFileSync(info.oauth.caFile, 'utf8')}`);
  }
}
let status = 0;
try {
  for (const part of selected) {
    // The send side (500 messages through one Send Email node next to nodemailer alone) takes
    // its count from MAILWIRE_SEND_COUNT.
    const partArgs = [...matching(part), ...options.filter((arg) => part.options.includes(optionName(arg)))];
    const result = spawnSync(process.execPath, [path.join(snapshot, '.build', 'bench', part.script), ...partArgs], {
      stdio: 'inherit',
      cwd: root,
      // The copy is not under the repository, so say where the servers keep their state.
      env: { ...process.env, MAILWIRE_STATE_DIR: servers.stateDir, ...(extraCa ? { NODE_EXTRA_CA_CERTS: extraCa } : {}) },
    });
    if (result.status !== 0) status = result.status ?? 1;
  }
} finally {
  if (!alreadyUp) await servers.stop();
  fs.rmSync(snapshot, { recursive: true, force: true });
}
process.exit(status);
