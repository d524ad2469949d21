// Summarises a .cpuprofile written by bench/profile-preload.cjs: the time from the first frame of
// the mail client (imapflow, our POP3 client) to the last frame of the parser, split into our code,
// imapflow, mailparser, Node-RED/test helper, the state file (writeFileAtomic), GC and idle.
// Usage: node bench/profile-summary.cjs FILE.cpuprofile
'use strict';
const fs = require('fs');
const p = JSON.parse(fs.readFileSync(process.argv[2]));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children || []) parent.set(c, n.id);
let t = p.startTime; const ts = [];
for (let i = 0; i < p.samples.length; i++) { t += p.timeDeltas[i]; ts.push(t); }
const startRe = new RegExp(process.argv[3] || 'imapflow|pop3-client');
const has = (id, re) => { for (let x = id; x !== undefined; x = parent.get(x)) if (re.test(byId.get(x).callFrame.url)) return true; return false; };
let a = -1, b = -1;
for (let i = 0; i < p.samples.length; i++) if (has(p.samples[i], startRe)) { if (a < 0) a = i; }
for (let i = p.samples.length - 1; i >= 0; i--) if (has(p.samples[i], /mailparser|mailsplit/)) { b = i; break; }
const cats = {}; let tot = 0;
function cat(id) {
  const chain = []; for (let x = id; x !== undefined; x = parent.get(x)) chain.push(byId.get(x).callFrame);
  const f = chain[0];
  if (chain.some((c) => c.functionName === 'writeFileAtomic')) return 'state file (writeFileAtomic)';
  if (f.functionName === '(idle)') return '(idle: waiting for network/server)';
  if (f.functionName === '(garbage collector)') return 'GC';
  if (f.functionName === '(program)') return '(program)';
  for (const c of chain) {
    const u = c.url;
    if (/mailparser|mailsplit|libmime|libqp|libbase64|iconv|encoding-japanese|nodemailer/.test(u)) return 'mailparser+deps';
    if (/node_modules\/imapflow/.test(u)) return 'imapflow';
    if (/node-red|sinon|test-helper/.test(u)) return 'node-red/test-helper';
    if (/\/dist\//.test(u) && !/node_modules/.test(u)) return 'ours (dist)';
    if (/\.build\//.test(u)) return 'bench harness';
  }
  return 'node core/other (net, tls, streams, timers)';
}
for (let i = a; i <= b; i++) { const d = (p.timeDeltas[i + 1] ?? 0) / 1000; const c = cat(p.samples[i]); cats[c] = (cats[c] || 0) + d; tot += d; }
console.log(process.argv[2].split('/').pop(), `window ${(tot).toFixed(0)} ms (first client frame -> last parser frame)`);
for (const [k, v] of Object.entries(cats).sort((x, y) => y[1] - x[1])) console.log('  ' + k.padEnd(44), v.toFixed(0).padStart(6), (100 * v / tot).toFixed(1).padStart(5) + '%');
