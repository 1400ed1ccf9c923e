import { nodes, type Filter } from './filter.js';

/** Only `active` nodes take new tasks; `pause` and `drain` do not. */
export const availabilityFilter: Filter = {
  name: 'availability',
  dynamic: false,
  check: (_req, node) => (node.availability === 'active' ? undefined : node.availability),
  explain: (key, count) => `node availability is ${key} on ${nodes(count)}`,
};
