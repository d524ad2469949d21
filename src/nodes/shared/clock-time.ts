/**
 * The time of day for a status line, as HH:MM:SS in the local time zone. Written out by hand:
 * the first toLocaleTimeString() in a process loads the ICU locale data (about 30 ms, on the
 * clock of the first poll or send), and a status line needs no locale's wording, only the time.
 */
export function clockTime(at: number | Date = Date.now()): string {
  const date = at instanceof Date ? at : new Date(at);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}
