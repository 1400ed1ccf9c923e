import { nodes, type Filter } from './filter.js';

/** requests.cpu against allocatable minus the requests of the tasks already on the node. */
export const cpuFilter: Filter = {
  name: 'cpu',
  dynamic: true,
  check: (req, node) => (req.cpu === 0 || node.usedCpu + req.cpu <= node.allocCpu ? undefined : 'cpu'),
  explain: (_key, count) => `insufficient cpu on ${nodes(count)}`,
};

/** requests.memory against allocatable minus the requests of the tasks already on the node. */
export const memoryFilter: Filter = {
  name: 'memory',
  dynamic: true,
  check: (req, node) => (req.memory === 0 || node.usedMemory + req.memory <= node.allocMemory ? undefined : 'memory'),
  explain: (_key, count) => `insufficient memory on ${nodes(count)}`,
};

/** allocatable.pods: the number of tasks a node runs at once. */
export const podsFilter: Filter = {
  name: 'pods',
  dynamic: true,
  check: (_req, node) => (node.taskCount < node.allocPods ? undefined : 'pods'),
  explain: (_key, count) => `too many tasks on ${nodes(count)}`,
};
