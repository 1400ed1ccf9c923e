/**
 * Placement constraints (`spec.placement.constraints`), Swarm's syntax: one parser and one
 * matcher, used by API validation, the scheduler and the orchestrator's global services.
 *
 *   node.name==n1            the Node's name
 *   node.id==<uid>           the Node's metadata.uid (a node that registers again gets a new one)
 *   node.hostname==h         the hostname the agent reports (status.addresses, type Hostname)
 *   node.role==worker        every node is a worker (controllers never run tasks), so
 *                            `node.role==manager` matches no node
 *   node.platform.os==linux  status.info.os;  node.platform.arch==amd64  status.info.arch
 *   node.labels.KEY==VALUE   spec.labels; a missing label equals nothing (so `!=` holds)
 *
 * Operators `==` and `!=`; surrounding blanks are ignored.
 */
import type { Node } from './types.js';

export const CONSTRAINT_ATTRIBUTES = ['node.name', 'node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch', 'node.labels.KEY'] as const;

/** The role of every node that runs tasks. */
export const NODE_ROLE = 'worker';

export type ConstraintAttribute = 'name' | 'id' | 'hostname' | 'role' | 'os' | 'arch' | 'label';

export interface Constraint {
  /** The constraint as written, for messages. */
  text: string;
  /** `invalid`: a malformed constraint in a stored spec; no node meets it. */
  attr: ConstraintAttribute | 'invalid';
  /** The label key, for `label`. */
  key: string;
  op: '==' | '!=';
  value: string;
}

/** What a constraint can look at on a node. */
export interface ConstraintTarget {
  name: string;
  id?: string | undefined;
  hostname?: string | undefined;
  role: string;
  os?: string | undefined;
  arch?: string | undefined;
  labels?: Readonly<Record<string, string>> | undefined;
}

const SYNTAX = /^\s*(node\.(?:name|id|hostname|role|platform\.os|platform\.arch)|node\.labels\.([^\s=!]+))\s*(==|!=)\s*(\S(?:.*\S)?)\s*$/;
const ATTR: Record<string, ConstraintAttribute> = {
  'node.name': 'name', 'node.id': 'id', 'node.hostname': 'hostname', 'node.role': 'role', 'node.platform.os': 'os', 'node.platform.arch': 'arch',
};

/** Parses one constraint; undefined when it is malformed or names an attribute nobody can match. */
export function parseConstraint(text: string): Constraint | undefined {
  const m = SYNTAX.exec(text);
  if (m === null) return undefined;
  const [, lhs = '', label, op, value = ''] = m;
  const attr = label !== undefined ? 'label' : ATTR[lhs];
  if (attr === undefined) return undefined;
  return { text, attr, key: label ?? '', op: op === '!=' ? '!=' : '==', value };
}

/**
 * The constraints of a stored spec. The API refuses malformed ones; one that is there anyway
 * (an object older than a rule) is kept as a constraint no node meets, so the scheduler says
 * which constraint is unmet instead of silently ignoring it.
 */
export function parseConstraints(list: readonly string[] | undefined): Constraint[] {
  return (list ?? []).map((text) => parseConstraint(text) ?? { text, attr: 'invalid', key: '', op: '==', value: '' });
}

/** The attributes of a Node that constraints look at. */
export function constraintTargetOf(node: Node): ConstraintTarget {
  return {
    name: node.metadata.name,
    id: node.metadata.uid,
    hostname: node.status?.addresses?.find((a) => a.type === 'Hostname')?.address ?? node.metadata.name,
    role: NODE_ROLE,
    os: node.status?.info?.os,
    arch: node.status?.info?.arch,
    labels: node.spec.labels,
  };
}

/** True when the node satisfies the constraint. */
export function matchConstraint(c: Constraint, node: ConstraintTarget): boolean {
  if (c.attr === 'invalid') return false;
  const actual = c.attr === 'label' ? node.labels?.[c.key] : node[c.attr];
  const eq = actual === c.value;
  return c.op === '==' ? eq : !eq;
}

/** The first constraint the node does not meet, or undefined when it meets all. */
export function firstUnmet(cs: readonly Constraint[], node: ConstraintTarget): Constraint | undefined {
  for (const c of cs) if (!matchConstraint(c, node)) return c;
  return undefined;
}
