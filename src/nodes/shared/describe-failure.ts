import type { NodeAPI } from 'node-red';

/**
 * The user-facing text for a failure code, from the connection type's own catalog. Details that
 * are themselves keys (a configuration problem, the kind of port found) are translated first.
 */
export function describeFailure(RED: NodeAPI, connectionType: string, code: string, details: Record<string, string>): string {
  const values = { ...details };
  if (code === 'invalid-config' && details.problem) values.problem = RED._(`${connectionType}.errors.config.${details.problem}`);
  if (code === 'tls-mode' && details.found) values.found = RED._(`${connectionType}.found.${details.found}`);
  return RED._(`${connectionType}.errors.${code}`, values);
}
