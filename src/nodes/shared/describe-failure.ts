import fs from 'node:fs';
import path from 'node:path';
import type { NodeAPI } from 'node-red';

const PACKAGE_NAME = '@mailwire/node-red-email';
/** The one implementation of the failure text, shared with the editor (which loads it from resources/). */
const FAILURE_TEXT_FILE = path.join('resources', 'mailwire-failure-text.js');

export type Translate = (key: string, values?: Record<string, string | number>) => string;
type FailureText = (type: string, code: string, details: Readonly<Record<string, string>>, translate: Translate) => string | null;

/**
 * The folder of this package: the nearest one above `from` whose package.json names it. That is
 * the repository from dist/ and from .build/ (tests), and node_modules/@mailwire/node-red-email
 * once installed.
 */
export function packageRoot(from: string = __dirname): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === PACKAGE_NAME) return dir;
    } catch {
      // no package.json here, or not one we can read: look further up
    }
    if (path.dirname(dir) === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${from}`);
  }
}

function isFailureTextModule(value: unknown): value is { failureText: FailureText } {
  return typeof value === 'object' && value !== null && typeof (value as { failureText?: unknown }).failureText === 'function';
}

let shared: FailureText | undefined;

/** The shared implementation, loaded on first use. */
export function sharedFailureText(): FailureText {
  if (!shared) {
    const file = path.join(packageRoot(), FAILURE_TEXT_FILE);
    const loaded: unknown = require(file);
    if (!isFailureTextModule(loaded)) throw new Error(`${file} does not export failureText()`);
    shared = loaded.failureText;
  }
  return shared;
}

/**
 * The user-facing text for a failure code, from the connection type's own catalog. Details that
 * are themselves keys (a configuration problem, the kind of port found) are translated first; the
 * editor builds the Validate text with the same function. A code the catalog does not know gives
 * its key, as RED._ does.
 */
export function describeFailure(RED: Pick<NodeAPI, '_'>, connectionType: string, code: string, details: Record<string, string>): string {
  const translate: Translate = (key, values) => RED._(key, values);
  return sharedFailureText()(connectionType, code, details, translate) ?? `${connectionType}.errors.${code}`;
}
