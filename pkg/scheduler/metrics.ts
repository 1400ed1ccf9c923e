/** Scheduler metrics in prom-client's default registry (served by the API server's /metrics). */
import { Counter, Gauge, Histogram, register, type Metric } from 'prom-client';

function once<T extends Metric>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make();
}

export const schedulerMetrics = {
  placements: once('shoal_scheduler_placements_total', () => new Counter({ name: 'shoal_scheduler_placements_total', help: 'Tasks assigned to a node and committed' })),
  conflicts: once('shoal_scheduler_conflicts_total', () => new Counter({ name: 'shoal_scheduler_conflicts_total', help: 'Assignments dropped because the task changed before commit' })),
  unschedulable: once('shoal_scheduler_unschedulable_tasks', () => new Gauge({ name: 'shoal_scheduler_unschedulable_tasks', help: 'Pending tasks that fit on no node (last pass)' })),
  latency: once(
    'shoal_scheduler_latency_seconds',
    () => new Histogram({ name: 'shoal_scheduler_latency_seconds', help: 'From a task becoming pending to its assignment being committed', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60] }),
  ),
  passSeconds: once(
    'shoal_scheduler_pass_duration_seconds',
    () => new Histogram({ name: 'shoal_scheduler_pass_duration_seconds', help: 'One scheduling pass: place and commit', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30] }),
  ),
};
