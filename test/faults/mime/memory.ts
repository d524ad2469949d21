// Memory measurement for tests that run under plain `node --test` (no --expose-gc flag): the
// flag can still be switched on at run time, and `gc` taken from a fresh context.
import v8 from 'node:v8';
import vm from 'node:vm';
import { sleep } from '../../support/wait';

v8.setFlagsFromString('--expose-gc');
const gcFn = ((globalThis as { gc?: () => void }).gc ?? vm.runInNewContext('gc')) as () => void;

export const MiB = 1024 * 1024;

export interface Sample {
  rss: number;
  heapUsed: number;
}

/** A full garbage collection now. */
export function collectGarbage(): void {
  gcFn();
}

/** Full collection, then a short pause so freed pages can go back and timers settle. */
export async function settle(ms = 300): Promise<Sample> {
  gcFn();
  await sleep(ms);
  gcFn();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
}

/** Samples memory every `everyMs` until stopped; keeps the peaks. */
export class PeakSampler {
  peakRss = 0;
  peakHeapUsed = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(everyMs = 20) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    const m = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, m.rss);
    this.peakHeapUsed = Math.max(this.peakHeapUsed, m.heapUsed);
  }

  stop(): Sample {
    clearInterval(this.timer);
    this.sample();
    return { rss: this.peakRss, heapUsed: this.peakHeapUsed };
  }
}

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** A difference in MiB with its sign: "+3.4 MiB", "-0.4 MiB". */
export const deltaMib = (bytes: number): string => `${bytes < 0 ? '-' : '+'}${mib(Math.abs(bytes))}`;
