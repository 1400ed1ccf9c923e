/** What the route plugins need: the registry, metrics, and optional collaborators. */
import type { EtcdHealth, Store } from '../../store/index.js';
import type { Registry } from '../registry/index.js';
import type { ControllerMetrics } from '../metrics.js';

/** Records node heartbeats (implemented by pkg/controller/heartbeat.ts: one etcd lease per node). */
export interface HeartbeatSink {
  beat(nodeName: string): Promise<void>;
}

export interface LeaderInfo {
  /** This controller's id. */
  id?: string;
  isLeader: boolean;
  /** The current leader's id, when known. */
  leader?: string;
}

export interface RouteDeps {
  store: Store;
  registry: Registry;
  metrics: ControllerMetrics;
  heartbeat?: HeartbeatSink;
  leaderInfo?: () => Promise<LeaderInfo> | LeaderInfo;
  /** A snapshot of the store (etcd's Maintenance.Snapshot); absent: `cluster/backup` answers 501. */
  snapshot?: (signal: AbortSignal) => AsyncIterable<Uint8Array>;
  /** The etcd cluster as the store's health probes see it (cluster info). */
  storeHealth?: () => EtcdHealth;
  version: string;
}
