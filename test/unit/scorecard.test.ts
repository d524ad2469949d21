// The flow library's scorecard rules, checked offline by scripts/scorecard.mjs: the package passes
// all of them, and each kind of rule does fail on a package that breaks it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

// Compiled to .build/test/unit/: the repository is three levels up.
const repoRoot = path.resolve(__dirname, '..', '..', '..');
const script = path.join(repoRoot, 'scripts', 'scorecard.mjs');

const RULES = ['scoped-name', 'license', 'repository', 'keyword', 'node-red-version', 'engines-node', 'dependencies', 'node-sets', 'html-register-type', 'examples', 'readme'];
const TYPES = ['mailwire-email-done', 'mailwire-receive-connection', 'mailwire-receive-email', 'mailwire-send-connection', 'mailwire-send-email'];

interface RuleResult {
  id: string;
  title: string;
  pass: boolean;
  detail: string;
}

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [script, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 60000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function runJson(...args: string[]): { status: number | null; results: Map<string, RuleResult> } {
  const { status, stdout, stderr } = run('--json', ...args);
  let parsed: { results: RuleResult[] };
  try {
    parsed = JSON.parse(stdout) as { results: RuleResult[] };
  } catch {
    throw new Error(`scorecard printed no JSON (exit ${status}): ${stdout}${stderr}`);
  }
  return { status, results: new Map(parsed.results.map((r) => [r.id, r])) };
}

const temps: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-scorecard-'));
  temps.push(dir);
  return dir;
}

function packageJson(): Record<string, unknown> & { 'node-red': Record<string, unknown> } {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as Record<string, unknown> & { 'node-red': Record<string, unknown> };
}

describe('flow library scorecard', () => {
  after(() => {
    for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('passes every rule on this package and exits 0', () => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'nodes')), 'dist/ is built (node scripts/build.mjs)');
    const { status, stdout, stderr } = run();
    assert.equal(status, 0, stdout + stderr);
    const lines = stdout.split('\n').filter((l) => /^(PASS|FAIL) /.test(l));
    assert.deepEqual(lines.map((l) => l.split(/\s+/)[1]), RULES, stdout);
    for (const line of lines) assert.match(line, /^PASS /, line);
    assert.match(stdout, /all 11 rules pass/);
  });

  it('reads the node types from the package itself: the runtime registrations and the editor files agree', () => {
    const { status, results } = runJson();
    assert.equal(status, 0);
    assert.deepEqual([...results.keys()], RULES);
    for (const type of TYPES) {
      assert.match(results.get('node-sets')?.detail ?? '', new RegExp(`\\[${type}\\]`), `${type} registered at run time`);
      assert.match(results.get('html-register-type')?.detail ?? '', new RegExp(type));
      assert.match(results.get('readme')?.detail ?? '', new RegExp(type));
    }
    // Config nodes need no example of their own; the other three must be in one.
    assert.match(results.get('examples')?.detail ?? '', /use mailwire-email-done, mailwire-receive-email, mailwire-send-email$/);
    assert.match(results.get('node-red-version')?.detail ?? '', /admits 5\.0\.7, 4\.1\.8/);
  });

  it('fails on a package.json that breaks the rules: node-red.version "<4", seven dependencies', () => {
    const dir = tempDir();
    const pkg = packageJson();
    pkg['node-red'] = { ...pkg['node-red'], version: '<4' };
    pkg.dependencies = Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((d) => [`dep-${d}`, '^1.0.0']));
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2));

    const text = run('--package', path.join(dir, 'package.json'));
    assert.equal(text.status, 1, text.stdout + text.stderr);
    assert.match(text.stdout, /^FAIL\s+node-red-version\s.*"<4" does not admit Node-RED 5\.0\.7.*does not admit Node-RED 4\.1\.8/m);
    assert.match(text.stdout, /^FAIL\s+dependencies\s.*7 runtime dependencies/m);
    assert.match(text.stdout, /2 of 11 rules fail/);

    const { results } = runJson('--package', path.join(dir, 'package.json'));
    assert.deepEqual(
      [...results.values()].filter((r) => !r.pass).map((r) => r.id),
      ['node-red-version', 'dependencies'],
    );
  });

  it('fails a node-red.version that leaves out the 5.x line, a missing keyword and an unscoped name', () => {
    const dir = tempDir();
    const pkg = packageJson();
    pkg['node-red'] = { ...pkg['node-red'], version: '>=4.1.0 <5.0.0' };
    pkg.keywords = ['email'];
    pkg.name = 'node-red-email';
    delete pkg.repository;
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg));
    const { status, results } = runJson('--package', path.join(dir, 'package.json'));
    assert.equal(status, 1);
    assert.match(results.get('node-red-version')?.detail ?? '', /does not admit Node-RED 5\.0\.7/);
    assert.doesNotMatch(results.get('node-red-version')?.detail ?? '', /4\.1\.8/);
    for (const id of ['keyword', 'scoped-name', 'repository']) assert.equal(results.get(id)?.pass, false, id);
  });

  it('fails a copy of the package whose files break the rules: no example, no literal registerType, README and .html missing', () => {
    const root = tempDir();
    for (const f of ['package.json', 'LICENSE']) fs.copyFileSync(path.join(repoRoot, f), path.join(root, f));
    fs.cpSync(path.join(repoRoot, 'dist'), path.join(root, 'dist'), { recursive: true });
    fs.cpSync(path.join(repoRoot, 'src', 'nodes'), path.join(root, 'src', 'nodes'), { recursive: true, filter: (f) => !f.endsWith('.ts') });
    // The compiled node files need the runtime dependencies to load.
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'), 'dir');
    // Only the receive example: Send Email is in none.
    fs.mkdirSync(path.join(root, 'examples'));
    const receiveExample = fs.readdirSync(path.join(repoRoot, 'examples')).find((f) => /receive emails to the debug/i.test(f));
    assert.ok(receiveExample);
    fs.copyFileSync(path.join(repoRoot, 'examples', receiveExample), path.join(root, 'examples', receiveExample));
    // The README forgets a type.
    fs.writeFileSync(path.join(root, 'README.md'), fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8').replaceAll('mailwire-send-connection', 'the send connection'));
    // An editor file that registers its type through a variable, which tools cannot read.
    const html = path.join(root, 'src', 'nodes', 'receive-email.html');
    fs.writeFileSync(html, fs.readFileSync(html, 'utf8').replace("RED.nodes.registerType('mailwire-receive-email',", "RED.nodes.registerType(TYPE_NAME,"));
    // A compiled node file without its .html beside it.
    fs.rmSync(path.join(root, 'dist', 'nodes', 'send-email.html'));

    const { status, results } = runJson('--root', root);
    assert.equal(status, 1);
    const failed = Object.fromEntries([...results.values()].filter((r) => !r.pass).map((r) => [r.id, r.detail]));
    assert.deepEqual(Object.keys(failed).sort(), ['examples', 'html-register-type', 'node-sets', 'readme']);
    assert.match(failed.examples, /mailwire-send-email is in no example/);
    assert.doesNotMatch(failed.examples, /mailwire-receive-email/);
    assert.match(failed['html-register-type'], /src\/nodes\/receive-email\.html has no literal RED\.nodes\.registerType\('mailwire-receive-email'/);
    assert.match(failed['node-sets'], /no dist\/nodes\/send-email\.html beside dist\/nodes\/send-email\.js/);
    assert.match(failed.readme, /README does not mention mailwire-send-connection/);
  });

  it('refuses an unknown option', () => {
    const { status, stderr } = run('--packages', 'x');
    assert.equal(status, 2);
    assert.match(stderr, /unknown option --packages/);
  });
});
