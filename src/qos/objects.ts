// What a backend owns, as a flat list of keyed objects with string properties, so that one
// diff serves both backends and `qos plan` prints the same shape for a kernel and a router.

export interface QosObject {
  /** Stable identity: the same key in desired and current state is the same object. */
  key: string;
  /** Only the properties we set; read-back values are normalised to the same form. */
  props: Readonly<Record<string, string>>;
}

export interface PropertyChange {
  key: string;
  changes: Array<{ prop: string; from: string | undefined; to: string | undefined }>;
}

export interface QosDiff {
  create: QosObject[];
  change: PropertyChange[];
  remove: QosObject[];
}

export function diffObjects(desired: readonly QosObject[], current: readonly QosObject[]): QosDiff {
  const byKey = new Map(current.map((o) => [o.key, o]));
  const wanted = new Set(desired.map((o) => o.key));
  const diff: QosDiff = { create: [], change: [], remove: [] };
  for (const want of desired) {
    const have = byKey.get(want.key);
    if (!have) {
      diff.create.push(want);
      continue;
    }
    // Only what we set is compared: a router reads back defaults we never wrote.
    const changes = Object.keys(want.props)
      .filter((p) => want.props[p] !== have.props[p])
      .map((p) => ({ prop: p, from: have.props[p], to: want.props[p] }));
    if (changes.length > 0) diff.change.push({ key: want.key, changes });
  }
  for (const have of current) if (!wanted.has(have.key)) diff.remove.push(have);
  return diff;
}

export function isEmptyDiff(diff: QosDiff): boolean {
  return diff.create.length + diff.change.length + diff.remove.length === 0;
}

/** The plan as a person reads it: + created, ~ changed (from → to), - removed. */
export function formatDiff(diff: QosDiff): string[] {
  if (isEmptyDiff(diff)) return ['no change: the policy in force is the configured one'];
  const props = (o: QosObject): string =>
    Object.entries(o.props)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  return [
    ...diff.create.map((o) => `+ ${o.key} ${props(o)}`),
    ...diff.change.map((c) => `~ ${c.key} ${c.changes.map((x) => `${x.prop}: ${x.from ?? '(none)'} → ${x.to ?? '(none)'}`).join(', ')}`),
    ...diff.remove.map((o) => `- ${o.key} ${props(o)}`),
  ];
}
