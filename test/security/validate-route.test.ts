// Guarantee 12: Validate is not an open door. Against a REAL Node-RED with admin authentication:
// the routes answer POST only, need the connection type's `.write` permission, never send a saved
// password (`__PWRD__`) anywhere but the saved host, port, user, security method and certificate,
// answer every call within 15 s (a silent server included), and give 429 after 10 calls a minute
// from one client.
//
// The listeners that stand where a stolen password would go are fake servers that record every
// byte and let any login succeed; they present the real server's own certificate and key, so a
// client that trusted the pasted certificate would complete TLS and log in to them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { selfSigned } from '../support/certificates';
import { ADMIN, VIEWER } from '../support/node-red-process';
import type { EditorUser, NodeRedProcess } from '../support/node-red-process';
import { certificatePem, serverInfo, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { credentialTraces, sentinel } from './credentials';
import { AdminPool, extraAdmins, startNodeRed } from './node-red';
import { RecordingServer } from './recording-servers';
import type { FakeMode, FakeProtocol } from './recording-servers';

strictProcess();

const PROTOCOLS: FakeProtocol[] = ['imap', 'pop3', 'smtp'];
const route = (protocol: FakeProtocol): string => `/mailwire/validate/${protocol === 'smtp' ? 'send' : 'receive'}`;

describe('Validate is not an open door (guarantee 12)', { timeout: 120000 }, () => {
  const SENTINEL = sentinel();
  const pem = certificatePem();
  const ports = serverInfo().ports as Required<ReturnType<typeof serverInfo>['ports']>;
  const admins = extraAdmins(13);
  const pool = new AdminPool(admins.slice(0, 10));
  const rateUsers = admins.slice(10);
  let red: NodeRedProcess | undefined;
  const servers: RecordingServer[] = [];
  /** StartTLS-capable listeners with the real server's certificate: where deployed set B points. */
  const listener = {} as Record<FakeProtocol, RecordingServer>;
  /** A second listener per protocol: "another port". */
  const otherPort = {} as Record<FakeProtocol, RecordingServer>;
  /** Deployed config nodes: id -> its properties and credentials. */
  const deployed = new Map<string, { props: Record<string, unknown>; user: string }>();

  const start = async (protocol: FakeProtocol, mode: FakeMode): Promise<RecordingServer> => {
    const key = fs.readFileSync(serverInfo().key, 'utf8');
    const s = await RecordingServer.start(protocol, mode, { cert: pem, key });
    servers.push(s);
    return s;
  };

  const tokens = new Map<string, string>();
  const tokenOf = async (user: EditorUser): Promise<string> => {
    assert.ok(red);
    let token = tokens.get(user.username);
    if (!token) {
      token = await red.token(user);
      tokens.set(user.username, token);
    }
    return token;
  };

  /** A POST as `user` (null: no token); the time is measured from the request, not the login. */
  const post = async (pathname: string, body: unknown, user: EditorUser | null = pool.next()): Promise<{ status: number; body: Record<string, unknown>; ms: number }> => {
    assert.ok(red);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (user) headers.authorization = `Bearer ${await tokenOf(user)}`;
    const started = Date.now();
    const res = await fetch(`${red.url}${pathname}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const text = await res.text();
    const ms = Date.now() - started;
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { text };
    }
    return { status: res.status, body: parsed, ms };
  };

  /** The body the editor would post for a deployed connection, with changes. */
  const bodyFor = (id: string, changes: Record<string, unknown> = {}): Record<string, unknown> => {
    const d = deployed.get(id);
    assert.ok(d, id);
    return { ...d.props, id, user: d.user, password: '__PWRD__', ...changes };
  };

  before(async () => {
    for (const protocol of PROTOCOLS) {
      listener[protocol] = await start(protocol, 'plain');
      otherPort[protocol] = await start(protocol, 'plain');
    }
    const receive = (id: string, protocol: string, port: number, security: string) => ({ id, type: 'mailwire-receive-connection', name: '', description: '', protocol, host: 'localhost', port, security, certificate: pem });
    const send = (id: string, port: number, security: string) => ({ id, type: 'mailwire-send-connection', name: '', description: '', host: 'localhost', port, security, certificate: pem });
    const nodes = [
      // Set A: the real servers.
      receive('a-imap', 'imap', ports.imap, 'starttls'),
      receive('a-pop3', 'pop3', ports.pop3s, 'tls'),
      send('a-smtp', ports.submission, 'starttls'),
      // Set B: our listeners, so that any use of the saved password is seen.
      receive('b-imap', 'imap', listener.imap.port, 'starttls'),
      receive('b-pop3', 'pop3', listener.pop3.port, 'starttls'),
      send('b-smtp', listener.smtp.port, 'starttls'),
    ];
    red = await startNodeRed(admins);
    const flows = nodes.map((n) => {
      const user = uniqueUser(`door-${n.id}`);
      const { id, type: _type, ...props } = n;
      deployed.set(id, { props, user });
      return { ...n, credentials: { user, password: SENTINEL } };
    });
    const res = await red.api('POST', '/flows', { flows });
    assert.equal(res.status, 200, await res.text());
  });

  after(async () => {
    await red?.stop();
    await Promise.all(servers.map((s) => s.close()));
    // The package is linked into the user directory: rm removes the link, not the repository.
    if (red) fs.rmSync(red.userDir, { recursive: true, force: true });
  });

  it('GET (and PUT, DELETE) on both Validate routes is refused', async (t) => {
    assert.ok(red);
    for (const kind of ['receive', 'send']) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const withToken = await red.api(method, `/mailwire/validate/${kind}`, undefined, ADMIN);
        assert.ok([404, 405].includes(withToken.status), `${method} ${kind} as admin: ${withToken.status}`);
        const anonymous = await red.api(method, `/mailwire/validate/${kind}`, undefined, null);
        assert.ok([401, 404, 405].includes(anonymous.status), `${method} ${kind} anonymous: ${anonymous.status}`);
        t.diagnostic(`${method} ${kind}: admin ${withToken.status}, anonymous ${anonymous.status}`);
      }
    }
    // A GET with the query string a careless client might build contacts nothing either.
    const query = new URLSearchParams({ id: 'b-imap', host: 'localhost', port: String(listener.imap.port), password: '__PWRD__' });
    const res = await red.api('GET', `/mailwire/validate/receive?${query}`, undefined, ADMIN);
    assert.ok([404, 405].includes(res.status));
    assert.equal(listener.imap.connections, 0);
  });

  it('a read-only user and an anonymous caller are refused before anything is contacted', async (t) => {
    const before = PROTOCOLS.map((p) => listener[p].connections);
    for (const protocol of PROTOCOLS) {
      const id = `b-${protocol}`;
      for (const password of ['__PWRD__', 'typed-by-viewer']) {
        const viewer = await post(route(protocol), bodyFor(id, { password }), VIEWER);
        assert.ok([401, 403].includes(viewer.status), `viewer on ${protocol}: ${viewer.status}`);
        if (protocol === 'imap' && password === '__PWRD__') t.diagnostic(`viewer: ${viewer.status}`);
        const anonymous = await post(route(protocol), bodyFor(id, { password }), null);
        assert.equal(anonymous.status, 401, `anonymous on ${protocol}`);
      }
    }
    assert.deepEqual(PROTOCOLS.map((p) => listener[p].connections), before, 'no listener was contacted');
  });

  it('a saved password goes only to the saved host, port, user, security method and certificate', async () => {
    const otherCert = selfSigned('localhost').cert;
    for (const protocol of PROTOCOLS) {
      const id = `b-${protocol}`;
      const d = deployed.get(id);
      assert.ok(d);
      const variants: Array<[string, Record<string, unknown>]> = [
        ['another user', { user: `${d.user}-other` }],
        ['no user', { user: '' }],
        ['another host (127.0.0.1 for localhost)', { host: '127.0.0.1' }],
        ['another port', { port: otherPort[protocol].port }],
        ['security None', { security: 'none' }],
        ['security SSL/TLS', { security: 'tls' }],
        ['no certificate', { certificate: '' }],
        ['another certificate', { certificate: otherCert }],
        ['no id', { id: undefined }],
        ['an unknown id', { id: 'no-such-node' }],
        ['the id of the other kind of connection', { id: protocol === 'smtp' ? 'b-imap' : 'b-smtp' }],
      ];
      if (protocol !== 'smtp') variants.push(['another protocol', { protocol: protocol === 'imap' ? 'pop3' : 'imap' }]);
      for (const [what, changes] of variants) {
        const seen = { here: listener[protocol].text.length, there: otherPort[protocol].text.length, connections: listener[protocol].connections + otherPort[protocol].connections };
        const reply = await post(route(protocol), bodyFor(id, changes));
        assert.equal(reply.status, 200, `${protocol} ${what}`);
        assert.equal(reply.body.code, 'invalid-config', `${protocol} ${what}: ${JSON.stringify(reply.body)}`);
        assert.deepEqual(reply.body.details, { problem: 'saved-password' }, `${protocol} ${what}`);
        const newText = listener[protocol].text.slice(seen.here) + otherPort[protocol].text.slice(seen.there);
        assert.deepEqual(credentialTraces(newText, d.user, SENTINEL), [], `${protocol} ${what}: ${newText}`);
        assert.equal(listener[protocol].connections + otherPort[protocol].connections, seen.connections, `${protocol} ${what}: nothing was contacted`);
      }
      // The control: unchanged, the saved password is used, and the listener does see it.
      const control = await post(route(protocol), bodyFor(id));
      assert.equal(control.body.code, 'ok', `${protocol} control: ${JSON.stringify(control.body)}`);
      assert.ok(listener[protocol].text.includes(SENTINEL) || credentialTraces(listener[protocol].text, d.user, SENTINEL).some((t) => t.startsWith('secret')), `${protocol}: the control login reached the listener`);
      assert.ok(!JSON.stringify(control.body).includes(SENTINEL), 'the reply does not carry it');
    }
  });

  it('a connection deployed for the real server: its saved password is used there, never at another port', async () => {
    for (const protocol of PROTOCOLS) {
      const id = `a-${protocol}`;
      const d = deployed.get(id);
      assert.ok(d);
      const same = await post(route(protocol), bodyFor(id));
      assert.equal(same.body.code, 'auth', `${protocol}: the saved (wrong) password was tried at the real server: ${JSON.stringify(same.body)}`);
      const before = { text: otherPort[protocol].text.length, connections: otherPort[protocol].connections };
      const moved = await post(route(protocol), bodyFor(id, { host: 'localhost', port: otherPort[protocol].port, security: 'starttls' }));
      assert.deepEqual(moved.body.details, { problem: 'saved-password' }, protocol);
      assert.equal(otherPort[protocol].connections, before.connections, `${protocol}: the other port was not contacted`);
      assert.deepEqual(credentialTraces(otherPort[protocol].text.slice(before.text), d.user, SENTINEL), []);
    }
  });

  it('every call answers within 15 s, silent and never-ending servers included', async (t) => {
    const calls: Array<Promise<{ what: string; ms: number; code: unknown; status: number }>> = [];
    for (const protocol of PROTOCOLS) {
      for (const security of ['none', 'starttls', 'tls'] as const) {
        // A plain server that never says a word; for SSL/TLS also one that completes the handshake and then says nothing.
        const silent = await start(protocol, 'silent');
        const targets: Array<[string, RecordingServer]> = [[`${protocol}/${security} silent`, silent]];
        if (security === 'tls') targets.push([`${protocol}/tls silent after the handshake`, await start(protocol, 'silent-tls')]);
        else targets.push([`${protocol}/${security} greeting that never ends`, await start(protocol, 'trickle')]);
        for (const [what, server] of targets) {
          const body = { protocol: protocol === 'smtp' ? undefined : protocol, host: 'localhost', port: server.port, security, certificate: pem, user: 'u', password: SENTINEL };
          const user = pool.next();
          await tokenOf(user); // logins one at a time; the Validate calls all at once
          calls.push(post(route(protocol), body, user).then((r) => ({ what, ms: r.ms, code: r.body.code, status: r.status })));
        }
      }
    }
    const results = await Promise.all(calls);
    t.diagnostic(results.map((r) => `${r.what}: ${r.code} in ${r.ms} ms`).join('; '));
    for (const r of results) {
      assert.equal(r.status, 200, r.what);
      assert.ok(r.ms < 15000, `${r.what}: answered after ${r.ms} ms (${String(r.code)})`);
      assert.notEqual(r.code, 'ok', r.what);
    }
  });

  it('more than 10 calls a minute from one client get 429, on each route; another client is unaffected', async () => {
    const [onReceive, onSend, bystander] = rateUsers;
    const bodies: Record<string, Record<string, unknown>> = {
      receive: { protocol: 'imap', host: '', port: 143, security: 'none', certificate: '', user: '', password: SENTINEL },
      send: { host: '', port: 25, security: 'none', certificate: '', user: '', password: SENTINEL },
    };
    for (const [kind, user] of [['receive', onReceive], ['send', onSend]] as const) {
      const statuses: number[] = [];
      let last: Record<string, unknown> = {};
      for (let i = 0; i < 12; i += 1) {
        const reply = await post(`/mailwire/validate/${kind}`, bodies[kind], user);
        statuses.push(reply.status);
        last = reply.body;
      }
      assert.deepEqual(statuses, [...Array(10).fill(200), 429, 429], kind);
      assert.equal(last.code, 'invalid-config');
      assert.deepEqual(last.details, { problem: 'rate' });
      assert.ok(!JSON.stringify(last).includes(SENTINEL));
    }
    assert.equal((await post('/mailwire/validate/receive', bodies.receive, bystander)).status, 200, 'another user is another client');
  });
});
