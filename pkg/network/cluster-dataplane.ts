/** The node's cluster dataplane (issue 12). Placeholder until the implementation lands: refuses. */
import { errors } from '../api/index.js';
import type { ClusterDataplane, ClusterDataplaneOptions } from './cluster-spec.js';

export function createClusterDataplane(_opts: ClusterDataplaneOptions): ClusterDataplane {
  throw errors.unimplemented('the cluster dataplane is not implemented yet');
}
