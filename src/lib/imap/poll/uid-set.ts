/**
 * A UID set for a command line (RFC 3501 sequence-set), runs written as ranges: 1,000 consecutive
 * UIDs take "1:1000", not 1,000 numbers.
 */
export function uidSet(uids: readonly number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let end = i;
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[end] + 1) end += 1;
    parts.push(end === i ? String(sorted[i]) : `${sorted[i]}:${sorted[end]}`);
    i = end + 1;
  }
  return parts.join(',');
}
