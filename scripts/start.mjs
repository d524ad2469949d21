#!/usr/bin/env node
// Starts the demo: the private mail server with a demo account, and Node-RED on 127.0.0.1 with
// this package loaded from the working tree and a demo flow deployed. Ctrl-C stops both.
// Run through scripts/start.sh, which installs what is missing first.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as servers from './mail-servers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const userDir = path.join(servers.stateDir, 'node-red');
const port = Number(process.env.PORT ?? 1880);
const DEMO_USER = 'demo';

function linkPackage() {
  const scope = path.join(userDir, 'node_modules', '@mailwire');
  fs.mkdirSync(scope, { recursive: true });
  const link = path.join(scope, 'node-red-email');
  fs.rmSync(link, { force: true, recursive: true });
  // What `npm install <folder>` does: Node-RED finds the package through the link.
  fs.symlinkSync(root, link, 'dir');
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'mailwire-demo', private: true, dependencies: { '@mailwire/node-red-email': `file:${root}` } }, null, 2));
}

function writeSettings() {
  fs.writeFileSync(path.join(userDir, 'settings.js'), `module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${port},
  flowFile: 'flows.json',
  // The demo keeps its one local password readable in flows_cred.json; a real install sets a secret.
  credentialSecret: false,
  editorTheme: { tours: false, projects: { enabled: false } },
  logging: { console: { level: 'info' } },
};
`);
}

function writeDemoFlow(info) {
  const flowFile = path.join(userDir, 'flows.json');
  if (fs.existsSync(flowFile)) return; // a second start keeps what the user changed
  const flow = [
    { id: 'demo-tab', type: 'tab', label: 'Mailwire demo' },
    { id: 'demo-comment', type: 'comment', z: 'demo-tab', name: 'Receive Email polls the local demo mailbox; each email shows in the debug sidebar', x: 320, y: 40, wires: [] },
    { id: 'demo-conn', type: 'mailwire-receive-connection', name: 'Local demo mailbox (IMAP)', description: 'The private Dovecot started by scripts/start.sh', protocol: 'imap', host: 'localhost', port: info.ports.imaps, security: 'tls', certificate: fs.readFileSync(info.certificate, 'utf8') },
    { id: 'demo-recv', type: 'mailwire-receive-email', z: 'demo-tab', name: 'Demo inbox', connection: 'demo-conn', folder: '', unseenOnly: true, delay: 5, delayUnit: 's', maxEmails: 5, x: 140, y: 120, wires: [['demo-change']] },
    { id: 'demo-change', type: 'change', z: 'demo-tab', name: 'map: sender and subject', rules: [{ t: 'set', p: 'summary', pt: 'msg', to: '"From " & from & ": " & topic', tot: 'jsonata' }], x: 380, y: 120, wires: [['demo-debug']] },
    { id: 'demo-debug', type: 'debug', z: 'demo-tab', name: 'received email', active: true, tosidebar: true, complete: 'true', targetType: 'full', x: 620, y: 120, wires: [] },
  ];
  fs.writeFileSync(flowFile, JSON.stringify(flow, null, 2));
  fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify({ 'demo-conn': { user: DEMO_USER, password: info.password } }, null, 2));
}

async function deliverWelcome(info) {
  const { ImapFlow } = await import('imapflow');
  const client = new ImapFlow({ host: '127.0.0.1', port: info.ports.imap, secure: false, doSTARTTLS: false, auth: { user: DEMO_USER, pass: info.password }, logger: false });
  client.on('error', () => undefined);
  await client.connect();
  const status = await client.status('INBOX', { messages: true });
  if (status.messages === 0) {
    await client.append('INBOX', `From: Mailwire <welcome@localhost>\r\nTo: ${DEMO_USER}@localhost\r\nSubject: Welcome to the Mailwire demo\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThis email came from the local demo mailbox.\r\n`);
  }
  await client.logout();
}

fs.mkdirSync(userDir, { recursive: true });
let mailInfo;
try {
  mailInfo = await servers.start();
} catch (err) {
  process.stderr.write(`\nThe local mail server could not start: ${err.message}\nNode-RED starts anyway, with the nodes loaded but no demo mailbox.\n\n`);
}
linkPackage();
writeSettings();
if (mailInfo) {
  writeDemoFlow(mailInfo);
  await deliverWelcome(mailInfo);
}

const red = spawn(process.execPath, [path.join(root, 'node_modules', 'node-red', 'red.js'), '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')], { stdio: 'inherit' });
process.stdout.write(`\nNode-RED editor: http://127.0.0.1:${port}/\n`);
if (mailInfo) {
  process.stdout.write(`Demo mail account: user "${DEMO_USER}", password "${mailInfo.password}", host localhost\n` +
    `  IMAP ${mailInfo.ports.imap} (StartTLS) / ${mailInfo.ports.imaps} (SSL/TLS), POP3 ${mailInfo.ports.pop3} (StartTLS) / ${mailInfo.ports.pop3s} (SSL/TLS)\n` +
    `  server certificate (paste into Server Certificate): ${mailInfo.certificate}\n`);
}
process.stdout.write('Ctrl-C stops Node-RED and the mail server.\n\n');

let stopping = false;
const stopAll = async () => {
  if (stopping) return;
  stopping = true;
  red.kill('SIGINT');
  await servers.stop({ quiet: true });
};
process.on('SIGINT', stopAll);
process.on('SIGTERM', stopAll);
red.on('exit', async (code) => {
  await stopAll();
  process.exit(code ?? 0);
});
