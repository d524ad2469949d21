import { pathToFileURL } from 'node:url';
import { MailError } from '../mail-error';

export type OpenIdClient = typeof import('openid-client');

/*
 * openid-client v6 is published as an ES module only. Under `module: commonjs` TypeScript rewrites
 * `import()` into `require()`, which cannot load an ES module on every Node.js we support (20.11
 * onwards; require(esm) arrived unflagged in 20.19). A function built at run time is not seen by
 * the compiler, so its `import()` stays a real one. The module is resolved here, from our own
 * location, and imported by absolute URL, so the importer's working directory does not matter.
 */
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

let loading: Promise<OpenIdClient> | undefined;

/** The library, loaded once per process on first use. */
export function loadOpenIdClient(): Promise<OpenIdClient> {
  loading ??= (async () => {
    try {
      return (await importModule(pathToFileURL(require.resolve('openid-client')).href)) as OpenIdClient;
    } catch (err) {
      loading = undefined;
      throw new MailError('protocol', 'the OAuth2 client library could not be loaded', {}, { cause: err });
    }
  })();
  return loading;
}
