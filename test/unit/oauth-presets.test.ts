import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PROVIDER_PRESETS,
  findOAuthProblem,
  isAllowedEndpoint,
  mechanismsFor,
  resolveOAuthSettings,
} from '../../src/lib/oauth/presets';

describe('OAuth2 presets and settings', () => {
  it('Microsoft: tenant in every endpoint, common by default', () => {
    const s = resolveOAuthSettings({ oauthProvider: 'microsoft', oauthGrant: 'device-code', oauthClientId: 'app', protocol: 'imap' }, {});
    assert.equal(s.tenant, 'common');
    assert.equal(s.authorizeUrl, 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize');
    assert.equal(s.tokenUrl, 'https://login.microsoftonline.com/common/oauth2/v2.0/token');
    assert.equal(s.deviceUrl, 'https://login.microsoftonline.com/common/oauth2/v2.0/devicecode');
    assert.equal(s.scope, 'https://outlook.office.com/IMAP.AccessAsUser.All openid profile offline_access');
    const t = resolveOAuthSettings({ oauthProvider: 'microsoft', oauthTenant: ' contoso.onmicrosoft.com ', oauthClientId: 'app' }, {});
    assert.equal(t.tokenUrl, 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token');
    assert.equal(findOAuthProblem(s), null);
  });

  it('Microsoft scopes per use; openid profile (an id_token naming the account) and offline_access with delegated grants; .default for client credentials', () => {
    const scope = (raw: Record<string, unknown>): string => resolveOAuthSettings({ oauthProvider: 'microsoft', ...raw }, {}).scope;
    assert.equal(scope({ protocol: 'pop3' }), 'https://outlook.office.com/POP.AccessAsUser.All openid profile offline_access');
    assert.equal(scope({}), 'https://outlook.office.com/SMTP.Send openid profile offline_access', 'no protocol: the send connection');
    assert.equal(scope({ protocol: 'imap', oauthGrant: 'client-credentials' }), 'https://outlook.office365.com/.default');
    assert.equal(scope({ protocol: 'imap', oauthGrant: 'device-code' }), 'https://outlook.office.com/IMAP.AccessAsUser.All openid profile offline_access');
    for (const use of ['imap', 'pop3', 'smtp'] as const) {
      const words = PROVIDER_PRESETS.microsoft.delegatedScope[use].split(' ');
      for (const word of ['openid', 'profile', 'offline_access']) assert.ok(words.includes(word), `${use}: ${word}`);
      // Scopes of one resource only: every resource scope names outlook.office.com.
      assert.deepEqual(words.filter((w) => w.includes('/')).map((w) => new URL(w).origin), ['https://outlook.office.com']);
    }
  });

  it('Google: discovery-document endpoints, mail scope with openid email (an id_token naming the account), servers, access for both mechanisms', () => {
    const s = resolveOAuthSettings({ oauthProvider: 'google', oauthClientId: 'id.apps', protocol: 'pop3' }, { oauthClientSecret: 'shh' });
    assert.equal(s.authorizeUrl, 'https://accounts.google.com/o/oauth2/v2/auth');
    assert.equal(s.tokenUrl, 'https://oauth2.googleapis.com/token');
    assert.equal(s.deviceUrl, 'https://oauth2.googleapis.com/device/code');
    assert.equal(s.scope, 'https://mail.google.com/ openid email');
    for (const use of ['imap', 'pop3', 'smtp'] as const) assert.equal(PROVIDER_PRESETS.google.delegatedScope[use], 'https://mail.google.com/ openid email');
    assert.equal(PROVIDER_PRESETS.google.appScope, '', 'no app-only access to Gmail through this grant');
    assert.equal(s.clientSecret, 'shh');
    assert.deepEqual(PROVIDER_PRESETS.google.servers.smtp, { host: 'smtp.gmail.com', port: 465, security: 'tls' });
    assert.deepEqual(PROVIDER_PRESETS.microsoft.servers.smtp, { host: 'smtp.office365.com', port: 587, security: 'starttls' });
    assert.deepEqual(PROVIDER_PRESETS.microsoft.servers.pop3, { host: 'outlook.office365.com', port: 995, security: 'tls' });
    assert.deepEqual(mechanismsFor('microsoft'), ['XOAUTH2']);
    assert.ok(mechanismsFor('google').includes('OAUTHBEARER'));
  });

  it('typed endpoints and scope win over a preset; custom uses only what was typed', () => {
    const s = resolveOAuthSettings({ oauthProvider: 'google', oauthTokenUrl: 'https://proxy.example/token', oauthScope: '  a   b ' }, {});
    assert.equal(s.tokenUrl, 'https://proxy.example/token');
    assert.equal(s.authorizeUrl, PROVIDER_PRESETS.google.authorizeUrl);
    assert.equal(s.scope, 'a b');
    const c = resolveOAuthSettings({ oauthProvider: 'custom', oauthClientId: 'x', oauthTokenUrl: 'https://idp.example/t' }, {});
    assert.equal(c.authorizeUrl, '');
    assert.equal(c.scope, '');
    assert.equal(findOAuthProblem(c), 'oauthAuthorizeUrl');
  });

  it('problems are reported by the property to fix', () => {
    const base = resolveOAuthSettings({ oauthProvider: 'custom', oauthClientId: 'x', oauthTokenUrl: 'https://idp.example/t', oauthAuthorizeUrl: 'https://idp.example/a' }, {});
    assert.equal(findOAuthProblem(base), null);
    assert.equal(findOAuthProblem({ ...base, clientId: '' }), 'oauthClientId');
    assert.equal(findOAuthProblem({ ...base, tokenUrl: '' }), 'oauthTokenUrl');
    assert.equal(findOAuthProblem({ ...base, tokenUrl: 'not a url' }), 'oauthTokenUrl');
    assert.equal(findOAuthProblem({ ...base, tokenUrl: 'http://idp.example/t' }), 'oauthTokenUrl', 'plain http off this machine');
    assert.equal(findOAuthProblem({ ...base, tokenUrl: 'http://127.0.0.1:9000/t' }), null);
    assert.equal(findOAuthProblem({ ...base, tokenUrl: 'http://[::1]:9000/t' }), null);
    assert.equal(findOAuthProblem({ ...base, grant: 'client-credentials' }), 'oauthClientSecret');
    assert.equal(findOAuthProblem({ ...base, grant: 'client-credentials', clientSecret: 's', authorizeUrl: '' }), null);
    assert.equal(findOAuthProblem({ ...base, grant: 'device-code' }), 'oauthDeviceUrl');
    assert.equal(findOAuthProblem({ ...base, authorizeUrl: 'ftp://x' }), 'oauthAuthorizeUrl');
    assert.equal(findOAuthProblem({ ...base, provider: 'microsoft', tenant: 'a/b' }), 'oauthTenant');
  });

  it('endpoints: https anywhere, http only on loopback, no user info', () => {
    assert.equal(isAllowedEndpoint('https://login.example/token'), true);
    assert.equal(isAllowedEndpoint('http://localhost:8080/token'), true);
    assert.equal(isAllowedEndpoint('http://127.8.0.1/token'), true);
    assert.equal(isAllowedEndpoint('http://10.0.0.1/token'), false);
    assert.equal(isAllowedEndpoint('https://user:pw@login.example/token'), false);
  });
});
