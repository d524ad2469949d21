#!/usr/bin/env node
// Runs the receive benchmark compiled to .build/bench/drain.js (npm run bench builds it first),
// with the private mail servers started for the run and stopped after, unless they were already
// up. Arguments are passed on: `npm run bench -- pop3-drain --count=200`.
//
// The bench runs for minutes and every build wipes dist/ and .build/, so it runs from a private
// copy of both (node_modules linked in): a rebuild meanwhile cannot pull files from under it, and
// every run measures the same code.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as servers from './mail-servers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, '.build', 'bench', 'drain.js');

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

const snapshot = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-bench-'));
for (const dir of ['dist', '.build']) fs.cpSync(path.join(root, dir), path.join(snapshot, dir), { recursive: true });
fs.symlinkSync(path.join(root, 'node_modules'), path.join(snapshot, 'node_modules'), 'dir');

const { started } = await servers.ensureStarted();
const alreadyUp = !started;
let status = 1;
try {
  const result = spawnSync(process.execPath, [path.join(snapshot, '.build', 'bench', 'drain.js'), ...process.argv.slice(2).filter((a) => a !== '--no-send')], {
    stdio: 'inherit',
    cwd: root,
    // The copy is not under the repository, so say where the servers keep their state.
    env: { ...process.env, MAILWIRE_STATE_DIR: servers.stateDir },
  });
  status = result.status ?? 1;
  // The send side: 500 messages through one Send Email node next to nodemailer alone.
  // MAILWIRE_SEND_COUNT changes the count; `--no-send` leaves it out.
  if (!process.argv.includes('--no-send')) {
    const send = spawnSync(process.execPath, [path.join(snapshot, '.build', 'bench', 'send.js')], {
      stdio: 'inherit',
      cwd: root,
      env: { ...process.env, MAILWIRE_STATE_DIR: servers.stateDir },
    });
    if (send.status !== 0) status = send.status ?? 1;
  }
} finally {
  if (!alreadyUp) await servers.stop();
  fs.rmSync(snapshot, { recursive: true, force: true });
}
process.exit(status);
