// Counts the IMAP commands clients sent through a FaultProxy (test/support/fault-proxy.ts keeps
// everything each client sent): one per tagged command line, literals skipped, so the message of
// an APPEND or a literal inside a command is not read as commands. Continuation lines (SASL
// responses) and IDLE's DONE carry no tag and are not commands.
import type { FaultProxy } from '../test/support/fault-proxy';

export interface CommandCount {
  /** Tagged commands over all connections. */
  total: number;
  /** By name (`UID FETCH`, `SELECT`, …), most first. */
  byName: Array<[string, number]>;
  connections: number;
}

/** The tagged commands in what one client sent (latin1 text). */
export function commandsIn(text: string, into: Map<string, number>): number {
  let count = 0;
  let at = 0;
  /** Inside a command that goes on after a literal: its rest is not a new command. */
  let continuing = false;
  while (at < text.length) {
    const end = text.indexOf('\r\n', at);
    const line = text.slice(at, end < 0 ? text.length : end);
    at = end < 0 ? text.length : end + 2;
    if (!continuing) {
      const match = /^([^\s*+]+) ([A-Za-z]+)(?: ([A-Za-z]+))?/.exec(line);
      if (match) {
        const verb = match[2].toUpperCase();
        const name = verb === 'UID' && match[3] ? `UID ${match[3].toUpperCase()}` : verb;
        into.set(name, (into.get(name) ?? 0) + 1);
        count += 1;
      }
    }
    const literal = /\{(\d+)\+?\}$/.exec(line);
    continuing = literal !== null;
    if (literal) at += Number(literal[1]);
  }
  return count;
}

export function countCommands(proxy: FaultProxy): CommandCount {
  const byName = new Map<string, number>();
  let total = 0;
  for (const connection of proxy.connections) total += commandsIn(connection.clientText, byName);
  return { total, byName: [...byName.entries()].sort((a, b) => b[1] - a[1]), connections: proxy.connections.length };
}

export function commandsText(count: CommandCount): string {
  return `${count.total} commands on ${count.connections} connection(s): ${count.byName.map(([name, n]) => `${n} ${name}`).join(', ')}`;
}
