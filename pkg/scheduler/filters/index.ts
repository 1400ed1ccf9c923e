import { availabilityFilter } from './availability.js';
import { constraintsFilter } from './constraints.js';
import type { Filter } from './filter.js';
import { hostPortsFilter } from './host-ports.js';
import { maxReplicasFilter } from './max-replicas.js';
import { nodeReadyFilter } from './node-ready.js';
import { cpuFilter, memoryFilter, podsFilter } from './resources.js';

export type { Filter } from './filter.js';
export { availabilityFilter, constraintsFilter, cpuFilter, hostPortsFilter, maxReplicasFilter, memoryFilter, nodeReadyFilter, podsFilter };

/** The default pipeline, static filters first. */
export const DEFAULT_FILTERS: readonly Filter[] = [
  nodeReadyFilter,
  availabilityFilter,
  constraintsFilter,
  cpuFilter,
  memoryFilter,
  podsFilter,
  hostPortsFilter,
  maxReplicasFilter,
];
