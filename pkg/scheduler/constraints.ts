/**
 * Placement constraints (`node.name==n1`, `node.labels.zone!=b`), parsed once per service
 * and matched against a node's name and labels. A constraint on an unknown attribute never
 * matches (the API validates constraints; the scheduler must not crash on old objects).
 */
export interface Constraint {
  /** The constraint as written, for messages. */
  text: string;
  /** `name`, `label:<key>`, or `unknown`. */
  attr: 'name' | 'label' | 'unknown';
  key: string;
  op: '==' | '!=';
  value: string;
}

export function parseConstraint(text: string): Constraint {
  const m = /^\s*([A-Za-z0-9_./-]+)\s*(==|!=)\s*(.*?)\s*$/.exec(text);
  if (m === null) return { text, attr: 'unknown', key: '', op: '==', value: '' };
  const [, lhs = '', op = '==', value = ''] = m;
  const opv = op === '!=' ? '!=' : '==';
  if (lhs === 'node.name' || lhs === 'node.hostname') return { text, attr: 'name', key: '', op: opv, value };
  if (lhs.startsWith('node.labels.') && lhs.length > 'node.labels.'.length) {
    return { text, attr: 'label', key: lhs.slice('node.labels.'.length), op: opv, value };
  }
  return { text, attr: 'unknown', key: lhs, op: opv, value };
}

export function parseConstraints(list: readonly string[] | undefined): Constraint[] {
  return (list ?? []).map(parseConstraint);
}

/** True when the node satisfies the constraint. A missing label equals nothing (so `!=` holds). */
export function matchConstraint(c: Constraint, nodeName: string, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (c.attr === 'unknown') return false;
  const actual = c.attr === 'name' ? nodeName : labels?.[c.key];
  const eq = actual === c.value;
  return c.op === '==' ? eq : !eq;
}

/** The first constraint the node does not meet, or undefined when it meets all. */
export function firstUnmet(cs: readonly Constraint[], nodeName: string, labels: Readonly<Record<string, string>> | undefined): Constraint | undefined {
  for (const c of cs) if (!matchConstraint(c, nodeName, labels)) return c;
  return undefined;
}
