/**
 * podCIDR allocation: each node gets a /24 (or `nodePrefix`) out of the cluster CIDR
 * (default 10.244.0.0/16). Pure core `allocatePodCidrs` keeps every valid, unique existing
 * assignment and gives the remaining nodes the lowest free subnets; a subnet is free again
 * once its node object is deleted (allocation is computed from the nodes that exist).
 */
import { formatCidr, parseCidr, ShoalError, type Node } from '../api/index.js';
import { commitInBatches, encodeObject, objectKey, type Informer, type TermStore } from '../store/index.js';

export interface PodCidrPlan {
  /** Node name → the subnet to write. */
  assign: Map<string, string>;
  /** Nodes left without a subnet because the cluster CIDR is exhausted. */
  exhausted: string[];
}

/**
 * Subnet index of a node's podCIDR text, memoized: each step looks at every node, and parsing
 * 5,000 CIDRs per step was most of a join storm's cost.
 */
const INDEX_MEMO = new Map<string, number | undefined>();
const INDEX_MEMO_MAX = 100_000;

export function allocatePodCidrs(clusterCidr: string, nodes: readonly { name: string; podCIDR?: string | undefined }[], nodePrefix = 24): PodCidrPlan {
  const cluster = parseCidr(clusterCidr.trim(), { strict: false });
  if (nodePrefix < cluster.prefix) throw new ShoalError('InvalidArgument', `cluster CIDR ${clusterCidr} is smaller than one node subnet /${nodePrefix}`);
  const size = 2 ** (32 - nodePrefix);
  const count = 2 ** (nodePrefix - cluster.prefix);
  let used = new Set<number>();
  let need: string[] = [];
  let duplicate = false;
  for (const n of nodes) {
    const idx = indexOf(n.podCIDR);
    if (idx !== undefined && !used.has(idx)) used.add(idx);
    else {
      if (idx !== undefined) duplicate = true;
      need.push(n.name);
    }
  }
  // Which of two nodes with the same subnet keeps it is decided by name: sort only then (the
  // common step, one new node among thousands, stays linear).
  if (duplicate) {
    used = new Set<number>();
    need = [];
    for (const n of [...nodes].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const idx = indexOf(n.podCIDR);
      if (idx !== undefined && !used.has(idx)) used.add(idx);
      else need.push(n.name);
    }
  } else need.sort();
  const plan: PodCidrPlan = { assign: new Map(), exhausted: [] };
  let next = 0;
  for (const name of need) {
    while (next < count && used.has(next)) next++;
    if (next >= count) {
      plan.exhausted.push(name);
      continue;
    }
    used.add(next);
    plan.assign.set(name, formatCidr(cluster.network + next * size, nodePrefix));
  }
  return plan;

  function indexOf(text: string | undefined): number | undefined {
    if (text === undefined || text === '') return undefined;
    const key = `${clusterCidr}|${nodePrefix}|${text}`;
    if (INDEX_MEMO.has(key)) return INDEX_MEMO.get(key);
    const idx = parseIndex(text);
    if (INDEX_MEMO.size >= INDEX_MEMO_MAX) INDEX_MEMO.clear();
    INDEX_MEMO.set(key, idx);
    return idx;
  }

  function parseIndex(text: string): number | undefined {
    try {
      const c = parseCidr(text.trim(), { strict: false });
      if (c.prefix !== nodePrefix || c.network < cluster.network || c.network >= cluster.network + count * size) return undefined;
      return (c.network - cluster.network) / size;
    } catch {
      return undefined;
    }
  }
}

/** One loop step: writes the planned podCIDRs (CAS; a conflict is retried on the next node event) through the term's FencedStore. */
export async function podCidrStep(store: TermStore, nodes: Informer<Node>, clusterCidr: string): Promise<{ assigned: number; exhausted: string[] }> {
  const cached = nodes.list();
  const plan = allocatePodCidrs(
    clusterCidr,
    cached.map((c) => ({ name: c.object.metadata.name, podCIDR: c.object.spec.podCIDR })),
  );
  const ops = cached
    .filter((c) => plan.assign.has(c.object.metadata.name))
    .map((c) => ({
      op: 'update' as const,
      key: objectKey('nodes', undefined, c.object.metadata.name),
      value: encodeObject({ ...c.object, spec: { ...c.object.spec, podCIDR: plan.assign.get(c.object.metadata.name) ?? '' } }),
      expectModRevision: c.modRevision,
    }));
  const r = await commitInBatches(store, ops);
  return { assigned: r.committed, exhausted: plan.exhausted };
}
