import { firstUnmet } from '../../api/index.js';
import { nodes, type Filter } from './filter.js';

/** Placement constraints (pkg/api/constraints.ts); the key is the first unmet constraint. */
export const constraintsFilter: Filter = {
  name: 'constraints',
  dynamic: false,
  check: (req, node) => (req.constraints.length === 0 ? undefined : firstUnmet(req.constraints, node.target)?.text),
  explain: (key, count) => `constraint ${key} not met on ${nodes(count)}`,
};
