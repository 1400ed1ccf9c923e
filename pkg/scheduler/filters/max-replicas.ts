import { nodes, type Filter } from './filter.js';

/** `placement.maxReplicasPerNode`: at most that many tasks of the service on one node. */
export const maxReplicasFilter: Filter = {
  name: 'max-replicas',
  dynamic: true,
  check: (req, node) =>
    req.maxReplicasPerNode > 0 && (node.perService.get(req.serviceKey) ?? 0) >= req.maxReplicasPerNode ? String(req.maxReplicasPerNode) : undefined,
  explain: (key, count) => `max replicas per node (${key}) reached on ${nodes(count)}`,
};
