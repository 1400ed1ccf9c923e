/**
 * The chaos soak (issue 11): three network-namespace hosts, two controllers, three etcd
 * members, two services; faults from a seeded plan (faults.ts) one at a time: SIGKILL and
 * restart of an agent, a controller, an etcd member; a host's link cut; scale; a rolling
 * update. Every 500 ms a sample of the cluster (what runs on each host, what the API says) goes
 * to the invariant checker (invariants.ts). At the end, after the cluster converged, the hosts
 * are checked for leftovers of the faults (containers of tasks that are gone, cgroups, IPAM
 * leases, veths, overlay mounts, monitor processes that belong to no container), the cluster is
 * torn down, and the machine is checked for anything left of it.
 *
 * Used by test/e2e/chaos.test.ts (a short run in `make test`) and bench/chaos (--minutes).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Task } from '../../../pkg/api/index.js';
import { sleepMs, startCluster, type ClusterHost, type TestCluster } from '../harness/cluster.js';
import { planFaults, type Fault } from './faults.js';
import { InvariantChecker, type ChaosReport, type ContainerSample, type Sample } from './invariants.js';

export interface SoakOptions {
  minutes: number;
  seed: number;
  /** Default 5000 (the controller's default). */
  nodeTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface InjectedFault extends Fault {
  startedAt: number;
  healedAt: number;
  note?: string;
}

export interface SoakResult {
  seed: number;
  minutes: number;
  report: ChaosReport;
  injected: InjectedFault[];
  /** Resources of the faults still on the hosts once the cluster converged. */
  leftovers: string[];
  /** Anything of the cluster left on the machine after its teardown. */
  afterTeardown: string[];
  /** Why the final convergence wait gave up, if it did. */
  finalState?: string;
}

const HEARTBEAT_MS = 1000;
const SAMPLE_MS = 500;
const SERVICES = [
  { name: 'web', replicas: 3 },
  { name: 'api', replicas: 2 },
];

interface Desired {
  name: string;
  replicas: number;
  generation: number;
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? ((m: string) => console.log(`chaos: ${m}`));
  const nodeTimeoutMs = o.nodeTimeoutMs ?? 5000;
  const durationMs = Math.round(o.minutes * 60_000);
  const plan = planFaults({ seed: o.seed, durationMs, hosts: 3, controllers: 2, etcdMembers: 3, services: SERVICES.length });
  const checker = new InvariantChecker({ graceMs: nodeTimeoutMs + 2 * HEARTBEAT_MS });
  const injected: InjectedFault[] = [];
  const desired: Desired[] = SERVICES.map((s) => ({ ...s, generation: 1 }));
  const down = { agents: new Set<number>(), links: new Set<number>() };
  log(`seed ${o.seed}, ${o.minutes} min, ${plan.length} faults planned, node timeout ${nodeTimeoutMs} ms`);

  const c = await startCluster({
    tag: 'chaos', nodeTimeoutMs, hosts: 3, controllers: 2, startControllers: true, etcdMembers: 3, agentsKnowAllControllers: true,
  });
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  const api = new ApiProbe(c, (status, what) => checker.apiAnswer(now(), status, what));
  const result: SoakResult = { seed: o.seed, minutes: o.minutes, report: checker.report(), injected, leftovers: [], afterTeardown: [] };
  const stop = new AbortController();
  let sampler: Promise<void> | undefined;
  try {
    for (const d of desired) await apply(c, api, d);
    await waitConverged(c, api, desired, down, 120_000);
    sampler = (async () => {
      while (!stop.signal.aborted) {
        const s = await sample(c, api, desired, down, now());
        if (s !== undefined) checker.observe(s);
        await sleepMs(SAMPLE_MS);
      }
    })();
    for (const f of plan) {
      while (now() < f.at) await sleepMs(Math.min(500, f.at - now()));
      checker.faultStarted();
      const startedAt = now();
      const note = await inject(c, api, f, desired, down, log);
      checker.faultHealed(now());
      injected.push({ ...f, startedAt, healedAt: now(), ...(note !== undefined ? { note } : {}) });
    }
    while (now() < durationMs) await sleepMs(500);
    log('faults done; waiting for the cluster to converge');
    const final = await waitConverged(c, api, desired, down, 120_000);
    if (final !== undefined) result.finalState = final;
    await sleepMs(2 * SAMPLE_MS);
    stop.abort();
    await sampler;
    result.leftovers = await hostLeftovers(c, api);
  } finally {
    stop.abort();
    await sampler?.catch(() => undefined);
    result.report = checker.report();
    await c.close();
    result.afterTeardown = machineLeftovers(c);
  }
  return result;
}

/** The API through whichever controller answers; every HTTP answer is reported. */
class ApiProbe {
  constructor(
    private readonly c: TestCluster,
    private readonly onAnswer: (status: number, what: string) => void,
  ) {}

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T | undefined> {
    for (const ctl of this.c.controllers) {
      if (!ctl.proc?.alive()) continue;
      let res: Response;
      try {
        res = await fetch(`${ctl.url}${path}`, {
          method,
          headers: body === undefined ? {} : { 'content-type': contentType },
          ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
          signal: AbortSignal.timeout(5000),
        });
      } catch {
        continue; // not an answer: a controller being killed, or a dead connection
      }
      this.onAnswer(res.status, `${method} ${path}`);
      if (res.status === 503) continue;
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    }
    return undefined;
  }

  async tasks(): Promise<Task[] | undefined> {
    return (await this.request<{ items: Task[] }>('GET', '/apis/shoal/v1/namespaces/default/tasks'))?.items;
  }
}

function manifest(c: TestCluster, d: Desired): string {
  return [
    'apiVersion: shoal/v1', 'kind: Service', 'metadata:', `  name: ${d.name}`, 'spec:', `  replicas: ${d.replicas}`,
    '  update:', '    parallelism: 1', '    order: stop-first',
    '  restart:', '    condition: any', '    delay: 1s',
    '  template:', '    spec:', '      containers:', '        - name: main', `          image: ${c.image}`,
    '          command: ["sleep", "100000"]', '          init: true', '          stopGracePeriodSeconds: 1',
    '          env:', '            - name: GENERATION', `              value: "${d.generation}"`, '',
  ].join('\n');
}

async function apply(c: TestCluster, api: ApiProbe, d: Desired): Promise<void> {
  const path = `/apis/shoal/v1/namespaces/default/services/${d.name}`;
  const cur = await api.request<{ metadata: { resourceVersion: string } }>('GET', path).catch(() => undefined);
  if (cur === undefined) await api.request('POST', '/apis/shoal/v1/namespaces/default/services', manifest(c, d), 'application/yaml');
  else await api.request('PUT', path, manifest(c, d).replace('metadata:\n', `metadata:\n  resourceVersion: "${cur.metadata.resourceVersion}"\n`), 'application/yaml');
}

async function inject(c: TestCluster, api: ApiProbe, f: Fault, desired: Desired[], down: { agents: Set<number>; links: Set<number> }, log: (m: string) => void): Promise<string | undefined> {
  const hold = (): Promise<void> => sleepMs(f.holdMs);
  switch (f.kind) {
    case 'kill-agent': {
      const h = c.hosts[f.target] as ClusterHost;
      log(`SIGKILL agent ${h.node} for ${f.holdMs} ms`);
      down.agents.add(f.target);
      h.proc?.child.kill('SIGKILL');
      await h.proc?.exited;
      await hold();
      await c.startAgent(h);
      down.agents.delete(f.target);
      return undefined;
    }
    case 'kill-controller': {
      log(`SIGKILL controller ${f.target} for ${f.holdMs} ms`);
      await c.killController(f.target);
      await hold();
      await c.startController(f.target);
      return undefined;
    }
    case 'kill-etcd': {
      const m = c.etcdCluster?.members[f.target];
      log(`SIGKILL etcd member ${f.target} for ${f.holdMs} ms`);
      await m?.kill();
      await hold();
      await m?.start();
      await c.etcdCluster?.waitHealthy(60_000);
      return undefined;
    }
    case 'cut-link': {
      const h = c.hosts[f.target] as ClusterHost;
      log(`cut ${h.node}'s link for ${f.holdMs} ms`);
      down.links.add(f.target);
      h.host.setLink(false);
      await hold();
      h.host.setLink(true);
      down.links.delete(f.target);
      return undefined;
    }
    case 'scale': {
      const d = desired[f.target] as Desired;
      log(`scale ${d.name} ${d.replicas} -> ${f.replicas ?? d.replicas}`);
      d.replicas = f.replicas ?? d.replicas;
      await api.request('PUT', `/apis/shoal/v1/namespaces/default/services/${d.name}/scale`, { spec: { replicas: d.replicas } });
      return `to ${d.replicas}`;
    }
    case 'update': {
      const d = desired[f.target] as Desired;
      d.generation++;
      log(`rolling update of ${d.name} (template ${d.generation})`);
      await apply(c, api, d);
      return `template ${d.generation}`;
    }
  }
}

const slotOf = (taskRef: string): number => Number(/\.(\d+)\.[^.]+$/.exec(taskRef)?.[1] ?? NaN);

async function sample(c: TestCluster, api: ApiProbe, desired: Desired[], down: { agents: Set<number>; links: Set<number> }, t: number): Promise<Sample | undefined> {
  const running: ContainerSample[] = [];
  for (const [i, h] of c.hosts.entries()) {
    if (down.agents.has(i) || !h.proc?.alive()) continue;
    const list = await h.engine.listContainers(false, AbortSignal.timeout(3000)).catch(() => undefined);
    for (const x of list ?? []) {
      const svc = x.Labels['shoal.service'];
      const task = x.Labels['shoal.task'];
      if (svc === undefined || task === undefined) continue;
      running.push({ host: h.node, id: x.Id, service: svc, slot: slotOf(task) });
    }
  }
  const tasks = await api.tasks().catch(() => undefined);
  if (tasks === undefined) return undefined;
  const nodes = await api.request<{ items: { metadata: { name: string }; status: { state: string } }[] }>('GET', '/apis/shoal/v1/nodes').catch(() => undefined);
  const allReady = nodes !== undefined && c.hosts.every((h) => nodes.items.find((n) => n.metadata.name === h.node)?.status.state === 'ready');
  const apiRunning: Record<string, number> = {};
  for (const x of tasks) {
    if (x.spec.desiredState === 'running' && x.status.state === 'running') apiRunning[x.spec.serviceName] = (apiRunning[x.spec.serviceName] ?? 0) + 1;
  }
  return {
    t,
    allConnected: down.agents.size === 0 && down.links.size === 0 && allReady,
    services: desired.map((d) => ({ name: d.name, replicas: d.replicas })),
    running,
    apiRunning,
  };
}

/** Waits until every service has exactly its replicas; undefined when it did, else the state seen last. */
async function waitConverged(c: TestCluster, api: ApiProbe, desired: Desired[], down: { agents: Set<number>; links: Set<number> }, ms: number): Promise<string | undefined> {
  const end = performance.now() + ms;
  let last = '';
  while (performance.now() < end) {
    const s = await sample(c, api, desired, down, 0);
    if (s !== undefined) {
      const ok = desired.every((d) => {
        const slots = s.running.filter((x) => x.service === d.name).map((x) => x.slot).sort((a, b) => a - b);
        return slots.length === d.replicas && slots.every((slot, i) => slot === i + 1) && s.apiRunning[d.name] === d.replicas;
      });
      if (ok && s.allConnected) return undefined;
      last = `${JSON.stringify(s.running.map((x) => `${x.host}:${x.service}.${x.slot}`))} api ${JSON.stringify(s.apiRunning)} connected ${s.allConnected}`;
    }
    await sleepMs(SAMPLE_MS);
  }
  return last;
}

/** What the faults left on the hosts: resources that belong to no existing container (or no running one). */
async function hostLeftovers(c: TestCluster, api: ApiProbe): Promise<string[]> {
  const out: string[] = [];
  const tasks = new Set(((await api.tasks()) ?? []).map((t) => `${t.metadata.namespace ?? 'default'}/${t.metadata.name}`));
  for (const h of c.hosts) {
    const all = await h.engine.listContainers(true, AbortSignal.timeout(5000)).catch(() => undefined);
    if (all === undefined) {
      out.push(`${h.node}: the engine does not answer`);
      continue;
    }
    const ids = new Set(all.map((x) => x.Id));
    const running = new Set(all.filter((x) => x.State === 'running').map((x) => x.Id));
    for (const x of all) {
      const task = x.Labels['shoal.task'];
      if (task !== undefined && !tasks.has(task)) out.push(`${h.node}: container ${x.Id.slice(0, 12)} of task ${task}, which is gone`);
    }
    for (const id of cgroupsOf(h.cgroupParent)) if (!ids.has(id)) out.push(`${h.node}: cgroup ${h.cgroupParent}/${id} of no container`);
    for (const [net, leases] of ipamLeases(h.dataDir)) {
      for (const id of leases) if (!running.has(id)) out.push(`${h.node}: IPAM lease on ${net} of ${id.slice(0, 12)}, not running`);
    }
    const veths = linksOf(h.host.netns).filter((l) => /^sh[0-9a-f]/.test(l));
    if (veths.length > running.size) out.push(`${h.node}: ${veths.length} container veths for ${running.size} running containers`);
    for (const m of overlayMountsUnder(h.dataDir)) if (!running.has(m)) out.push(`${h.node}: overlay root of ${m.slice(0, 12)} mounted, not running`);
    // The agent's one `shoal-runtime spawner` is not a container's monitor.
    const monitors = processesWith(h.base).filter((p) => p.includes('shoal-runtime') && !/shoal-runtime\S*\s+spawner\s/.test(p));
    if (monitors.length > running.size) out.push(`${h.node}: ${monitors.length} container monitors for ${running.size} running containers`);
  }
  return out;
}

/** What is left of the cluster on the machine once it is torn down. */
function machineLeftovers(c: TestCluster): string[] {
  const out: string[] = [];
  const netns = execText('ip', ['netns', 'list']);
  for (const h of c.hosts) {
    if (netns.includes(h.host.netns)) out.push(`netns ${h.host.netns}`);
    if (linksOf(undefined).includes(h.host.hostLink)) out.push(`link ${h.host.hostLink}`);
    if (cgroupsOf(h.cgroupParent, true).length > 0) out.push(`cgroup parent ${h.cgroupParent}`);
    if (existsSync(h.base)) out.push(`directory ${h.base}`);
    if (processesWith(h.base).length > 0) out.push(`processes of ${h.node}: ${processesWith(h.base).join('; ').slice(0, 200)}`);
    if (readFileSync('/proc/self/mountinfo', 'utf8').includes(h.base)) out.push(`mounts under ${h.base}`);
  }
  return out;
}

function execText(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

function linksOf(netns: string | undefined): string[] {
  const text = netns === undefined ? execText('ip', ['-o', 'link']) : execText('ip', ['-n', netns, '-o', 'link']);
  return text.split('\n').map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1] ?? '').filter(Boolean);
}

/** Container cgroups under a parent (memory hierarchy on v1, the unified one on v2); `parentOnly`: the parent dirs themselves. */
function cgroupsOf(parent: string, parentOnly = false): string[] {
  const roots = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup', '/sys/fs/cgroup/unified'].map((r) => join(r, parent)).filter((d) => existsSync(d));
  if (parentOnly) return roots;
  const ids = new Set<string>();
  for (const r of roots) for (const e of readdirSync(r, { withFileTypes: true })) if (e.isDirectory() && /^[0-9a-f]{64}$/.test(e.name)) ids.add(e.name);
  return [...ids];
}

function ipamLeases(dataDir: string): Map<string, string[]> {
  const dir = join(dataDir, 'network', 'ipam');
  const out = new Map<string, string[]>();
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    if (!f.endsWith('.json')) continue;
    try {
      out.set(f.slice(0, -5), Object.keys((JSON.parse(readFileSync(join(dir, f), 'utf8')) as { leases?: Record<string, string> }).leases ?? {}));
    } catch {
      out.set(f.slice(0, -5), ['<unreadable IPAM file>']);
    }
  }
  return out;
}

function overlayMountsUnder(dataDir: string): string[] {
  const ids: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const m = new RegExp(`${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/containers/([0-9a-f]{64})/`).exec(line);
    if (m?.[1] && / - overlay /.test(line)) ids.push(m[1]);
  }
  return ids;
}

/** Command lines of processes that mention `text`. */
function processesWith(text: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text)) out.push(`${pid} ${cmd.slice(0, 120)}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The soak's figures as text (bench/chaos prints it; docs/benchmarks.md quotes it). */
export function formatSoak(r: SoakResult): string {
  const kinds = new Map<string, number>();
  for (const f of r.injected) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
  const lines = [
    `chaos soak: seed ${r.seed}, ${r.minutes} min`,
    `faults injected: ${r.injected.length} (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})`,
    `samples: ${r.report.samples}`,
    `max convergence after a fault: ${(r.report.maxConvergeMs / 1000).toFixed(1)} s${r.report.unconverged ? ` (${r.report.unconverged} fault(s) not converged by the end)` : ''}`,
    `API answers: ${Object.entries(r.report.apiAnswers).map(([k, n]) => `${k} ${n}`).join(', ')}`,
    `duplicate slots seen: ${r.report.duplicateEpisodes} (longest once every node was connected: ${(r.report.maxDuplicateConnectedMs / 1000).toFixed(1)} s; the limit is node timeout + two heartbeats)`,
    `violations: ${r.report.violations.length}`,
    ...r.report.violations.slice(0, 20).map((v) => `  ${(v.t / 1000).toFixed(1)} s ${v.kind}: ${v.detail}`),
    `leftovers after convergence: ${r.leftovers.length}`,
    ...r.leftovers.slice(0, 20).map((l) => `  ${l}`),
    `left on the machine after teardown: ${r.afterTeardown.length}`,
    ...r.afterTeardown.map((l) => `  ${l}`),
  ];
  if (r.finalState !== undefined) lines.push(`did not converge at the end: ${r.finalState}`);
  return lines.join('\n');
}

/** Writes the result as JSON (bench/chaos --json FILE). */
export async function saveSoak(r: SoakResult, file: string): Promise<void> {
  await writeFile(file, JSON.stringify(r, null, 2));
}
