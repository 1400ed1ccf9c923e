import { nodes, type Filter } from './filter.js';

/** Only nodes whose state is `ready` take tasks. */
export const nodeReadyFilter: Filter = {
  name: 'node-ready',
  dynamic: false,
  check: (_req, node) => (node.ready ? undefined : 'down'),
  explain: (_key, count) => `node not ready on ${nodes(count)}`,
};
