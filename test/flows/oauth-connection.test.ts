// An OAuth2 connection in a flow (node-red-node-test-helper): every user of the connection gets
// the same token source, the token endpoint sees the client secret and refresh token from the
// credentials, and a refresh token the provider rotates is kept (encrypted) where the next start
// finds it, so a restart without a deploy does not present the spent one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServerSettings } from '../../src/lib/connection-options';
import type { NodeInitializer } from '../support/flows';
import { helper, nodeModule } from '../support/flows';
import { nodeRedSuite } from '../support/node-red-suite';
import { TokenEndpointStub, oauthError, tokens } from '../support/token-endpoint-stub';

type Flow = Parameters<typeof helper.load>[1];
interface ConnectionLike {
  settings(): ServerSettings;
}

describe('an OAuth2 connection in a flow', () => {
  const suite = nodeRedSuite();
  let stub: TokenEndpointStub | undefined;

  before(async () => {
    stub = await TokenEndpointStub.start();
    // Each refresh token works once and is replaced, as with Microsoft (and rotation in general).
    const next: Record<string, [string, string]> = { 'cred-token': ['access-1', 'rotated-1'], 'rotated-1': ['access-2', 'rotated-2'] };
    stub.handler = (request) => {
      const answer = next[request.params.get('refresh_token') ?? ''];
      if (request.params.get('grant_type') !== 'refresh_token' || !answer) return oauthError('invalid_grant');
      delete next[request.params.get('refresh_token') ?? ''];
      return tokens({ access_token: answer[0], refresh_token: answer[1], expires_in: 3600 });
    };
  });
  after(async () => {
    await stub?.close();
  });

  const flow = (): Flow => {
    assert.ok(stub);
    return [
      {
        id: 'rconn', type: 'mailwire-receive-connection', name: 'oauth', protocol: 'imap', host: 'imap.example.test', port: 993, security: 'tls', certificate: '',
        auth: 'oauth2', oauthProvider: 'custom', oauthTenant: '', oauthGrant: 'authorization-code', oauthClientId: 'flow-app',
        oauthAuthorizeUrl: stub.authorizeUrl, oauthTokenUrl: stub.tokenUrl, oauthDeviceUrl: '', oauthScope: 'mail',
      },
    ] as unknown as Flow;
  };
  const credentials = { rconn: { user: 'mailbox@example.test', password: 'old-password', oauthClientSecret: 'flow-secret', oauthRefreshToken: 'cred-token' } };

  it('one token source per connection; a rotated refresh token survives a restart without a deploy', async () => {
    assert.ok(stub);
    await helper.load(nodeModule('receive-connection') as NodeInitializer, flow(), credentials);
    const conn = helper.getNode('rconn') as unknown as ConnectionLike;
    const first = conn.settings();
    assert.ok(first.tokens, 'settings carry a token source');
    assert.equal(conn.settings().tokens, first.tokens, 'the same source for every user of the connection');
    assert.equal(first.password, '', 'no password goes out with OAuth2');
    assert.equal(await first.tokens.accessToken(), 'access-1');
    const refresh = stub.to('/token').at(-1);
    assert.equal(refresh?.params.get('refresh_token'), 'cred-token');
    assert.equal(refresh?.params.get('client_secret'), 'flow-secret');

    const file = path.join(suite.userDir, 'mailwire-state', 'oauth', 'rconn.json');
    assert.ok(fs.existsSync(file), 'the rotated refresh token is stored');
    assert.ok(!fs.readFileSync(file, 'utf8').includes('rotated-1'), 'encrypted');

    // Node-RED starts again with the credentials of the last deploy, which hold the spent token.
    await helper.unload();
    await helper.load(nodeModule('receive-connection') as NodeInitializer, flow(), credentials);
    const again = (helper.getNode('rconn') as unknown as ConnectionLike).settings();
    assert.equal(await again.tokens?.accessToken(), 'access-2');
    assert.equal(stub.to('/token').at(-1)?.params.get('refresh_token'), 'rotated-1', 'the stored token, not the spent one');
  });

  it('a connection without auth keeps logging in with its password', async () => {
    const plain = [{ ...(flow() as unknown as Array<Record<string, unknown>>)[0], auth: undefined }] as unknown as Flow;
    await helper.load(nodeModule('receive-connection') as NodeInitializer, plain, credentials);
    const settings = (helper.getNode('rconn') as unknown as ConnectionLike).settings();
    assert.equal(settings.tokens, undefined);
    assert.equal(settings.password, 'old-password');
  });

  // Last: after a deploy through setFlows the helper keeps that deploy's (empty) credentials.
  it('a deleted connection takes its kept refresh token with it', async () => {
    assert.ok(stub);
    stub.handler = () => tokens({ access_token: 'access-x', refresh_token: 'rotated-x', expires_in: 3600 });
    await helper.load(nodeModule('receive-connection') as NodeInitializer, flow(), credentials);
    await (helper.getNode('rconn') as unknown as ConnectionLike).settings().tokens?.accessToken();
    const file = path.join(suite.userDir, 'mailwire-state', 'oauth', 'rconn.json');
    assert.ok(fs.existsSync(file), 'kept while the connection exists');
    // A deploy without the connection closes it as removed; a restart (unload) would not.
    await helper.setFlows([] as unknown as Flow, 'full');
    assert.ok(!fs.existsSync(file), 'gone with the connection');
  });
});
