// The hooks every suite under node-red-node-test-helper repeats, registered once: a temporary user
// directory and the helper's runtime before the tests, helper.unload() and closing the suite's
// fault proxies after each test, stopServer() after the last. Hooks run in the order they were
// registered: a suite's own hooks registered after this call run after these, ones registered
// before it run first.
import { after, afterEach, before } from 'node:test';
import { FaultProxy } from './fault-proxy';
import { helper, startServer, stopServer, useTempUserDir } from './flows';

export interface NodeRedSuite {
  /** A fault proxy in front of `targetPort` on 127.0.0.1, closed after the test that made it. */
  (targetPort: number): Promise<FaultProxy>;
  /** The runtime's user directory (once the suite's before hook ran). */
  readonly userDir: string;
}

export function nodeRedSuite(): NodeRedSuite {
  const proxies: FaultProxy[] = [];
  let userDir = '';
  before(async () => {
    userDir = useTempUserDir();
    await startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });
  after(async () => {
    await stopServer();
  });
  const proxy = async (targetPort: number): Promise<FaultProxy> => {
    const p = await FaultProxy.start(targetPort);
    proxies.push(p);
    return p;
  };
  return Object.defineProperty(proxy, 'userDir', { get: () => userDir }) as NodeRedSuite;
}
