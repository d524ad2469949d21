/**
 * What one save changed in a scope's progress, so that a store can write the change instead of
 * the whole value: an email emitted adds one UID to a list or one count to a map, and writing the
 * whole progress for it would cost O(mailbox) per email (a POP3 progress holds every UIDL ever
 * emitted). Each part names top-level fields of the progress.
 */
export interface ProgressChange {
  /** Fields given a new value. */
  set?: Record<string, unknown>;
  /** Items added at the end of list fields (the list is created when missing). */
  append?: Record<string, unknown[]>;
  /** Entries of map fields given a new number, or removed (null); the map is created when missing. */
  entries?: Record<string, Record<string, number | null>>;
}

type Fields = Record<string, unknown>;

/** Applies `change` to `value` in place: replaying a store's changes in order rebuilds the value. */
export function applyChange(value: object, change: ProgressChange): void {
  const fields = value as Fields;
  for (const [name, fieldValue] of Object.entries(change.set ?? {})) fields[name] = fieldValue;
  for (const [name, items] of Object.entries(change.append ?? {})) {
    const list = Array.isArray(fields[name]) ? (fields[name] as unknown[]) : [];
    list.push(...items);
    fields[name] = list;
  }
  for (const [name, entries] of Object.entries(change.entries ?? {})) {
    const map = typeof fields[name] === 'object' && fields[name] !== null ? (fields[name] as Record<string, number>) : {};
    for (const [key, count] of Object.entries(entries)) {
      if (count === null) delete map[key];
      else map[key] = count;
    }
    fields[name] = map;
  }
}
