/**
 * Agent metrics (prom-client), in a registry of the agent's own (several agents and tests
 * can live in one process).
 *
 * - Counted as they happen, through the hooks of the container manager (`onStarted`) and the
 *   image service (`onPulled`): container starts and their latency, image pull bytes and
 *   durations.
 * - Computed at scrape time from a `ContainerSource` (the ContainerManager fits it): containers
 *   by state, and per running container the CPU seconds, memory bytes and pids read from its
 *   cgroup, with a bounded concurrency and a per-container timeout (a slow cgroup read drops
 *   that container from one scrape rather than stalling it). Series are rebuilt on every scrape,
 *   so removed containers disappear.
 * - The agent's own resource use: prom-client's default metrics (RSS, CPU, event loop lag, ...).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the scrape needs of the container manager. */
export interface ContainerSource {
  list(opts: { all?: boolean }): { Id: string; Names: string[]; State: string }[];
  stats(id: string): Promise<{ cpuUsageNs: number; memoryBytes: number; pids: number }>;
}

export interface AgentMetricsOptions {
  /** Containers whose cgroup stats are read at once (default 16). */
  statsConcurrency?: number;
  /** Per-container stats timeout (default 1000 ms). */
  statsTimeoutMs?: number;
  /** prom-client default metrics (process, event loop); off in unit tests that count series. */
  defaultMetrics?: boolean;
}

interface Sample {
  id: string;
  name: string;
  cpuSeconds: number;
  memoryBytes: number;
  pids: number;
}

export const START_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const PULL_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Resolves with `p`'s value, or undefined when it rejects or takes longer than `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class AgentMetrics {
  readonly registry = new Registry();
  readonly containerStarts: Counter;
  readonly startDuration: Histogram;
  readonly pullBytes: Counter;
  readonly pullDuration: Histogram<'result'>;
  readonly statsFailures: Counter;
  private source: ContainerSource | undefined;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  /** One cgroup read shared by the three per-container gauges of a scrape. */
  private inflight: Promise<Sample[]> | undefined;

  private readonly dataplane: Gauge;
  private readonly dataplaneApply: Histogram;

  constructor(opts: AgentMetricsOptions = {}) {
    this.concurrency = Math.max(1, opts.statsConcurrency ?? 16);
    this.timeoutMs = opts.statsTimeoutMs ?? 1000;
    const registers = [this.registry];
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.containerStarts = new Counter({ name: 'shoal_agent_container_starts_total', help: 'Containers started', registers });
    this.startDuration = new Histogram({
      name: 'shoal_agent_container_start_duration_seconds',
      help: 'Time from a start request until the container process runs',
      buckets: START_BUCKETS,
      registers,
    });
    this.pullBytes = new Counter({ name: 'shoal_agent_image_pull_bytes_total', help: 'Bytes downloaded by image pulls', registers });
    this.pullDuration = new Histogram({
      name: 'shoal_agent_image_pull_duration_seconds',
      help: 'Image pull durations by result (ok, error)',
      labelNames: ['result'],
      buckets: PULL_BUCKETS,
      registers,
    });
    this.dataplane = new Gauge({
      name: 'shoal_agent_dataplane',
      help: 'The cluster dataplane after its last apply: rules, endpoints, peers, applies and failures so far',
      labelNames: ['what'],
      registers,
    });
    this.dataplaneApply = new Histogram({
      name: 'shoal_agent_dataplane_apply_duration_seconds',
      help: 'Time to apply a change of the cluster network (overlay, VIPs, isolation, mesh) on this node',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.statsFailures = new Counter({
      name: 'shoal_agent_container_stats_failures_total',
      help: 'Container cgroup reads that failed or timed out during a scrape',
      registers,
    });

    const self = (): AgentMetrics => this;
    new Gauge({
      name: 'shoal_agent_containers',
      help: 'Containers by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        const src = self().source;
        if (!src) return;
        const counts = new Map<string, number>();
        for (const c of src.list({ all: true })) counts.set(c.State, (counts.get(c.State) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    const perContainer = (name: string, help: string, pick: (s: Sample) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['container', 'name'],
        registers,
        async collect() {
          const samples = await self().samples();
          this.reset();
          for (const s of samples) this.set({ container: s.id, name: s.name }, pick(s));
        },
      });
    };
    perContainer('shoal_agent_container_cpu_seconds', 'CPU time used by the container (cgroup)', (s) => s.cpuSeconds);
    perContainer('shoal_agent_container_memory_bytes', 'Memory used by the container (cgroup)', (s) => s.memoryBytes);
    perContainer('shoal_agent_container_pids', 'Processes in the container (cgroup)', (s) => s.pids);
  }

  /** Where containers are read from at scrape time (set once the manager exists). */
  setContainerSource(source: ContainerSource): void {
    this.source = source;
  }

  /** ContainerManager `onStarted` hook. */
  observeStart = (_id: string, latencySeconds: number): void => {
    this.containerStarts.inc();
    this.startDuration.observe(Math.max(0, latencySeconds));
  };

  /** ImageService `onPulled` hook. */
  /** The cluster dataplane after an apply: rules, endpoints, peers, and how long the apply took. */
  observeDataplane = (st: { rules: number; endpoints: number; peers: number; lastApplyMs: number; applies: number; failures: number }): void => {
    this.dataplane.set({ what: 'rules' }, st.rules);
    this.dataplane.set({ what: 'endpoints' }, st.endpoints);
    this.dataplane.set({ what: 'peers' }, st.peers);
    this.dataplane.set({ what: 'applies' }, st.applies);
    this.dataplane.set({ what: 'failures' }, st.failures);
    this.dataplaneApply.observe(st.lastApplyMs / 1000);
  };

  observePull = (ev: { bytes: number; seconds: number; ok: boolean }): void => {
    if (ev.bytes > 0) this.pullBytes.inc(ev.bytes);
    this.pullDuration.observe({ result: ev.ok ? 'ok' : 'error' }, Math.max(0, ev.seconds));
  };

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text of the agent registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  private samples(): Promise<Sample[]> {
    // The three gauges collect concurrently within one scrape: they share one read.
    this.inflight ??= this.readSamples().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async readSamples(): Promise<Sample[]> {
    const src = this.source;
    if (!src) return [];
    const running = src.list({ all: false });
    const read = await mapLimit(running, this.concurrency, async (c): Promise<Sample | undefined> => {
      const st = await within(src.stats(c.Id), this.timeoutMs);
      if (!st) {
        this.statsFailures.inc();
        return undefined;
      }
      const name = (c.Names[0] ?? '').replace(/^\//, '');
      return { id: c.Id, name, cpuSeconds: st.cpuUsageNs / 1e9, memoryBytes: st.memoryBytes, pids: st.pids };
    });
    return read.filter((s): s is Sample => s !== undefined);
  }
}
