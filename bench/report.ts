// Small helpers the push and idle benchmarks share for their tables and footers.
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Columns padded to their widest cell; the columns in `numeric` right-aligned. */
export function table(header: string[], body: string[][], numeric: Set<number>): string {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((cells) => (cells[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

/** Nearest-rank percentile (p in 0..100) of the values; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

export function environmentLine(): string {
  const cpus = os.cpus();
  let dovecot = 'unknown';
  try {
    dovecot = execFileSync('dovecot', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // Only for the footer.
  }
  return `Node.js ${process.version}, ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), ${os.platform()} ${os.arch()}, Dovecot ${dovecot}, ${new Date().toISOString()}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `--name=value` as a positive number, or the fallback. */
export function numberOption(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = arg ? Number(arg.slice(name.length + 3)) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

/** Exits with 2 on a `--name=…` that is not one of `names`. */
export function checkOptions(names: string[]): void {
  for (const arg of process.argv.slice(2)) {
    if (arg.startsWith('--') && !names.some((name) => arg.startsWith(`--${name}=`))) {
      process.stderr.write(`unknown option ${arg}; options: ${names.map((name) => `--${name}=…`).join(' ')}\n`);
      process.exit(2);
    }
  }
}
