#!/usr/bin/env node
// Runs every test file compiled under .build/test with Node's test runner, with the private mail
// servers and OAuth2 provider started for the run (and stopped after, unless they were already up).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as servers from './mail-servers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function findTests(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return findTests(full);
    return entry.name.endsWith('.test.js') ? [full] : [];
  }).sort();
}

// Words select the files whose path contains one of them; "--exclude=word" leaves such files out.
const args = process.argv.slice(2);
const filter = args.filter((a) => !a.startsWith('--exclude='));
const excluded = args.filter((a) => a.startsWith('--exclude=')).map((a) => a.slice('--exclude='.length));
let files = findTests(path.join(root, '.build', 'test'));
if (filter.length) files = files.filter((f) => filter.some((word) => f.includes(word)));
if (excluded.length) files = files.filter((f) => !excluded.some((word) => f.includes(word)));
if (files.length === 0) {
  // node --test with no files would go looking for tests on its own; say what is wrong instead.
  process.stderr.write(`no compiled test matches ${filter.join(' ') || '(all)'}: run "node scripts/build.mjs" first\n`);
  process.exit(1);
}

const { info, started } = await servers.ensureStarted();
// Test processes, and every Node-RED they start, trust the OAuth2 test CA the way a deployment
// trusts a private CA. Node reads one extra CA file: a CA already named there is kept beside it.
let extraCa = info.oauth.caFile;
if (process.env.NODE_EXTRA_CA_CERTS && fs.existsSync(process.env.NODE_EXTRA_CA_CERTS)) {
  extraCa = path.join(info.stateDir, 'tls', 'extra-ca-bundle.crt');
  fs.writeFileSync(extraCa, `${fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8')}\n${fs.readFileSync(info.oauth.caFile, 'utf8')}`);
}
const alreadyUp = !started;
let status = 1;
try {
  const tap = process.env.MAILWIRE_TAP_FILE;
  const reporters = tap ? ['--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`] : ['--test-reporter=spec'];
  const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...reporters, ...files], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, MAILWIRE_TEST: '1', NODE_EXTRA_CA_CERTS: extraCa },
  });
  status = result.status ?? 1;
} finally {
  if (!alreadyUp) await servers.stop();
}
process.exit(status);
