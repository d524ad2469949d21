#!/usr/bin/env node
// An offline check of the Node-RED flow library's scorecard rules, run against the working tree:
//   node scripts/scorecard.mjs [--root <dir>] [--package <path>] [--json]
// Prints each rule as PASS or FAIL with what it found, and exits 1 when any rule fails.
// --root is the package's folder (default: this repository); --package a package.json to judge
// instead of <root>/package.json (the files it names are still looked up under --root).
// The rules about node sets and editor files read dist/: run `node scripts/build.mjs` first.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Versions of Node-RED the package must admit: the current 5.x line and 4.1. */
export const NODE_RED_VERSIONS = ['5.0.7', '4.1.8'];
export const MAX_DEPENDENCIES = 6;

function parseArgs(argv) {
  const options = { root: path.resolve(here, '..'), packageFile: undefined, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--root') options.root = path.resolve(value());
    else if (arg === '--package') options.packageFile = path.resolve(value());
    else if (arg === '--json') options.json = true;
    else throw new Error(`unknown option ${arg} (use --root <dir>, --package <path>, --json)`);
  }
  options.packageFile ??= path.join(options.root, 'package.json');
  return options;
}

// ---------------------------------------------------------------------------------------------
// Version ranges: the `semver` package (a devDependency; Node-RED and npm read ranges with it too).

const ranges = {
  via: 'semver package',
  valid: (range) => semver.validRange(range) !== null,
  satisfies: (version, range) => semver.satisfies(version, range),
};

// ---------------------------------------------------------------------------------------------
// What the package's files say.

const REGISTER_LITERAL = /RED\.nodes\.registerType\(\s*(['"])([^'"]+)\1\s*,/g;

/** The node types an editor .html registers literally, each with its category. */
export function htmlRegistrations(text) {
  const matches = [...text.matchAll(REGISTER_LITERAL)];
  return matches.map((m, i) => {
    const body = text.slice(m.index, i + 1 < matches.length ? matches[i + 1].index : text.length);
    const category = /\bcategory\s*:\s*(['"])([^'"]*)\1/.exec(body)?.[2];
    return { type: m[2], category };
  });
}

const RESOURCE_LITERAL = /\bresources\/((?:@[^/"'\s]+\/)?[^/"'\s]+)\/([^"'\s?#]+)/g;

/**
 * What an editor .html loads from a module's resources/ folder, which Node-RED serves at
 * resources/<module>/<file>: [{module, file}].
 */
export function htmlResources(text) {
  return [...text.matchAll(RESOURCE_LITERAL)].map((m) => ({ module: m[1], file: m[2] }));
}

/**
 * The node types a compiled node file registers with the runtime: it is loaded with a stand-in for
 * the RED object that records registerType calls and answers everything else with itself.
 */
async function runtimeRegistrations(jsFile) {
  const types = [];
  const handler = {
    get(_target, prop) {
      if (prop === 'then') return undefined;
      if (prop === Symbol.toPrimitive) return () => '';
      if (prop === 'registerType') return (type) => types.push(String(type));
      return stub;
    },
    apply: () => stub,
    construct: () => stub,
  };
  const stub = new Proxy(function red() {}, handler);
  const loaded = createRequire(jsFile)(jsFile);
  const init = typeof loaded === 'function' ? loaded : loaded?.default;
  if (typeof init !== 'function') throw new Error('does not export a function of RED');
  await init(stub);
  return types;
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function list(items) {
  return items.length ? items.join(', ') : 'none';
}

function relative(root, file) {
  return path.relative(root, file) || '.';
}

// ---------------------------------------------------------------------------------------------

export async function scorecard({ root, packageFile }) {
  const results = [];
  const rule = (id, title, failures, found) => results.push({ id, title, pass: failures.length === 0, detail: failures.length ? failures.join('; ') : found });

  let pkg;
  try {
    pkg = readJson(packageFile);
  } catch (err) {
    rule('package-json', 'package.json can be read', [`${packageFile}: ${err.message}`], '');
    return results;
  }
  const nr = pkg['node-red'] ?? {};

  // The node sets, their compiled files and editor files.
  const sets = Object.entries(nr.nodes ?? {}).map(([name, rel]) => {
    const js = path.resolve(root, String(rel));
    const html = js.replace(/\.js$/, '.html');
    const srcHtml = path.join(root, 'src', 'nodes', path.basename(html));
    return { name, rel: String(rel), js, html, srcHtml };
  });

  // Types registered by each set at run time, and by the editor files literally.
  const runtimeErrors = [];
  for (const set of sets) {
    set.runtimeTypes = [];
    if (!fs.existsSync(set.js)) continue;
    try {
      set.runtimeTypes = await runtimeRegistrations(set.js);
    } catch (err) {
      runtimeErrors.push(`${set.rel} failed to load: ${err.message}`);
    }
  }
  const srcNodes = path.join(root, 'src', 'nodes');
  const htmlFiles = [
    ...sets.map((s) => s.html).filter((f) => fs.existsSync(f)),
    ...(fs.existsSync(srcNodes) ? fs.readdirSync(srcNodes).filter((f) => f.endsWith('.html')).map((f) => path.join(srcNodes, f)) : []),
  ];
  const literal = new Map(); // html file -> [{type, category}]
  for (const file of new Set(htmlFiles)) literal.set(file, htmlRegistrations(fs.readFileSync(file, 'utf8')));
  const categories = new Map();
  for (const regs of literal.values()) for (const r of regs) if (!categories.has(r.type) || r.category) categories.set(r.type, r.category);
  const allTypes = [...new Set([...sets.flatMap((s) => s.runtimeTypes), ...categories.keys()])].sort();
  const nonConfig = allTypes.filter((t) => categories.get(t) !== 'config');

  // 1. Scoped name.
  const name = typeof pkg.name === 'string' ? pkg.name : '';
  rule('scoped-name', 'package name is scoped', /^@[a-z0-9][a-z0-9._~-]*\/[a-z0-9][a-z0-9._~-]*$/.test(name) ? [] : [`name is "${name}"`], name);

  // 2. License.
  {
    const failures = [];
    const license = typeof pkg.license === 'string' ? pkg.license.trim() : '';
    if (!license || /^UNLICENSED$/i.test(license)) failures.push(`license field is "${license}"`);
    const file = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'LICENCE'].find((f) => fs.existsSync(path.join(root, f)));
    if (!file) failures.push('no LICENSE file');
    rule('license', 'package has a license', failures, `${license}, ${file}`);
  }

  // 3. Repository.
  {
    const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
    rule('repository', 'package names its repository', typeof repo === 'string' && repo.trim() ? [] : ['no repository (or repository.url)'], repo);
  }

  // 4. Keyword.
  {
    const keywords = Array.isArray(pkg.keywords) ? pkg.keywords : [];
    rule('keyword', 'keywords include "node-red"', keywords.includes('node-red') ? [] : [`keywords are ${list(keywords)}`], list(keywords));
  }

  // 5. node-red.version.
  {
    const range = nr.version;
    const failures = [];
    if (typeof range !== 'string' || !range.trim()) failures.push('node-red.version is missing');
    else if (!ranges.valid(range)) failures.push(`node-red.version "${range}" is not a version range`);
    else for (const v of NODE_RED_VERSIONS) if (!ranges.satisfies(v, range)) failures.push(`node-red.version "${range}" does not admit Node-RED ${v}`);
    rule('node-red-version', `node-red.version admits Node-RED ${NODE_RED_VERSIONS.join(' and ')}`, failures, `"${range}" admits ${NODE_RED_VERSIONS.join(', ')} (${ranges.via})`);
  }

  // 6. engines.node.
  {
    const range = pkg.engines?.node;
    const failures = [];
    if (typeof range !== 'string' || !range.trim()) failures.push('engines.node is missing');
    else if (!ranges.valid(range)) failures.push(`engines.node "${range}" is not a version range`);
    rule('engines-node', 'engines.node is set', failures, `"${range}"`);
  }

  // 7. Dependencies.
  {
    const deps = Object.keys(pkg.dependencies ?? {});
    const failures = [];
    if (deps.length > MAX_DEPENDENCIES) failures.push(`${deps.length} runtime dependencies (${list(deps)}), more than ${MAX_DEPENDENCIES}`);
    for (const d of ['node-red', '@node-red/runtime', '@node-red/util']) if (deps.includes(d)) failures.push(`${d} is a runtime dependency`);
    rule('dependencies', `at most ${MAX_DEPENDENCIES} runtime dependencies, none on Node-RED itself`, failures, `${deps.length}: ${list(deps)}`);
  }

  // 8. Node sets exist, each with its editor file beside it and what that file loads from resources/.
  {
    const failures = [];
    if (sets.length === 0) failures.push('package.json has no node-red.nodes');
    for (const set of sets) {
      if (!fs.existsSync(set.js)) failures.push(`${set.name}: ${set.rel} does not exist (run node scripts/build.mjs)`);
      else if (!fs.existsSync(set.html)) failures.push(`${set.name}: no ${relative(root, set.html)} beside ${set.rel}`);
    }
    failures.push(...runtimeErrors);
    for (const set of sets) if (fs.existsSync(set.js) && !runtimeErrors.some((e) => e.startsWith(set.rel)) && set.runtimeTypes.length === 0) failures.push(`${set.rel} registers no node type`);
    // What the editor files load from resources/ must be there and be packed: the editor waits
    // for every script an editor file loads, and never finishes loading without it.
    const packsResources = !Array.isArray(pkg.files) || pkg.files.some((f) => String(f).replace(/^\.?\//, '').split('/')[0] === 'resources');
    for (const set of sets.filter((s) => fs.existsSync(s.html))) {
      for (const { module, file } of htmlResources(fs.readFileSync(set.html, 'utf8'))) {
        const ref = `resources/${module}/${file}`;
        if (module !== name) failures.push(`${relative(root, set.html)} loads ${ref}, which is not from this package (${name})`);
        else if (!fs.existsSync(path.join(root, 'resources', file))) failures.push(`${relative(root, set.html)} loads ${ref}, but there is no resources/${file}`);
        else if (!packsResources) failures.push(`${relative(root, set.html)} loads ${ref}, but package.json "files" leaves out resources`);
      }
    }
    rule('node-sets', 'each node set in node-red.nodes exists, with its .html beside it and the resources/ files it loads', failures, sets.map((s) => `${s.name} -> ${s.rel} [${list(s.runtimeTypes)}]`).join('; '));
  }

  // 9. Editor files register each type literally.
  {
    const failures = [];
    for (const set of sets) {
      for (const file of [set.html, set.srcHtml]) {
        if (!fs.existsSync(file)) {
          if (file === set.srcHtml && fs.existsSync(srcNodes)) failures.push(`${set.name}: no ${relative(root, file)}`);
          continue;
        }
        const types = literal.get(file).map((r) => r.type);
        for (const type of set.runtimeTypes) if (!types.includes(type)) failures.push(`${relative(root, file)} has no literal RED.nodes.registerType('${type}'`);
        for (const type of types) if (set.runtimeTypes.length && !set.runtimeTypes.includes(type)) failures.push(`${relative(root, file)} registers '${type}', which ${set.rel} does not`);
      }
    }
    for (const [file, regs] of literal) if (regs.length === 0) failures.push(`${relative(root, file)} has no literal RED.nodes.registerType('<type>'`);
    const seen = new Map();
    for (const set of sets) for (const type of set.runtimeTypes) {
      if (seen.has(type)) failures.push(`${type} is registered by both ${seen.get(type)} and ${set.name}`);
      seen.set(type, set.name);
    }
    rule('html-register-type', "every editor .html has a literal RED.nodes.registerType('<type>' for each type", failures, `${literal.size} files: ${list(allTypes)}`);
  }

  // 10. Examples use every non-config node.
  {
    const failures = [];
    const dir = path.join(root, 'examples');
    const used = new Set();
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];
    if (files.length === 0) failures.push('no examples/*.json');
    for (const file of files) {
      try {
        const flow = readJson(path.join(dir, file));
        const nodes = Array.isArray(flow) ? flow : Array.isArray(flow?.flows) ? flow.flows : undefined;
        if (!nodes) failures.push(`examples/${file} is not a flow (an array of nodes)`);
        else for (const n of nodes) if (n && typeof n.type === 'string') used.add(n.type);
      } catch (err) {
        failures.push(`examples/${file}: ${err.message}`);
      }
    }
    if (nonConfig.length === 0) failures.push('found no non-config node type to look for');
    for (const type of nonConfig) if (!used.has(type)) failures.push(`${type} is in no example`);
    rule('examples', 'every non-config node type is used in some examples/*.json', failures, `${files.length} examples use ${list(nonConfig)}`);
  }

  // 11. README.
  {
    const file = ['README.md', 'README', 'readme.md'].map((f) => path.join(root, f)).find((f) => fs.existsSync(f));
    const failures = [];
    if (!file) failures.push('no README.md');
    else {
      const text = fs.readFileSync(file, 'utf8');
      for (const type of allTypes) if (!text.includes(type)) failures.push(`README does not mention ${type}`);
    }
    rule('readme', 'README exists and mentions each node type', failures, file ? `${relative(root, file)} mentions ${list(allTypes)}` : '');
  }

  return results;
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  const results = await scorecard(options);
  if (options.json) {
    console.log(JSON.stringify({ root: options.root, package: options.packageFile, results }, null, 2));
  } else {
    console.log(`scorecard for ${relative(process.cwd(), options.packageFile)} (root ${relative(process.cwd(), options.root)})`);
    const width = Math.max(...results.map((r) => r.id.length));
    for (const r of results) console.log(`${r.pass ? 'PASS' : 'FAIL'}  ${r.id.padEnd(width)}  ${r.title}${r.detail ? `: ${r.detail}` : ''}`);
    const failed = results.filter((r) => !r.pass).length;
    console.log(failed ? `scorecard: ${failed} of ${results.length} rules fail` : `scorecard: all ${results.length} rules pass`);
  }
  // Node files loaded to read their registrations may hold timers or sockets: do not wait for them.
  process.exit(results.every((r) => r.pass) ? 0 : 1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
