// What Linux's /proc says about a process: CPU time, memory, TCP connections; and the processes of
// the private Dovecot instance. Linux only, as the rest of the benchmark.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Clock ticks per second, the unit of the CPU times in /proc/<pid>/stat. */
export const CLOCK_TICKS: number = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcStat {
  pid: number;
  /** The executable's name (not the process title Dovecot sets). */
  comm: string;
  ppid: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
  /** cutime + cstime: what the children it has waited for used, in clock ticks. */
  childTicks: number;
}

export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The name is in parentheses and may itself hold spaces and parentheses.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
  return {
    pid,
    comm: text.slice(open + 1, close),
    ppid: Number(rest[1]),
    ticks: Number(rest[11]) + Number(rest[12]),
    childTicks: Number(rest[13]) + Number(rest[14]),
  };
}

/**
 * CPU ticks of the process's main thread (the one whose id is the pid: JavaScript runs there) and
 * of its other threads together (V8's compiler and GC helpers, libuv's pool), as now. A thread
 * that ended takes its time with it, so compare two readings only over a time its threads live.
 */
export function threadTicks(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main, others };
  }
  for (const tid of tids) {
    const text = (() => {
      try {
        return fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      } catch {
        return undefined;
      }
    })();
    if (!text) continue;
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    if (Number(tid) === pid) main = ticks;
    else others += ticks;
  }
  return { main, others };
}

/** VmRSS and VmHWM (peak RSS) in KiB. */
export function memory(pid: number): { rssKiB: number; hwmKiB: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

/** Sets VmHWM back to the current RSS (writing 5 to clear_refs, Linux 4.0+); false when not allowed. */
export function resetPeak(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The process's established TCP connections to `remotePort` (its own sockets only). */
export function tcpConnections(pid: number, remotePort: number): number {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  let count = 0;
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const port = parseInt(cols[2].split(':')[1] ?? '', 16);
      // st 01 = ESTABLISHED
      if (port === remotePort && cols[3] === '01' && inodes.has(cols[9])) count += 1;
    }
  }
  return count;
}

/** The direct children of a process (Dovecot's master starts all of its processes itself). */
export function childrenOf(ppid: number): ProcStat[] {
  const out: ProcStat[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.ppid === ppid) out.push(stat);
  }
  return out;
}

/** CPU time of a Dovecot instance at one moment, by process. */
export interface DovecotSnapshot {
  /** The master's own time plus that of the children it has reaped. */
  masterTicks: number;
  /** The children it has reaped alone. */
  reapedTicks: number;
  children: Map<number, ProcStat>;
}

export function dovecotSnapshot(masterPid: number): DovecotSnapshot {
  const master = readStat(masterPid);
  return {
    masterTicks: master ? master.ticks + master.childTicks : 0,
    reapedTicks: master ? master.childTicks : 0,
    children: new Map(childrenOf(masterPid).map((s) => [s.pid, s])),
  };
}

/**
 * CPU ticks used between two snapshots by the processes alive at the end: those named `comm`, or
 * (no comm) all of them and the master. A child that ended meanwhile is left out: the master's
 * cutime would give its whole life, and the ones that end are mostly left over from earlier work
 * (an lmtp or auth process Dovecot stops after a minute without clients).
 */
export function dovecotTicks(before: DovecotSnapshot, after: DovecotSnapshot, comm?: string): { ticks: number; processes: number } {
  let ticks = comm ? 0 : after.masterTicks - after.reapedTicks - (before.masterTicks - before.reapedTicks);
  let processes = 0;
  for (const [pid, stat] of after.children) {
    if (comm && stat.comm !== comm) continue;
    const earlier = before.children.get(pid);
    ticks += stat.ticks - (earlier && earlier.comm === stat.comm ? earlier.ticks : 0);
    processes += 1;
  }
  return { ticks, processes };
}

/** Ticks between two snapshots by process name, most first; "ended" = children reaped meanwhile (their whole life), "master" its own. */
export function dovecotTicksByName(before: DovecotSnapshot, after: DovecotSnapshot): Array<[string, number]> {
  const reaped = after.reapedTicks - before.reapedTicks;
  const byName = new Map<string, number>([['ended (whole life)', reaped], ['master', after.masterTicks - before.masterTicks - reaped]]);
  for (const [pid, stat] of after.children) {
    const earlier = before.children.get(pid);
    byName.set(stat.comm, (byName.get(stat.comm) ?? 0) + stat.ticks - (earlier && earlier.comm === stat.comm ? earlier.ticks : 0));
  }
  return [...byName].filter(([, ticks]) => ticks > 0).sort((a, b) => b[1] - a[1]);
}
