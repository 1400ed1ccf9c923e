import { nodes, type Filter } from './filter.js';

/** Host-mode published ports must be free on the node; the key is the conflicting `<proto>/<port>`. */
export const hostPortsFilter: Filter = {
  name: 'host-ports',
  dynamic: true,
  check: (req, node) => {
    for (const p of req.hostPorts) if (node.hostPorts.has(p)) return p;
    return undefined;
  },
  explain: (key, count) => `host port ${key} already in use on ${nodes(count)}`,
};
