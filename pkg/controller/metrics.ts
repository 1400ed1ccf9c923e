/**
 * Controller metrics (prom-client), in a registry of their own so several controllers (and
 * tests) can live in one process. `/metrics` serves this registry followed by prom-client's
 * default registry (where the scheduler's own metrics live).
 *
 * Engineer-facing contract: the control loops observe `schedulingLatency`, `placements` and
 * `reconcileDuration`; task and node state gauges are computed at scrape time from callbacks
 * (`setStateSources`) that read the informer caches.
 */
import { Counter, Gauge, Histogram, Registry, register as defaultRegister } from 'prom-client';

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
  /** From a task becoming pending to its commit as assigned. */
  readonly schedulingLatency: Histogram;
  /** Tasks placed and committed (rate() = throughput). */
  readonly placements: Counter;
  /** One reconcile pass, by loop (orchestrator, scheduler, node-monitor). */
  readonly reconcileDuration: Histogram<'loop'>;
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
    this.schedulingLatency = new Histogram({
      name: 'shoal_scheduling_latency_seconds',
      help: 'Time from a task becoming pending to its assignment being committed',
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
      registers,
    });
    this.placements = new Counter({ name: 'shoal_scheduling_placements_total', help: 'Tasks placed and committed', registers });
    this.reconcileDuration = new Histogram({
      name: 'shoal_reconcile_duration_seconds',
      help: 'Duration of one reconcile pass, by loop',
      labelNames: ['loop'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
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
