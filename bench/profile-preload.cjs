// Preload for profiling a bench child: NODE_OPTIONS="--require /abs/bench/profile-preload.cjs".
// Only in processes whose argv names PROFILE_MATCH (default run-one.js): a V8 CPU profile
// (unless PROFILE_CPU=0; written to PROFILE_DIR as <pid>-<job>.cpuprofile), counts and bytes of the sync fs writes,
// renames and fsyncs, GC pauses, CPU time and the test helper's spy call counts (to <pid>-<job>.json).
// Node 20 refuses --cpu-prof in NODE_OPTIONS, hence this. Also PROFILE_GC_EVERY_MS (live heap after a
// forced GC), PROFILE_SNAPSHOT_AT_MS (one heap snapshot) and PROFILE_UNSPY=1 (see below). Example:
//   MAILWIRE_PORT_BASE=37000 PROFILE_DIR=/tmp/prof NODE_OPTIONS="--require $PWD/bench/profile-preload.cjs" \
//     node scripts/bench.mjs imap-drain --repeat=1 && node bench/profile-summary.cjs /tmp/prof/*-node.cpuprofile
// The fs counts include the profile file itself (one writeFileSync). Measurement aid, not part of the bench.
'use strict';
const match = process.env.PROFILE_MATCH || 'run-one.js';
if (process.argv.some((a) => a.includes(match))) {
  const fs = require('node:fs');
  const path = require('node:path');
  const inspector = require('node:inspector');
  const { PerformanceObserver } = require('node:perf_hooks');
  const dir = process.env.PROFILE_DIR || '/tmp/prof';
  let job = 'job';
  try { const spec = JSON.parse(process.argv[2]); job = `${spec.id || spec.scenario}-${spec.implementation || ''}`; } catch { /* not a job */ }
  const counts = {};
  const bump = (name, bytes) => { const c = (counts[name] ||= { calls: 0, bytes: 0 }); c.calls += 1; c.bytes += bytes || 0; };
  const size = (d) => (typeof d === 'string' ? Buffer.byteLength(d) : d && d.byteLength ? d.byteLength : 0);
  for (const name of ['writeFileSync', 'renameSync', 'fsyncSync', 'writeSync', 'openSync', 'mkdirSync', 'chmodSync', 'appendFileSync', 'fdatasyncSync', 'readFileSync']) {
    const orig = fs[name];
    fs[name] = function (...args) { bump(name, name.startsWith('write') || name.startsWith('append') ? size(args[1]) : 0); return orig.apply(this, args); };
  }
  for (const name of ['writeFile', 'rename', 'fsync', 'appendFile']) {
    const orig = fs[name];
    fs[name] = function (...args) { bump(name, size(args[1])); return orig.apply(this, args); };
    const p = fs.promises[name];
    if (p) fs.promises[name] = function (...args) { bump(`promises.${name}`, size(args[1])); return p.apply(this, args); };
  }
  const gc = { count: 0, ms: 0, byKind: {} };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) { gc.count += 1; gc.ms += e.duration; const k = String(e.detail ? e.detail.kind : e.kind); gc.byKind[k] = (gc.byKind[k] || 0) + e.duration; }
  }).observe({ entryTypes: ['gc'] });
  // PROFILE_SNAPSHOT_AT_MS=N: a heap snapshot N ms after start, into PROFILE_DIR.
  const snapshotAt = Number(process.env.PROFILE_SNAPSHOT_AT_MS || 0);
  if (snapshotAt > 0) setTimeout(() => { fs.mkdirSync(dir, { recursive: true }); require('node:v8').writeHeapSnapshot(path.join(dir, `${process.pid}-${job}.heapsnapshot`)); }, snapshotAt).unref();
  // PROFILE_UNSPY=1: once the test helper has loaded the flow, take its sinon spies off again
  // (log.log and Node.prototype log/status/warn/error/debug/trace/send), as in a real Node-RED.
  if (process.env.PROFILE_UNSPY === '1') {
    const Module = require('node:module');
    const load = Module._load;
    let patched = false;
    Module._load = function (request, ...rest) {
      const out = load.call(this, request, ...rest);
      if (!patched && request === 'node-red-node-test-helper' && out && typeof out.load === 'function') {
        patched = true;
        const original = out.load;
        out.load = async function (...args) {
          const result = await original.apply(this, args);
          for (const m of ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send']) this._NodePrototype?.[m]?.restore?.();
          this._logSpy?.restore?.();
          return result;
        };
      }
      return out;
    };
  }
  const cpuProfile = process.env.PROFILE_CPU !== '0';
  const session = new inspector.Session();
  if (cpuProfile) {
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: Number(process.env.PROFILE_INTERVAL_US || 200) });
    session.post('Profiler.start');
  }
  const t0 = process.hrtime.bigint();
  // PROFILE_GC_EVERY_MS=N: a full GC every N ms and the live heap after it (is memory retained, or only slack?).
  const liveHeap = [];
  const every = Number(process.env.PROFILE_GC_EVERY_MS || 0);
  if (every > 0) {
    require('node:v8').setFlagsFromString('--expose-gc');
    const gcNow = require('node:vm').runInNewContext('gc');
    setInterval(() => { gcNow(); const m = process.memoryUsage(); liveHeap.push([Math.round(Number(process.hrtime.bigint() - t0) / 1e6), Math.round(m.heapUsed / 1048576), Math.round(m.external / 1048576), Math.round(m.rss / 1048576)]); }, every).unref();
  }
  const cpu0 = process.cpuUsage();
  process.on('exit', () => {
    fs.mkdirSync(dir, { recursive: true });
    const base = path.join(dir, `${process.pid}-${job}`);
    if (cpuProfile) session.post('Profiler.stop', (err, res) => { if (!err) fs.writeFileSync(`${base}.cpuprofile`, JSON.stringify(res.profile)); });
    const cpu = process.cpuUsage(cpu0);
    // Calls the test helper's sinon spies recorded (they keep every call's arguments).
    const spies = {};
    for (const [key, mod] of Object.entries(require.cache)) {
      if (!/node-red-node-test-helper[\\/]index\.js$/.test(key)) continue;
      const helper = mod.exports;
      for (const m of ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send']) spies[m] = helper._NodePrototype?.[m]?.callCount;
      spies['log.log'] = helper._logSpy?.callCount;
    }
    const mem = process.memoryUsage();
    fs.writeFileSync(`${base}.json`, JSON.stringify({ job, wallMs: Number(process.hrtime.bigint() - t0) / 1e6, userMs: cpu.user / 1000, systemMs: cpu.system / 1000, fs: counts, gc, spies, liveHeap, memory: { rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, arrayBuffers: mem.arrayBuffers } }, null, 1));
  });
}
