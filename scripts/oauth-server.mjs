#!/usr/bin/env node
// Private OAuth2 provider (oidc-provider) for the OAuth2 tests: HTTPS on 127.0.0.1, in memory,
// nothing fetched from anywhere. scripts/mail-servers.mjs starts it as a detached process beside
// Dovecot and Postfix; Dovecot introspects the tokens it issues. Usage (done by mail-servers.mjs):
//   node scripts/oauth-server.mjs <stateDir>
// It reads its port and client secrets from <stateDir>/servers.json (`oauth`), which is the only
// place the secrets are written; it never logs a secret or a token.
//
// Clients (ids fixed, secrets random per state directory):
//   dovecot          confidential, client_secret_post; introspection only
//   mailwire-app     confidential, client_secret_post; authorization code (+PKCE), refresh,
//                    client credentials, device code
//   mailwire-short   as mailwire-app, but its access tokens live SHORT_TOKEN_SECONDS (expiry tests)
//   mailwire-public  public (no secret), PKCE; authorization code, refresh, device code
//
// Client credentials and mailboxes: an app token has no user (as with Exchange Online app-only
// access), so the SASL user names the mailbox. Dovecot cannot relate the two by itself: its
// oauth2 passdb only compares one claim with the login name. So every client-credentials token
// is bound to a resource whose audience is APP_SCOPE (a resource indicator defaulted by the
// provider, whatever scope the app asked for; Exchange's ".default" scope works the same way),
// and Dovecot has a second oauth2 passdb that accepts, for any mailbox, a token whose scope or,
// lacking one, audience is APP_SCOPE. Signed-in users can never get that resource, so the app
// holds access to every mailbox, like an Exchange app with full_access_as_app.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const APP_SCOPE = 'mailbox.app';
export const SHORT_TOKEN_SECONDS = 3;
const APP_RESOURCE = 'urn:mailwire:mailboxes';
export const CLIENT_IDS = { app: 'mailwire-app', public: 'mailwire-public', short: 'mailwire-short', dovecot: 'dovecot' };

// Node-RED test instances listen on random loopback ports, with or without an httpAdminRoot.
const CALLBACK = /^http:\/\/(127\.0\.0\.1|localhost):\d{1,5}(\/[^?#]*)?\/mailwire\/oauth\/callback$/;

const USER_GRANTS = ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'];

function clients(secrets) {
  const placeholder = ['http://127.0.0.1/mailwire/oauth/callback'];
  const confidential = (id, secret) => ({
    client_id: id,
    client_secret: secret,
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: [...USER_GRANTS, 'client_credentials'],
    response_types: ['code'],
    redirect_uris: placeholder,
  });
  return [
    {
      client_id: CLIENT_IDS.dovecot,
      client_secret: secrets.dovecot,
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
    confidential(CLIENT_IDS.app, secrets.app),
    confidential(CLIENT_IDS.short, secrets.short),
    {
      client_id: CLIENT_IDS.public,
      token_endpoint_auth_method: 'none',
      grant_types: USER_GRANTS,
      response_types: ['code'],
      redirect_uris: placeholder,
    },
  ];
}

async function serve(stateDir) {
  const info = JSON.parse(fs.readFileSync(path.join(stateDir, 'servers.json'), 'utf8'));
  const oauth = info.oauth;
  const secrets = { dovecot: oauth.clients.dovecot.secret, app: oauth.clients.app.secret, short: oauth.clients.short.secret };
  const { default: Provider, errors } = await import('oidc-provider');
  const clientCredentials = (ctx) => ctx.oidc.route === 'token' && ctx.oidc.params.grant_type === 'client_credentials';

  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const tokenTtl = (_ctx, token) => (token.clientId === CLIENT_IDS.short ? SHORT_TOKEN_SECONDS : 3600);
  const provider = new Provider(oauth.issuer, {
    clients: clients(secrets),
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test', use: 'sig', alg: 'ES256' }] },
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    scopes: ['openid', 'offline_access', 'email', 'mail'],
    claims: { email: ['email'] },
    // Like Google and Microsoft, put the claims of the requested scopes (`openid email`: the email)
    // into the id_token of a code or device grant too, not only into userinfo: the dialog names
    // the signed-in account from it.
    conformIdTokenClaims: false,
    findAccount: async (_ctx, accountId) => ({
      accountId,
      claims: async () => ({ sub: accountId, email: accountId }),
    }),
    features: {
      // Its built-in login page takes any login name: that name is the mailbox user.
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      introspection: {
        enabled: true,
        // Dovecot may look at every token; an app only at its own.
        allowedPolicy: async (ctx, client, token) => client.clientId === CLIENT_IDS.dovecot || client.clientId === token.clientId,
      },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx) => (clientCredentials(ctx) ? APP_RESOURCE : undefined),
        useGrantedResource: async () => false,
        getResourceServerInfo: async (ctx, resource, client) => {
          if (resource !== APP_RESOURCE || !clientCredentials(ctx)) throw new errors.InvalidTarget();
          return {
            scope: APP_SCOPE,
            audience: APP_SCOPE,
            accessTokenFormat: 'opaque',
            accessTokenTTL: client.clientId === CLIENT_IDS.short ? SHORT_TOKEN_SECONDS : 3600,
          };
        },
      },
    },
    pkce: { required: () => true },
    ttl: {
      AccessToken: tokenTtl,
      ClientCredentials: tokenTtl,
      AuthorizationCode: 60,
      DeviceCode: 600,
      Grant: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      RefreshToken: 14 * 24 * 3600,
    },
    // Mail providers hand a refresh token to every signed-in app that may refresh (Microsoft with
    // offline_access, Google with access_type=offline), and it outlives the browser session.
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && (code.kind === 'AuthorizationCode' || code.kind === 'DeviceCode'),
    expiresWithSession: async () => false,
    // A new refresh token on every use; presenting a used one revokes the whole grant.
    rotateRefreshToken: true,
    // Dovecot's oauth2 passdb matches this claim (username_attribute = email) with the login name.
    extraTokenClaims: async (_ctx, token) => (token.accountId ? { email: token.accountId } : undefined),
  });
  provider.proxy = false;

  // The supported way to accept redirect URIs by pattern: replace the client's check.
  const registered = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    if (this.clientId === CLIENT_IDS.dovecot) return false;
    return CALLBACK.test(value) || registered.call(this, value);
  };

  // The log names events and error codes, never a token or a secret.
  for (const event of ['grant.error', 'server_error', 'introspection.error', 'revocation.error']) {
    provider.on(event, (_ctx, err) => log(`${event}: ${err?.name ?? ''} ${err?.message ?? ''}`));
  }

  const server = https.createServer({
    cert: fs.readFileSync(oauth.certificate),
    key: fs.readFileSync(oauth.key),
  }, provider.callback());

  // A test makes the provider unreachable without losing its in-memory tokens: SIGUSR1 closes
  // the listener and every open connection (new ones are refused), SIGUSR2 listens again.
  const listen = () => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(oauth.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  let keepAlive;
  process.on('SIGUSR1', () => {
    if (!server.listening) return;
    // Without a listener nothing else would keep the process (and its tokens) alive.
    keepAlive = setInterval(() => undefined, 60000);
    server.close();
    server.closeAllConnections();
    log('unreachable (SIGUSR1)');
  });
  process.on('SIGUSR2', () => {
    if (server.listening) return;
    listen().then(() => {
      clearInterval(keepAlive);
      log('reachable again (SIGUSR2)');
    }, (err) => log(`cannot listen again: ${err.message}`));
  });
  process.on('SIGTERM', () => process.exit(0));
  await listen();
  log(`listening on ${oauth.port}, issuer ${oauth.issuer}`);
}

function log(line) {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  serve(process.argv[2]).catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exit(1);
  });
}
