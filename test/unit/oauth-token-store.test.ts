import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { RefreshTokenStore } from '../../src/lib/oauth/token-store';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-tokens-'));
const TOKEN_URL = 'https://idp.example/token';

describe('refresh token store', () => {
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('round trip, bound to the token URL and client ID, file not readable in clear', async () => {
    const store = new RefreshTokenStore(dir, 'credential-secret');
    await store.save('a1b2.c3', TOKEN_URL, 'client-1', 'refresh-token-value-1');
    assert.equal(store.load('a1b2.c3', TOKEN_URL, 'client-1'), 'refresh-token-value-1');
    assert.equal(store.load('a1b2.c3', TOKEN_URL, 'client-2'), undefined, 'another client');
    assert.equal(store.load('a1b2.c3', 'https://other.example/token', 'client-1'), undefined, 'another provider');
    const file = path.join(dir, 'a1b2.c3.json');
    const content = fs.readFileSync(file, 'utf8');
    assert.ok(!content.includes('refresh-token-value'), 'no token in clear');
    assert.ok(!content.includes('client-1') && !content.includes('idp.example'));
    assert.match((JSON.parse(content) as { $: string }).$, /^[0-9a-f]{32}[A-Za-z0-9+/=]+$/);
    if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    await store.save('a1b2.c3', TOKEN_URL, 'client-1', 'refresh-token-value-2');
    assert.equal(store.load('a1b2.c3', TOKEN_URL, 'client-1'), 'refresh-token-value-2', 'the newest wins');
    assert.deepEqual(fs.readdirSync(dir), ['a1b2.c3.json'], 'no temporary file left');
  });

  it('a wrong secret, a corrupt file or no file gives undefined, never an exception', async () => {
    const store = new RefreshTokenStore(dir, 'right');
    await store.save('n1', TOKEN_URL, 'c', 'rt');
    assert.equal(new RefreshTokenStore(dir, 'wrong').load('n1', TOKEN_URL, 'c'), undefined);
    assert.equal(store.load('missing', TOKEN_URL, 'c'), undefined);
    for (const junk of ['', '{', '{"$":42}', '{"$":"zz"}', `{"$":"${'0'.repeat(32)}AAAA"}`, 'null']) {
      fs.writeFileSync(path.join(dir, 'bad.json'), junk);
      assert.equal(store.load('bad', TOKEN_URL, 'c'), undefined, junk);
    }
  });

  it('decrypts the way Node-RED credentials are sealed (AES-256-CTR, sha256 key, hex IV + base64)', async () => {
    const crypto = await import('node:crypto');
    const store = new RefreshTokenStore(dir, 'node-red-secret');
    await store.save('compat', TOKEN_URL, 'c', 'rt-compat');
    const sealed = (JSON.parse(fs.readFileSync(path.join(dir, 'compat.json'), 'utf8')) as { $: string }).$;
    const key = crypto.createHash('sha256').update('node-red-secret').digest();
    const decipher = crypto.createDecipheriv('aes-256-ctr', key, Buffer.from(sealed.slice(0, 32), 'hex'));
    const record = JSON.parse(decipher.update(sealed.slice(32), 'base64', 'utf8') + decipher.final('utf8')) as Record<string, unknown>;
    assert.equal(record.refreshToken, 'rt-compat');
  });

  it('odd ids become safe file names; remove forgets', async () => {
    const store = new RefreshTokenStore(dir, 's');
    await store.save('../escape', TOKEN_URL, 'c', 'rt');
    assert.ok(!fs.existsSync(path.join(dir, '..', 'escape.json')));
    assert.equal(store.load('../escape', TOKEN_URL, 'c'), 'rt');
    store.remove('../escape');
    assert.equal(store.load('../escape', TOKEN_URL, 'c'), undefined);
    store.remove('never-saved');
  });
});
