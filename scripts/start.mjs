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
  const certificate = fs.readFileSync(info.certificate, 'utf8');
  const flow = [
    { id: 'demo-tab', type: 'tab', label: 'Mailwire demo' },
    { id: 'demo-comment', type: 'comment', z: 'demo-tab', name: 'Press the inject button: Send Email sends a test email to the demo mailbox, Receive Email picks it up, a change node maps it, the debug sidebar shows it', info: 'The connections point at the local mail server that scripts/start.sh runs (Dovecot and Postfix on 127.0.0.1), with the demo account and the server\'s self-signed certificate pasted in. Open them and press Validate.', x: 470, y: 40, wires: [] },
    { id: 'demo-recv-conn', type: 'mailwire-receive-connection', name: 'Demo mailbox (IMAP)', description: 'The local Dovecot started by scripts/start.sh', protocol: 'imap', host: 'localhost', port: info.ports.imaps, security: 'tls', certificate },
    { id: 'demo-send-conn', type: 'mailwire-send-connection', name: 'Demo mail server (SMTP)', description: 'The local Postfix started by scripts/start.sh', host: 'localhost', port: info.ports.submission, security: 'starttls', certificate },
    { id: 'demo-inject', type: 'inject', z: 'demo-tab', name: 'send a test email', props: [{ p: 'payload' }], repeat: '', crontab: '', once: false, onceDelay: 0.1, topic: '', payload: '', payloadType: 'date', x: 160, y: 100, wires: [['demo-compose']] },
    { id: 'demo-compose', type: 'change', z: 'demo-tab', name: 'map: test email', rules: [
      { t: 'set', p: 'subject', pt: 'msg', to: '"Test email sent at " & $fromMillis(payload)', tot: 'jsonata' },
      { t: 'set', p: 'payload', pt: 'msg', to: 'Hello from the Mailwire demo flow.', tot: 'str' },
    ], x: 380, y: 100, wires: [['demo-send']] },
    { id: 'demo-send', type: 'mailwire-send-email', z: 'demo-tab', name: 'Send Email', connection: 'demo-send-conn', from: `Demo <${DEMO_USER}@localhost>`, to: `${DEMO_USER}@localhost`, subject: '', text: '', cc: '', bcc: '', priority: 'consumed', x: 590, y: 100, wires: [['demo-sent']] },
    { id: 'demo-sent', type: 'debug', z: 'demo-tab', name: 'sent', active: true, tosidebar: true, console: false, tostatus: false, complete: 'sent', targetType: 'msg', x: 770, y: 100, wires: [] },
    { id: 'demo-recv', type: 'mailwire-receive-email', z: 'demo-tab', name: 'Demo inbox', connection: 'demo-recv-conn', folder: '', unseenOnly: true, delay: 3, delayUnit: 's', maxEmails: 5, x: 150, y: 180, wires: [['demo-map']] },
    { id: 'demo-map', type: 'change', z: 'demo-tab', name: 'map: sender and subject', rules: [{ t: 'set', p: 'summary', pt: 'msg', to: '"From " & from & ": " & topic', tot: 'jsonata' }], x: 380, y: 180, wires: [['demo-debug']] },
    { id: 'demo-debug', type: 'debug', z: 'demo-tab', name: 'received email', active: true, tosidebar: true, console: false, tostatus: true, complete: 'summary', targetType: 'msg', statusVal: 'topic', statusType: 'msg', x: 610, y: 180, wires: [] },
  ];
  if (!info.smtp) {
    // No Postfix: keep the receive half, which still works on its own.
    const sendIds = new Set(['demo-send-conn', 'demo-inject', 'demo-compose', 'demo-send', 'demo-sent']);
    flow.splice(0, flow.length, ...flow.filter((n) => !sendIds.has(n.id)));
  }
  fs.writeFileSync(flowFile, JSON.stringify(flow, null, 2));
  fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify({
    'demo-recv-conn': { user: DEMO_USER, password: info.password },
    'demo-send-conn': { user: DEMO_USER, password: info.password },
  }, null, 2));
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
let startedServers = false;
try {
  const { info, started } = await servers.ensureStarted();
  mailInfo = info;
  startedServers = started;
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
  process.stdout.write(`Demo mail account: ${DEMO_USER}@localhost, user "${DEMO_USER}", password "${mailInfo.password}", host localhost\n` +
    `  IMAP ${mailInfo.ports.imap} (StartTLS) / ${mailInfo.ports.imaps} (SSL/TLS), POP3 ${mailInfo.ports.pop3} (StartTLS) / ${mailInfo.ports.pop3s} (SSL/TLS)\n` +
    (mailInfo.smtp
      ? `  SMTP ${mailInfo.ports.submission} (StartTLS) / ${mailInfo.ports.submissions} (SSL/TLS); mail to anything@localhost or anything@example.test stays on this machine\n`
      : '  SMTP: not available (Postfix is not installed: apt-get install postfix); the demo flow has only its receive half\n') +
    `  server certificate (already pasted in the demo connections): ${mailInfo.certificate}\n`);
}
process.stdout.write('Ctrl-C stops Node-RED and the mail server.\n\n');

// One stop for Ctrl-C and for Node-RED's own exit: whoever comes second waits for the first.
let stopping;
const stopAll = () => {
  stopping ??= (async () => {
    red.kill('SIGINT');
    if (startedServers) await servers.stop({ quiet: true });
  })();
  return stopping;
};
process.on('SIGINT', stopAll);
process.on('SIGTERM', stopAll);
red.on('exit', async (code) => {
  await stopAll();
  process.exit(code ?? 0);
});
