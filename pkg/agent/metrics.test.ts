import { describe, expect, it } from 'vitest';
import { AgentMetrics, mapLimit, type ContainerSource } from './metrics.js';

interface FakeContainer {
  Id: string;
  Names: string[];
  State: string;
  stats?: { cpuUsageNs: number; memoryBytes: number; pids: number };
  /** Never answers (a stuck cgroup read). */
  hang?: boolean;
  fail?: boolean;
}

function fakeSource(containers: FakeContainer[]): ContainerSource & { statsCalls: number; maxInFlight: number } {
  let inFlight = 0;
  const src = {
    statsCalls: 0,
    maxInFlight: 0,
    list: ({ all }: { all?: boolean }) => containers.filter((c) => all || c.State === 'running'),
    stats: async (id: string) => {
      src.statsCalls++;
      inFlight++;
      src.maxInFlight = Math.max(src.maxInFlight, inFlight);
      try {
        const c = containers.find((x) => x.Id === id);
        if (!c) throw new Error(`no such container ${id}`);
        if (c.hang) return await new Promise<never>(() => undefined);
        await new Promise((r) => setTimeout(r, 2));
        if (c.fail || !c.stats) throw new Error('cgroup gone');
        return c.stats;
      } finally {
        inFlight--;
      }
    },
  };
  return src;
}

/** The value of one sample line `name{labels} value`, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const want = labels === '' ? `${name} ` : `${name}{${labels}} `;
  const line = text.split('\n').find((l) => l.startsWith(want));
  return line === undefined ? undefined : Number(line.slice(want.length));
}

describe('AgentMetrics', () => {
  it('counts containers by state and reports per-container cgroup stats', async () => {
    const containers: FakeContainer[] = [
      { Id: 'aaa', Names: ['/web-1'], State: 'running', stats: { cpuUsageNs: 2_500_000_000, memoryBytes: 1_048_576, pids: 3 } },
      { Id: 'bbb', Names: ['/web-2'], State: 'running', stats: { cpuUsageNs: 1_000_000_000, memoryBytes: 2048, pids: 1 } },
      { Id: 'ccc', Names: ['/old'], State: 'exited' },
      { Id: 'ddd', Names: ['/new'], State: 'created' },
    ];
    const m = new AgentMetrics({ defaultMetrics: false });
    const src = fakeSource(containers);
    m.setContainerSource(src);
    const text = await m.text();
    expect(sample(text, 'shoal_agent_containers', 'state="running"')).toBe(2);
    expect(sample(text, 'shoal_agent_containers', 'state="exited"')).toBe(1);
    expect(sample(text, 'shoal_agent_containers', 'state="created"')).toBe(1);
    expect(sample(text, 'shoal_agent_container_cpu_seconds', 'container="aaa",name="web-1"')).toBe(2.5);
    expect(sample(text, 'shoal_agent_container_memory_bytes', 'container="aaa",name="web-1"')).toBe(1_048_576);
    expect(sample(text, 'shoal_agent_container_pids', 'container="bbb",name="web-2"')).toBe(1);
    // Not running: no cgroup series.
    expect(text).not.toContain('container="ccc"');
    // The three gauges share one read per container.
    expect(src.statsCalls).toBe(2);
  });

  it('drops the series of removed containers on the next scrape', async () => {
    const containers: FakeContainer[] = [
      { Id: 'aaa', Names: ['/a'], State: 'running', stats: { cpuUsageNs: 1, memoryBytes: 1, pids: 1 } },
      { Id: 'bbb', Names: ['/b'], State: 'running', stats: { cpuUsageNs: 1, memoryBytes: 1, pids: 1 } },
    ];
    const m = new AgentMetrics({ defaultMetrics: false });
    m.setContainerSource(fakeSource(containers));
    expect(await m.text()).toContain('container="bbb"');
    containers.pop();
    const text = await m.text();
    expect(text).toContain('container="aaa"');
    expect(text).not.toContain('container="bbb"');
    expect(sample(text, 'shoal_agent_containers', 'state="running"')).toBe(1);
  });

  it('leaves out containers whose stats fail or hang, and counts them, without stalling the scrape', async () => {
    const containers: FakeContainer[] = [
      { Id: 'ok', Names: ['/ok'], State: 'running', stats: { cpuUsageNs: 0, memoryBytes: 5, pids: 1 } },
      { Id: 'stuck', Names: ['/stuck'], State: 'running', hang: true },
      { Id: 'gone', Names: ['/gone'], State: 'running', fail: true },
    ];
    const m = new AgentMetrics({ defaultMetrics: false, statsTimeoutMs: 50 });
    m.setContainerSource(fakeSource(containers));
    const t0 = Date.now();
    const text = await m.text();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(sample(text, 'shoal_agent_container_memory_bytes', 'container="ok",name="ok"')).toBe(5);
    expect(text).not.toContain('container="stuck"');
    expect(text).not.toContain('container="gone"');
    expect(sample(await m.text(), 'shoal_agent_container_stats_failures_total')).toBeGreaterThanOrEqual(2);
  });

  it('reads 100 containers with bounded concurrency', async () => {
    const containers: FakeContainer[] = Array.from({ length: 100 }, (_, i) => ({
      Id: `c${i}`,
      Names: [`/task-${i}`],
      State: 'running',
      stats: { cpuUsageNs: i * 1e9, memoryBytes: i, pids: 1 },
    }));
    const m = new AgentMetrics({ defaultMetrics: false, statsConcurrency: 8 });
    const src = fakeSource(containers);
    m.setContainerSource(src);
    const text = await m.text();
    expect(src.maxInFlight).toBeLessThanOrEqual(8);
    expect(src.statsCalls).toBe(100);
    expect(sample(text, 'shoal_agent_container_cpu_seconds', 'container="c99",name="task-99"')).toBe(99);
    expect(text.split('\n').filter((l) => l.startsWith('shoal_agent_container_pids{')).length).toBe(100);
  });

  it('records starts and pulls from the runtime hooks', async () => {
    const m = new AgentMetrics({ defaultMetrics: false });
    m.observeStart('aaa', 0.2);
    m.observeStart('bbb', 0.03);
    m.observePull({ bytes: 1000, seconds: 1.5, ok: true });
    m.observePull({ bytes: 24, seconds: 0.2, ok: false });
    const text = await m.text();
    expect(sample(text, 'shoal_agent_container_starts_total')).toBe(2);
    expect(sample(text, 'shoal_agent_container_start_duration_seconds_count')).toBe(2);
    expect(sample(text, 'shoal_agent_container_start_duration_seconds_bucket', 'le="0.05"')).toBe(1);
    expect(sample(text, 'shoal_agent_container_start_duration_seconds_sum')).toBeCloseTo(0.23);
    expect(sample(text, 'shoal_agent_image_pull_bytes_total')).toBe(1024);
    expect(sample(text, 'shoal_agent_image_pull_duration_seconds_count', 'result="ok"')).toBe(1);
    expect(sample(text, 'shoal_agent_image_pull_duration_seconds_count', 'result="error"')).toBe(1);
    // No source yet: no container series, but the scrape works.
    expect(sample(text, 'shoal_agent_containers', 'state="running"')).toBeUndefined();
  });

  it('includes the agent process metrics in its own registry', async () => {
    const m = new AgentMetrics();
    const text = await m.text();
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });
});

describe('mapLimit', () => {
  it('keeps input order and respects the limit', async () => {
    let inFlight = 0;
    let max = 0;
    const out = await mapLimit([5, 1, 3, 2, 4], 2, async (n) => {
      inFlight++;
      max = Math.max(max, inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 30, 20, 40]);
    expect(max).toBe(2);
    expect(await mapLimit([], 4, () => Promise.resolve(1))).toEqual([]);
  });
});
