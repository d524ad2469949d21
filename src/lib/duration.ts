export type DelayUnit = 'ms' | 's' | 'min' | 'h';

const FACTORS: Record<DelayUnit, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000 };

/** Polling faster than this only loads the server. */
export const MIN_INTERVAL_MS = 100;
export const DEFAULT_INTERVAL_MS = 5000;

export function isDelayUnit(value: unknown): value is DelayUnit {
  return typeof value === 'string' && value in FACTORS;
}

/** The poll interval from the node's Delay and unit; a value that makes no sense gives the default. */
export function toMilliseconds(delay: unknown, unit: unknown): number {
  const amount = Number(delay);
  if (!Number.isFinite(amount) || amount <= 0) return DEFAULT_INTERVAL_MS;
  const factor = FACTORS[isDelayUnit(unit) ? unit : 's'];
  return Math.max(MIN_INTERVAL_MS, Math.round(amount * factor));
}
