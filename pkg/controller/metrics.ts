/**
 * Controller metrics (prom-client), in a registry of their own so several controllers (and
 * tests) can live in one process. `/metrics` serves this registry followed by prom-client's
 * default registry (where the scheduler's own metrics live).
 *
 * Task and node state gauges are computed at scrape time from callbacks (`setStateSources`)
 * that read the leader's informer caches. Scheduling latency and throughput
 * (`shoal_scheduler_*`) and reconcile durations (`shoal_orchestrator_reconcile_duration_seconds`)
 * are recorded by the loops themselves in the default registry.
 */
import { Gauge, Histogram, Registry, register as defaultRegister } from 'prom-client';

export type StateCounts = () => Iterable<[state: string, count: number]>;

export interface StateSources {
  tasks?: StateCounts;
  nodes?: StateCounts;
}

export class ControllerMetrics {
  readonly registry = new Registry();
  /** HTTP request latency, by method, route pattern and status code. */
  readonly requestDuration: Histogram<'method' | 'route' | 'code'>;
  /** Open watch streams. */
  readonly watches: Gauge;
  readonly tasksByState: Gauge<'state'>;
  readonly nodesByState: Gauge<'state'>;
  private sources: StateSources = {};

  constructor(sources: StateSources = {}) {
    this.sources = sources;
    const registers = [this.registry];
    this.requestDuration = new Histogram({
      name: 'shoal_api_request_duration_seconds',
      help: 'API request latency by method, route and status code',
      labelNames: ['method', 'route', 'code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.watches = new Gauge({ name: 'shoal_api_watches', help: 'Open watch streams', registers });
    const self = (): ControllerMetrics => this;
    const fill = (g: Gauge<'state'>, src: StateCounts | undefined): void => {
      g.reset();
      if (!src) return;
      for (const [state, n] of src()) g.set({ state }, n);
    };
    this.tasksByState = new Gauge({
      name: 'shoal_tasks',
      help: 'Tasks by state',
      labelNames: ['state'],
      registers,
      collect() {
        fill(this, self().sources.tasks);
      },
    });
    this.nodesByState = new Gauge({
      name: 'shoal_nodes',
      help: 'Nodes by state',
      labelNames: ['state'],
      registers,
      collect() {
        fill(this, self().sources.nodes);
      },
    });
  }

  /** Sets (or replaces) the callbacks that count tasks and nodes by state at scrape time. */
  setStateSources(sources: StateSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text: this registry, then the default registry. */
  async text(): Promise<string> {
    const own = await this.registry.metrics();
    const shared = await defaultRegister.metrics();
    return shared.trim() === '' ? own : `${own}\n${shared}`;
  }
}
