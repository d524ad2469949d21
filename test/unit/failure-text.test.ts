// The failure messages (a Validate reply's `message`, a connection node's errors) come from one
// implementation, resources/mailwire-failure-text.js, which the runtime loads through
// src/nodes/shared/describe-failure.ts and the editor through mailwire-editor.js: both must give
// the same text for every failure code of both connection catalogs, in every language we ship.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { describe, it } from 'node:test';
import { describeFailure, packageRoot } from '../../src/nodes/shared/describe-failure';

// Compiled to .build/test/unit/: the repository is three levels up.
const repoRoot = path.resolve(__dirname, '..', '..', '..');
const LANGS = ['en-US', 'ja'];
const CONNECTION_TYPES = ['mailwire-receive-connection', 'mailwire-send-connection'];

type Catalog = { [key: string]: string | Catalog };

function catalog(lang: string, type: string): Catalog {
  const file = path.join(repoRoot, 'locales', lang, `${type.replace(/^mailwire-/, '')}.json`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Catalog;
}

/** A catalog lookup as Node-RED's `_` does it: __name__ substitution; an unknown key gives the key. */
function translator(messages: Catalog): (key: string, values?: Record<string, string | number>) => string {
  return (key, values = {}) => {
    let entry: string | Catalog | undefined = messages;
    for (const part of key.split('.')) entry = typeof entry === 'object' ? entry[part] : undefined;
    if (typeof entry !== 'string') return key;
    return entry.replace(/__(\w+)__/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
  };
}

function strings(section: string | Catalog | undefined): string[] {
  return typeof section === 'object' ? Object.keys(section).filter((k) => typeof section[k] === 'string') : [];
}

interface EditorApi {
  failureText(node: { _: (key: string, values?: Record<string, string | number>) => string }, type: string, reply: Record<string, unknown>, params: Record<string, string>): string;
}

/** The editor's scripts, run as the browser runs them (window = the global object). */
function loadEditor(): EditorApi {
  const sandbox: Record<string, unknown> = {
    // mailwire-editor.js adds its stylesheet once: say it is there already.
    document: { getElementById: () => ({}), currentScript: null },
    RED: { settings: {} },
  };
  sandbox.window = sandbox;
  sandbox.self = sandbox;
  vm.createContext(sandbox);
  for (const file of ['mailwire-failure-text.js', 'mailwire-editor.js']) {
    const full = path.join(repoRoot, 'resources', file);
    vm.runInContext(fs.readFileSync(full, 'utf8'), sandbox, { filename: full });
  }
  return sandbox.MailwireEditor as EditorApi;
}

/** The details a failure of `code` carries from the runtime (see src/lib/validate.ts diagnose()). */
function detailsFor(type: string, code: string, extra: Record<string, string> = {}): Record<string, string> {
  const details: Record<string, string> = {
    host: 'mail.example.test',
    port: '993',
    protocol: type === 'mailwire-send-connection' ? 'SMTP' : 'IMAP',
    subject: 'CN=mail.example.test',
    fingerprint: 'AB:CD:EF',
    folder: 'Archive',
    folders: 'INBOX, Sent',
  };
  if (code === 'tls-mode') details.found = 'plain';
  if (code === 'invalid-config') details.problem = 'port';
  return { ...details, ...extra };
}

describe('failure messages: one implementation for the runtime and the editor', () => {
  const editor = loadEditor();

  for (const type of CONNECTION_TYPES) {
    for (const lang of LANGS) {
      const messages = catalog(lang, type);
      const translate = translator(messages);
      const own = messages[type] as Catalog;
      const errors = own.errors as Catalog;
      const codes = [...new Set(LANGS.flatMap((l) => strings((catalog(l, type)[type] as Catalog).errors)))];

      it(`${type} (${lang}): the same text for every failure code`, () => {
        assert.ok(codes.length >= 10, `only ${codes.length} codes`);
        for (const code of codes) {
          const details = detailsFor(type, code);
          const runtime = describeFailure({ _: translate }, type, code, details);
          const shown = editor.failureText({ _: translate }, type, { ok: false, code, message: runtime, details }, { host: 'typed.example.test', port: '1' });
          assert.equal(shown, runtime, `${type} ${code} (${lang})`);
          assert.equal(typeof errors[code], 'string', `${lang} has no errors.${code} for ${type}`);
          assert.doesNotMatch(runtime, /__\w+__|^mailwire-/, `${type} ${code} (${lang}): ${runtime}`);
        }
      });

      it(`${type} (${lang}): details that are keys are translated the same way (every problem, every port kind)`, () => {
        const problems = strings((errors.config as Catalog | undefined) ?? {});
        const found = strings(own.found);
        assert.ok(problems.length >= 5 && found.length === 2, `${problems.length} problems, ${found.length} port kinds`);
        const cases: Array<[string, Record<string, string>, string]> = [
          ...problems.map((problem): [string, Record<string, string>, string] => ['invalid-config', { problem }, (errors.config as Catalog)[problem] as string]),
          ...found.map((kind): [string, Record<string, string>, string] => ['tls-mode', { found: kind }, own.found[kind as never] as string]),
        ];
        for (const [code, extra, expected] of cases) {
          const details = detailsFor(type, code, extra);
          const runtime = describeFailure({ _: translate }, type, code, details);
          const shown = editor.failureText({ _: translate }, type, { ok: false, code, details }, {});
          assert.equal(shown, runtime, `${code} ${JSON.stringify(extra)} (${lang})`);
          assert.ok(runtime.includes(expected), `${code} ${JSON.stringify(extra)} (${lang}): "${runtime}" lacks "${expected}"`);
        }
      });
    }
  }

  it('a detail value that is no key is shown as it is; an unknown code gives the key (runtime) or the reply text (editor)', () => {
    const type = 'mailwire-send-connection';
    const translate = translator(catalog('en-US', type));
    assert.match(describeFailure({ _: translate }, type, 'invalid-config', { problem: 'something new' }), /: something new$/);
    assert.equal(describeFailure({ _: translate }, type, 'no-such-code', {}), `${type}.errors.no-such-code`);
    assert.equal(editor.failureText({ _: translate }, type, { code: 'no-such-code', message: 'as the runtime said' }, {}), 'as the runtime said');
  });

  it('finds the package root from the compiled runtime, and refuses a folder outside the package', () => {
    assert.equal(packageRoot(path.join(repoRoot, '.build', 'src', 'nodes', 'shared')), repoRoot);
    assert.equal(packageRoot(path.join(repoRoot, 'dist', 'nodes', 'shared')), repoRoot);
    assert.throws(() => packageRoot(os.tmpdir()), /no package\.json of @mailwire\/node-red-email/);
  });
});
