// Palette install as a user does it: the package is packed with `npm pack`, the tarball installed
// with npm into a fresh Node-RED user directory (our runtime dependencies come from the npm
// registry), and a real Node-RED started on it. Then the editor's view of the package is checked
// through the admin API: the node sets load without a warning, the editor gets our node
// definitions, help, translated catalogs, icons and shared editor script and stylesheet, and
// Import > Examples lists our example flows.
// Assumes dist/ is built (`node scripts/build.mjs`, as `npm test` does).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NodeRedProcess, nodeRedVersion } from '../support/node-red-process';

// Compiled to .build/test/e2e/: the repository is three levels up.
const repoRoot = path.resolve(__dirname, '..', '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  'node-red': { nodes: Record<string, string> };
};
const MODULE = pkg.name;
const NODE_SETS = pkg['node-red'].nodes;
/** Node set name -> the node type it registers (one each in this package). */
const TYPES: Record<string, string> = {
  'mailwire-receive-connection': 'mailwire-receive-connection',
  'mailwire-receive-email': 'mailwire-receive-email',
  'mailwire-send-connection': 'mailwire-send-connection',
  'mailwire-send-email': 'mailwire-send-email',
  'mailwire-email-done': 'mailwire-email-done',
};
const LANGS = ['en-US', 'ja'];
const localeFiles = LANGS.flatMap((lang) => fs.readdirSync(path.join(repoRoot, 'locales', lang)).map((f) => `${lang}/${f}`));
const iconFiles = fs.readdirSync(path.join(repoRoot, 'icons')).filter((f) => f.endsWith('.svg'));
const exampleFiles = fs.readdirSync(path.join(repoRoot, 'examples')).filter((f) => f.endsWith('.json')).sort();
/** The editor code and stylesheet the nodes share; Node-RED serves resources/ at resources/<module>/. */
const resourceFiles = fs.readdirSync(path.join(repoRoot, 'resources')).sort();

/** The environment for npm: without the npm_* variables an outer `npm test` sets (prefix and the like). */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || keep.has(k.toLowerCase())));
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
}

function run(command: string, args: string[], cwd: string, timeout: number): Promise<{ stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env: npmEnv(), timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed in ${cwd}: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr, ms: Date.now() - started });
    });
  });
}

function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

describe('palette install from the npm tarball', () => {
  let work = '';
  let tarball = '';
  let entries: string[] = [];
  let userDir = '';
  let red: NodeRedProcess | undefined;
  let npmWarnings: string[] = [];
  const timings: Record<string, number> = {};

  /** An admin API GET with a chosen Accept / Accept-Language. */
  async function get(pathname: string, headers: Record<string, string> = {}): Promise<Response> {
    assert.ok(red, 'Node-RED is running');
    return fetch(`${red.url}${pathname}`, { headers: { authorization: `Bearer ${await red.token()}`, ...headers } });
  }

  async function getJson<T>(pathname: string): Promise<T> {
    const res = await get(pathname, { accept: 'application/json' });
    assert.equal(res.status, 200, `GET ${pathname}: ${res.status}`);
    return (await res.json()) as T;
  }

  before(async () => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'dist', 'nodes')), 'dist/ is built: run node scripts/build.mjs first');
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-palette-'));

    // 1. Pack, as `npm publish` would.
    const packed = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], repoRoot, 120000);
    timings.pack = packed.ms;
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string }>;
    tarball = path.join(work, path.basename(info.filename));
    assert.ok(fs.existsSync(tarball), `npm pack wrote ${tarball}`);
    entries = (await run('tar', ['-tzf', tarball], work, 60000)).stdout.split('\n').filter(Boolean);

    // 2. Install it into a fresh user directory, as the palette manager does (npm install <spec>).
    userDir = path.join(work, 'user');
    fs.mkdirSync(userDir);
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true }, null, 2));
    const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--no-update-notifier', tarball], userDir, 300000);
    timings.install = installed.ms;
    npmWarnings = installed.stderr.split('\n').filter((l) => /\bwarn/i.test(l));

    // 3. A real Node-RED on that user directory.
    const started = Date.now();
    red = await NodeRedProcess.start({ install: 'none', userDir });
    timings.start = Date.now() - started;
  }, { timeout: 8 * 60000 });

  after(async () => {
    await red?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('packs the compiled nodes with their editor files, locales, icons and examples', (t) => {
    t.diagnostic(`npm pack ${timings.pack} ms, ${entries.length} files, ${(fs.statSync(tarball).size / 1024).toFixed(1)} KiB`);
    const has = (p: string): void => assert.ok(entries.includes(`package/${p}`), `the tarball has ${p}`);
    for (const e of entries) assert.match(e, /^package\//, e);
    for (const f of ['package.json', 'README.md', 'LICENSE']) has(f);
    for (const js of Object.values(NODE_SETS)) {
      has(js);
      has(js.replace(/\.js$/, '.html'));
    }
    const nodesDir = path.posix.dirname(Object.values(NODE_SETS)[0]);
    for (const f of localeFiles) has(`${nodesDir}/locales/${f}`);
    for (const lang of LANGS) {
      for (const js of Object.values(NODE_SETS)) {
        const base = path.posix.basename(js, '.js');
        has(`${nodesDir}/locales/${lang}/${base}.json`);
        has(`${nodesDir}/locales/${lang}/${base}.html`);
      }
    }
    for (const f of iconFiles) has(`${nodesDir}/icons/${f}`);
    for (const f of exampleFiles) has(`examples/${f}`);
    for (const f of resourceFiles) has(`resources/${f}`);
    // Everything that was built is shipped (the nodes require dist/lib).
    const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)]));
    for (const f of walk(path.join(repoRoot, 'dist'))) has(path.relative(repoRoot, f).split(path.sep).join('/'));
  });

  it('packs nothing of the sources, tests, tools or dependencies', () => {
    const forbidden = entries.filter(
      (e) =>
        /^package\/(src|test|bench|scripts|\.ci|\.build|\.mailwire|\.git|test-artifacts|locales|icons)\//.test(e) ||
        /(^|\/)node_modules\//.test(e) ||
        (/\.ts$/.test(e) && !/\.d\.ts$/.test(e)) ||
        /\.(tgz|map|log)$/.test(e) ||
        /^package\/(tsconfig[^/]*\.json|package-lock\.json|\.gitignore|\.npmignore|\.env.*)$/.test(e),
    );
    assert.deepEqual(forbidden, []);
    // The package.json in the tarball bundles nothing.
    const manifest = JSON.parse(fs.readFileSync(path.join(userDir, 'node_modules', ...MODULE.split('/'), 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(manifest.bundleDependencies ?? manifest.bundledDependencies, undefined);
  });

  it('installs with npm into a fresh user directory: the package, its runtime dependencies, and no development dependency', (t) => {
    t.diagnostic(`npm install of the tarball: ${timings.install} ms; Node-RED ${nodeRedVersion()} started in ${timings.start} ms`);
    for (const w of npmWarnings) t.diagnostic(`npm: ${w}`);
    assert.deepEqual(npmWarnings.filter((w) => w.includes(MODULE)), [], 'npm warns about nothing of ours');
    const installedDir = path.join(userDir, 'node_modules', ...MODULE.split('/'));
    assert.ok(fs.lstatSync(installedDir).isDirectory(), 'a real directory, not a link to the working tree');
    const installed = JSON.parse(fs.readFileSync(path.join(installedDir, 'package.json'), 'utf8')) as { version: string };
    assert.equal(installed.version, pkg.version);
    for (const dep of Object.keys(pkg.dependencies ?? {})) assert.ok(fs.existsSync(path.join(userDir, 'node_modules', ...dep.split('/'), 'package.json')), `${dep} installed`);
    // A development dependency may only be there because some runtime dependency needs it too.
    const lock = JSON.parse(fs.readFileSync(path.join(userDir, 'node_modules', '.package-lock.json'), 'utf8')) as { packages: Record<string, { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }> };
    const needed = new Set(Object.values(lock.packages).flatMap((p) => [...Object.keys(p.dependencies ?? {}), ...Object.keys(p.optionalDependencies ?? {})]));
    const stray = Object.keys(pkg.devDependencies ?? {}).filter((d) => !needed.has(d) && fs.existsSync(path.join(userDir, 'node_modules', ...d.split('/'))));
    assert.deepEqual(stray, [], 'no development dependency installed');
  });

  it('loads all five node sets from the installed copy, enabled, with no error', async () => {
    const list = await getJson<Array<{ id: string; module: string; name: string; types: string[]; enabled: boolean; err?: unknown; version: string }>>('/nodes');
    const ours = list.filter((n) => n.module === MODULE);
    assert.deepEqual(ours.map((n) => n.name).sort(), Object.keys(NODE_SETS).sort());
    for (const set of ours) {
      assert.equal(set.enabled, true, set.id);
      assert.equal(set.err, undefined, `${set.id}: ${String(set.err)}`);
      assert.deepEqual(set.types, [TYPES[set.name]], set.id);
      assert.equal(set.version, pkg.version);
      // Node-RED 4.1 reports `loaded` only while a set is being loaded; a set that failed has `err`.
      const info = await getJson<{ loaded?: boolean; enabled: boolean; err?: unknown; types: string[] }>(`/nodes/${MODULE}/${set.name}`);
      assert.equal(info.enabled, true, set.id);
      assert.equal(info.err, undefined, set.id);
      assert.notEqual(info.loaded, false, `${set.id} loaded`);
    }
    const module = await getJson<{ local: boolean; path: string; version: string; nodes: unknown[] }>(`/nodes/${MODULE}`);
    assert.equal(module.local, true, 'found in the user directory');
    assert.equal(module.version, pkg.version);
    assert.equal(module.nodes.length, Object.keys(NODE_SETS).length);
    assert.ok(fs.realpathSync(module.path).startsWith(fs.realpathSync(userDir)), `loaded from the user directory, not the working tree: ${module.path}`);
  });

  it('runs a deployed flow of our nodes: every type is known to the runtime', async () => {
    assert.ok(red);
    const startedBefore = red.log.split('Started flows').length;
    const flow = [
      { id: 'palette-tab', type: 'tab', label: 'palette install' },
      { id: 'palette-rc', type: 'mailwire-receive-connection', name: 'Obtain Info Emails', description: '', protocol: 'imap', host: 'imap.example.com', port: 993, security: 'tls', certificate: '' },
      { id: 'palette-sc', type: 'mailwire-send-connection', name: 'Send Emails to Leads', description: '', host: 'smtp.example.com', port: 587, security: 'starttls', certificate: '' },
      { id: 'palette-se', type: 'mailwire-send-email', z: 'palette-tab', name: '', connection: 'palette-sc', from: 'info@example.com', to: '', subject: '', text: '', cc: '', bcc: '', priority: 'consumed', x: 200, y: 100, wires: [[]] },
    ];
    const res = await red.api('POST', '/flows', { flows: flow });
    assert.equal(res.status, 200, await res.text());
    const deadline = Date.now() + 15000;
    while (red.log.split('Started flows').length === startedBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(red.log.split('Started flows').length > startedBefore, `the flows started: ${red.log}`);
    assert.doesNotMatch(red.log, /Waiting for missing types|Unknown type/);
    const flows = (await (await red.api('GET', '/flows')).json()) as { flows: Array<{ id: string; type: string }> };
    assert.deepEqual(flows.flows.filter((n) => n.id.startsWith('palette-')).map((n) => n.type).sort(), flow.map((n) => n.type).sort());
  });

  it('logs no warning or error about the package', () => {
    assert.ok(red);
    const lines = red.log.split('\n');
    const ours = lines.filter((l) => /\[(warn|error)\]/.test(l) && /mailwire|node-red-email/i.test(l));
    assert.deepEqual(ours, []);
    assert.deepEqual(lines.filter((l) => /Failed to register|Missing node modules|Waiting for missing types/.test(l)), []);
  });

  it('gives the editor each node definition and its help in English and Japanese', async () => {
    const en = await (await get('/nodes', { accept: 'text/html', 'accept-language': 'en-US' })).text();
    const ja = await (await get('/nodes', { accept: 'text/html', 'accept-language': 'ja' })).text();
    for (const type of Object.values(TYPES)) {
      assert.ok(en.includes(`RED.nodes.registerType('${type}'`), `${type} definition`);
      assert.ok(en.includes(`data-help-name="${type}"`), `${type} help`);
    }
    for (const js of Object.values(NODE_SETS)) {
      const base = path.basename(js, '.js');
      const jaHelp = fs.readFileSync(path.join(repoRoot, 'locales', 'ja', `${base}.html`), 'utf8');
      const jaLine = jaHelp.split('\n').map((l) => l.trim()).find((l) => /[\u3040-\u30ff\u4e00-\u9fff]/.test(l));
      assert.ok(jaLine, `${base}: the ja help has Japanese text`);
      assert.ok(ja.includes(jaLine), `${base}: ja help served for Accept-Language ja`);
      assert.ok(!en.includes(jaLine), `${base}: not for en-US`);
    }
  });

  it('serves each node catalog translated, in English and Japanese', async () => {
    for (const [set, js] of Object.entries(NODE_SETS)) {
      const base = path.basename(js, '.js');
      const catalogs: Record<string, Record<string, Record<string, unknown>>> = {};
      for (const lang of LANGS) {
        catalogs[lang] = await getJson(`/locales/${MODULE}/${set}?lng=${lang}`);
        const file = JSON.parse(fs.readFileSync(path.join(repoRoot, 'locales', lang, `${base}.json`), 'utf8')) as unknown;
        assert.deepEqual(catalogs[lang], file, `${set} ${lang} catalog`);
      }
      // A known key, translated: the Name field's label.
      const type = TYPES[set];
      const label = (lang: string): unknown => (catalogs[lang][type]?.label as Record<string, unknown> | undefined)?.name;
      assert.equal(label('en-US'), 'Name', `${type}.label.name`);
      assert.equal(typeof label('ja'), 'string');
      assert.notEqual(label('ja'), label('en-US'), `${type}.label.name differs in ja`);
    }
    // The palette labels the spec names.
    assert.equal((await getJson<Record<string, Record<string, string>>>(`/locales/${MODULE}/mailwire-receive-email?lng=en-US`))['mailwire-receive-email'].paletteLabel, 'receive email');
    assert.equal((await getJson<Record<string, Record<string, string>>>(`/locales/${MODULE}/mailwire-send-email?lng=en-US`))['mailwire-send-email'].paletteLabel, 'send email');
    // What the editor loads at start-up: every catalog at once.
    const all = await getJson<Record<string, Record<string, Record<string, unknown>>>>('/nodes/messages?lng=ja');
    const jaFile = JSON.parse(fs.readFileSync(path.join(repoRoot, 'locales', 'ja', 'receive-email.json'), 'utf8')) as unknown;
    assert.deepEqual(all[`${MODULE}/mailwire-receive-email`], jaFile);
  });

  it('serves our icons, not the default one', async () => {
    for (const icon of iconFiles) {
      const res = await get(`/icons/${MODULE}/${icon}`);
      assert.equal(res.status, 200, icon);
      assert.match(res.headers.get('content-type') ?? '', /^image\/svg\+xml/, icon);
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(body.equals(fs.readFileSync(path.join(repoRoot, 'icons', icon))), `${icon}: our file`);
    }
    const list = await getJson<Record<string, string[]>>('/icons');
    assert.deepEqual([...(list[MODULE] ?? [])].sort(), [...iconFiles].sort());
  });

  it('serves the shared editor scripts and stylesheet where the editor files load them from, without a login', async () => {
    assert.ok(red);
    assert.deepEqual(resourceFiles, ['mailwire-editor.css', 'mailwire-editor.js', 'mailwire-failure-text.js']);
    // Each editor file loads the script by the path Node-RED serves (relative: the editor adds the admin root).
    const tag = `<script src="resources/${MODULE}/mailwire-editor.js"></script>`;
    const en = await (await get('/nodes', { accept: 'text/html', 'accept-language': 'en-US' })).text();
    for (const js of Object.values(NODE_SETS)) {
      const html = fs.readFileSync(path.join(userDir, 'node_modules', ...MODULE.split('/'), js.replace(/\.js$/, '.html')), 'utf8');
      assert.ok(html.includes(tag), `${js.replace(/\.js$/, '.html')} loads the shared script`);
    }
    assert.equal(en.split(tag).length - 1, Object.keys(NODE_SETS).length, 'each node set brings the script tag');
    // The connection dialogs build their failure messages with the runtime's own code.
    const failureTag = `<script src="resources/${MODULE}/mailwire-failure-text.js"></script>`;
    assert.equal(en.split(failureTag).length - 1, 2, 'both connection node sets bring the failure-text script tag');
    // The browser fetches them with a script and a link element, which send no admin token.
    const script = /^(application|text)\/javascript/;
    for (const [file, type] of [['mailwire-editor.js', script], ['mailwire-failure-text.js', script], ['mailwire-editor.css', /^text\/css/]] as const) {
      const res: Response = await fetch(`${red.url}/resources/${MODULE}/${file}`);
      assert.equal(res.status, 200, file);
      assert.match(res.headers.get('content-type') ?? '', type, file);
      assert.equal(await res.text(), fs.readFileSync(path.join(repoRoot, 'resources', file), 'utf8'), `${file}: our file`);
    }
    assert.equal((await fetch(`${red.url}/resources/${MODULE}/missing.js`)).status, 404);
  });

  it('lists the example flows under Import > Examples, and serves each one', async () => {
    const modules = await getJson<string[]>('/library/examples/flows/');
    assert.ok(modules.includes(MODULE), `examples of ${MODULE} in ${JSON.stringify(modules)}`);
    const listed = await getJson<Array<{ fn: string } | string>>(`/library/examples/flows/${MODULE}`);
    const names = listed.map((e) => (typeof e === 'string' ? e : e.fn)).sort();
    assert.deepEqual(names, exampleFiles.map((f) => f.replace(/\.json$/, '')));
    for (const file of exampleFiles) {
      const flow = await getJson<unknown>(`/library/examples/flows/${MODULE}/${encodePath(file.replace(/\.json$/, ''))}`);
      assert.deepEqual(flow, JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples', file), 'utf8')), file);
    }
  });
});
