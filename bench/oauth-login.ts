// What an OAuth2 login costs over a password login, and how long signing in from the editor takes
// (`npm run bench -- oauth-login`; opt-in, like settle-drain). In one run, against the private
// Dovecot, Postfix and OAuth2 provider:
//  (a) the same user logs in `--login-count` (20) times each with the password, with OAuth2 and a
//      cached access token (the usual case: the SASL exchange plus Dovecot's introspection call),
//      and with OAuth2 after a refresh (the worst case: the token endpoint first), interleaved, a
//      fresh connection each time, through the code the nodes use: connectImap (imapflow),
//      connectPop3 (our client), and nodemailer with our transport options and token callback
//      (verify(): connect, EHLO, AUTH). All over implicit TLS. The tokens come from the connection's
//      own TokenProvider, signed in once by authorization code beforehand.
//  (b) `--signin-count` (5) sign-ins from a receive connection's dialog in Chromium: from pressing
//      Sign in, through the provider's login and consent pages, to the dialog saying signed in
//      (the e2e test's helpers: a real Node-RED with admin auth, a fresh browser context each time).
// Times are from the start of the connection until the server accepted the login; closing it is
// not counted.
import nodemailer from 'nodemailer';
import type { ReceiveSettings, SendSettings } from '../src/lib/connection-options';
import { connectImap } from '../src/lib/imap/imap-client';
import type { AccessTokenSource, OAuthSettings } from '../src/lib/oauth/oauth-settings';
import { resolveOAuthSettings } from '../src/lib/oauth/presets';
import { TokenProvider } from '../src/lib/oauth/token-provider';
import { connectPop3 } from '../src/lib/pop3/pop3-connect';
import { provideTokens } from '../src/lib/smtp/smtp-oauth';
import { SMTP_RUNTIME_TIMEOUTS, transportOptions } from '../src/lib/smtp/smtp-sender';
import { dropNode, editorSettings, launchBrowser, openConnectionDialog, openEditor, openNodeDialog } from '../test/e2e/browser';
import { fillCustomProvider, privateProvider, signInFromDialog } from '../test/e2e/oauth-dialog';
import { ADMIN, NodeRedProcess } from '../test/support/node-red-process';
import { oauthInfo, signIn } from '../test/support/oauth';
import { receiveSettings, sendSettings, serverInfo, uniqueUser } from '../test/support/servers';
import { checkOptions, environmentLine, fmt, loadAverage, median, numberOption, percentile, table } from './report';

const OPTIONS = ['login-count', 'signin-count'];
checkOptions(OPTIONS);
const LOGINS = numberOption('login-count', 20);
const SIGNINS = numberOption('signin-count', 5);
const IMAP_TIMEOUTS = { connectMs: 15000, greetingMs: 15000, idleSocketMs: 20000 };
const POP3_TIMEOUTS = { connectTimeoutMs: 15000, commandTimeoutMs: 20000 };
// The test provider's mail scope, with `openid email` as the presets ask for an account name. No
// offline_access: this provider issues refresh tokens without it, and it refuses a refresh that
// names offline_access (invalid_scope, "refresh token missing requested scope").
const SCOPE = 'mail openid email';

type Protocol = 'IMAP' | 'POP3' | 'SMTP';
type Kind = 'password' | 'cached' | 'refresh';
const PROTOCOLS: Protocol[] = ['IMAP', 'POP3', 'SMTP'];
const KINDS: Kind[] = ['password', 'cached', 'refresh'];
// How each client logs in with a password against these servers: imapflow and nodemailer take
// PLAIN from the offered mechanisms, our POP3 client sends USER and PASS.
const PASSWORD_LOGIN: Record<Protocol, string> = { IMAP: 'AUTHENTICATE PLAIN', POP3: 'USER/PASS', SMTP: 'AUTH PLAIN' };
const label = (protocol: Protocol, kind: Kind): string =>
  kind === 'password' ? `password (${PASSWORD_LOGIN[protocol]})` : kind === 'cached' ? 'OAuth2, cached access token' : 'OAuth2, refresh first';

const elapsedMs = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/** The connection's token source, timing how long each login waited for its token. */
class TimedTokens implements AccessTokenSource {
  waitedMs = 0;
  constructor(private readonly inner: AccessTokenSource) {}
  async accessToken(): Promise<string> {
    const started = process.hrtime.bigint();
    try {
      return await this.inner.accessToken();
    } finally {
      this.waitedMs += elapsedMs(started);
    }
  }
  refused(token: string): boolean {
    return this.inner.refused(token);
  }
}

/** One login on a fresh connection; resolves with its time once the server accepted it, the connection closed after. */
async function login(protocol: Protocol, user: string, tokens: AccessTokenSource | undefined): Promise<number> {
  const auth = tokens ? { password: '', tokens } : {};
  if (protocol === 'IMAP') {
    const settings: ReceiveSettings = receiveSettings('imap', 'tls', user, auth);
    const started = process.hrtime.bigint();
    const client = await connectImap(settings, IMAP_TIMEOUTS, () => undefined);
    const ms = elapsedMs(started);
    await client.logout().catch(() => undefined);
    client.close();
    return ms;
  }
  if (protocol === 'POP3') {
    const settings: ReceiveSettings = receiveSettings('pop3', 'tls', user, auth);
    const started = process.hrtime.bigint();
    const client = await connectPop3(settings, POP3_TIMEOUTS);
    const ms = elapsedMs(started);
    await client.quit().catch(() => undefined);
    client.destroy();
    return ms;
  }
  const settings: SendSettings = sendSettings('tls', user, auth);
  const started = process.hrtime.bigint();
  const transport = nodemailer.createTransport(transportOptions(settings, SMTP_RUNTIME_TIMEOUTS));
  if (tokens) provideTokens(transport, tokens);
  try {
    // connect, EHLO, AUTH; nodemailer sends QUIT and closes before verify() resolves.
    await transport.verify();
    return elapsedMs(started);
  } finally {
    transport.close();
  }
}

interface Samples {
  ms: number[];
  tokenMs: number[];
}

/** A connection's TokenProvider for `user`, signed in once (authorization code, the confidential test client). */
async function signedInProvider(user: string, settings: OAuthSettings): Promise<{ provider: TokenProvider; latest: () => string }> {
  const { refreshToken } = await signIn(user, { client: 'app', scope: SCOPE });
  let current = refreshToken;
  const provider = new TokenProvider(settings, {
    refreshToken,
    saveRefreshToken: async (rotated) => {
      current = rotated;
    },
  });
  return { provider, latest: () => current };
}

async function logins(): Promise<{ rows: string[][]; mechanism: string }> {
  const info = oauthInfo();
  const user = uniqueUser('bench-oauth');
  const settings = resolveOAuthSettings(
    { oauthProvider: 'custom', oauthGrant: 'authorization-code', oauthClientId: info.clients.app.id, oauthTokenUrl: info.tokenUrl, oauthAuthorizeUrl: info.authorizeUrl, oauthScope: SCOPE },
    { oauthClientSecret: info.clients.app.secret },
    'imap',
  );
  // Two grants of the same user: one keeps its access token, the other refreshes before every login.
  const cached = await signedInProvider(user, settings);
  const refreshing = await signedInProvider(user, settings);
  await cached.provider.accessToken();

  const samples = new Map<string, Samples>();
  const record = (protocol: Protocol, kind: Kind, ms: number, tokenMs: number): void => {
    const key = `${protocol} ${kind}`;
    const entry = samples.get(key) ?? { ms: [], tokenMs: [] };
    entry.ms.push(ms);
    entry.tokenMs.push(tokenMs);
    samples.set(key, entry);
  };

  // One of each, not counted: the first TLS handshakes, Dovecot's auth processes, the JIT.
  for (const protocol of PROTOCOLS) {
    await login(protocol, user, undefined);
    await login(protocol, user, cached.provider);
  }

  process.stdout.write(`  ${LOGINS} rounds of ${PROTOCOLS.length * KINDS.length} logins: `);
  for (let round = 0; round < LOGINS; round += 1) {
    for (const protocol of PROTOCOLS) {
      // Interleaved, the order turning each round so no kind always follows another.
      for (let k = 0; k < KINDS.length; k += 1) {
        const kind = KINDS[(k + round) % KINDS.length];
        if (kind === 'password') {
          record(protocol, kind, await login(protocol, user, undefined), 0);
          continue;
        }
        const source = kind === 'cached' ? cached : refreshing;
        // The refresh token the last refresh rotated in, as the connection would have stored it.
        if (kind === 'refresh') source.provider.setRefreshToken(source.latest());
        const timed = new TimedTokens(source.provider);
        const ms = await login(protocol, user, timed);
        record(protocol, kind, ms, timed.waitedMs);
      }
    }
    process.stdout.write(round % 10 === 9 ? `${round + 1}` : '.');
  }
  process.stdout.write('\n');

  const rows: string[][] = [];
  for (const protocol of PROTOCOLS) {
    const base = median(samples.get(`${protocol} password`)?.ms ?? []);
    for (const kind of KINDS) {
      const s = samples.get(`${protocol} ${kind}`) ?? { ms: [], tokenMs: [] };
      const m = median(s.ms);
      rows.push([
        protocol,
        label(protocol, kind),
        String(s.ms.length),
        fmt(m, 1),
        fmt(percentile(s.ms, 95), 1),
        kind === 'password' ? '' : `${m - base >= 0 ? '+' : ''}${fmt(m - base, 1)}`,
        kind === 'password' ? '' : fmt(median(s.tokenMs), 1),
      ]);
    }
  }
  // Dovecot offers OAUTHBEARER and XOAUTH2; imapflow and our POP3 client take OAUTHBEARER, nodemailer XOAUTH2.
  return { rows, mechanism: 'IMAP and POP3 OAUTHBEARER, SMTP XOAUTH2 (through Postfix to Dovecot)' };
}

async function signIns(): Promise<number[]> {
  const provider = privateProvider();
  const browser = await launchBrowser();
  const red = await NodeRedProcess.start({ extraSettings: editorSettings });
  const times: number[] = [];
  process.stdout.write(`  ${SIGNINS} sign-ins from the dialog: `);
  try {
    for (let i = 0; i < SIGNINS; i += 1) {
      // A fresh context: no provider session left from the last sign-in, so every one logs in.
      const e = await openEditor(browser, red, ADMIN, 'en-US', { allowOrigins: provider.origins });
      try {
        const id = await dropNode(e.page, 'mailwire-receive-email', 240, 140);
        await openNodeDialog(e.page, id);
        await openConnectionDialog(e.page, 'add');
        const user = `${uniqueUser('bench-signin')}@example.test`;
        await fillCustomProvider(e.page, provider, user);
        const { ms, shown } = await signInFromDialog(e.page, e.context, provider, user);
        if (!shown.startsWith('Signed in as ')) throw new Error(`the dialog says "${shown}"`);
        times.push(ms);
        process.stdout.write('.');
      } finally {
        await e.context.close().catch(() => undefined);
      }
    }
  } finally {
    process.stdout.write('\n');
    await red.stop();
    await browser.close().catch(() => undefined);
  }
  return times;
}

async function main(): Promise<number> {
  if (!serverInfo().oauth) throw new Error('the mail servers run without the OAuth2 provider: restart them with scripts/mail-servers.mjs');
  if (!(serverInfo() as { smtp?: boolean }).smtp) throw new Error('Postfix is not running with the mail servers: the SMTP logins go through it');
  process.stdout.write(`oauth-login: password vs OAuth2 logins, ${LOGINS} each, interleaved; ${SIGNINS} sign-ins from the editor\n`);
  const { rows, mechanism } = await logins();
  const header = ['protocol', 'login', 'n', 'median ms', 'p95 ms', 'vs password (median) ms', 'waiting for the token (median) ms'];
  process.stdout.write(`\n${table(header, rows, new Set([2, 3, 4, 5, 6]))}\n\n`);

  const times = await signIns();
  const signInRows = [[
    'Sign in pressed → dialog "Signed in as …"',
    String(times.length),
    fmt(median(times)),
    fmt(percentile(times, 95)),
    fmt(Math.min(...times)),
    fmt(Math.max(...times)),
    times.map((t) => fmt(t)).join(', '),
  ]];
  process.stdout.write(`\n${table(['sign-in from the editor (Chromium, oidc-provider pages)', 'n', 'median ms', 'p95 ms', 'min ms', 'max ms', 'each ms'], signInRows, new Set([1, 2, 3, 4, 5]))}\n\n`);
  process.stdout.write(
    `Logins over implicit TLS to localhost (IMAPS, POP3S, SMTPS), certificate pinned, a fresh connection each; mechanisms: ${mechanism}; ` +
      `Dovecot checks each token by introspection at the provider (HTTPS, loopback). "refresh first": the connection's TokenProvider refreshes ` +
      `(token endpoint, refresh-token rotation) before the login. The sign-in includes the provider's login and consent pages, filled in by the script, ` +
      `and the runtime's code exchange.\nload average (1, 5, 15 min) ${loadAverage()} at the end\n${environmentLine()}\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`oauth-login failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
