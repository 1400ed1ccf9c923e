/**
 * A cluster of network-namespace hosts for fault tests (the layout of multinode.test.ts): a
 * real etcd, one or more `shoal-controller`s on the host-side bridge, a registry holding a
 * busybox image, and one `shoal-agent --controller` per host, each in its own netns with its
 * own data and run dirs, cgroup parent and `shoal0` bridge.
 *
 *   const c = await startCluster({ tag: 'restart', nodeTimeoutMs: 5000 });
 *   await c.applyReplicas('web', 6);               // shoalctl apply --wait
 *   await c.killController(0); ...; await c.startController(0);
 *   c.host('h3').host.setLink(false);              // cut a host off the LAN
 *   await c.close();                               // everything, also after a failure
 *
 * `recorder` watches etcd itself (not the API), so node and task changes are seen while no
 * controller runs. Engine calls go over each agent's socket with EngineClient (no shoalctl
 * process per poll), so a poll is cheap enough to time healing to a few hundred ms.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { TERMINAL_TASK_STATES, type Node, type Task } from '../../../pkg/api/index.js';
import { EngineClient } from '../../../pkg/client/index.js';
import { decodeObject, EtcdStore, Informer, resourcePrefix } from '../../../pkg/store/index.js';
import { AGENT_JS, CTL_JS } from './agent.js';
import { CONTROLLER_JS, ensureBuilt } from './build.js';
import { etcdAvailable, startEtcd, startEtcdCluster, type TestEtcd, type TestEtcdCluster } from './etcd.js';
import { run, type RunResult } from './exec.js';
import { createNetnsLan, killIfItIs, netnsToolsAvailable, sweepCgroupParent, unmountUnder, type NetnsHost, type NetnsLan } from './netns.js';
import { freeLoopbackPort } from './ports.js';
import { registryAvailable, startRegistry, type TestRegistry } from './registry.js';
import { startProc, stopProc, tail, type Proc } from './proc.js';
import { TempDirs } from './tmp.js';
import { adminEnv, clusterKeyFile, joinToken, trustCluster } from './tls.js';
import { until } from './wait.js';

/** Why a cluster test cannot run here, or undefined. */
export function clusterSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!etcdAvailable()) return 'etcd is not installed';
  if (!registryAvailable()) return 'docker-registry is not installed';
  if (!existsSync('/bin/busybox')) return 'needs /bin/busybox (busybox-static)';
  if (!netnsToolsAvailable()) return 'needs ip and nsenter';
  return undefined;
}

export const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ClusterHost {
  readonly node: string;
  readonly host: NetnsHost;
  readonly base: string;
  readonly socket: string;
  readonly dataDir: string;
  readonly cgroupParent: string;
  readonly engine: EngineClient;
  proc: Proc | undefined;
}

export interface ClusterController {
  readonly index: number;
  readonly url: string;
  readonly args: string[];
  proc: Proc | undefined;
}

/** A running container of a service on one host. */
export interface HostContainer {
  node: string;
  id: string;
  /** `<namespace>/<task name>` (the `shoal.task` label). */
  task: string;
  slot: string;
  state: string;
}

/** What etcd saw: node states and task changes, with the time each was seen. */
export interface Recorded {
  at: number;
  kind: 'node' | 'task-added' | 'task-state' | 'task-desired' | 'task-deleted';
  name: string;
  detail: string;
}

/** Watches the node and task keys in etcd from when it starts until close(). */
export class ClusterRecorder {
  readonly events: Recorded[] = [];
  private readonly ac = new AbortController();
  private readonly store: EtcdStore;
  private readonly runs: Promise<void>[] = [];

  constructor(endpoints: string[]) {
    this.store = new EtcdStore({ endpoints });
  }

  async start(): Promise<void> {
    const nodes = new Informer<Node>({ store: this.store, prefix: resourcePrefix('nodes'), decode: (kv) => decodeObject<Node>(kv) });
    const tasks = new Informer<Task>({ store: this.store, prefix: resourcePrefix('tasks'), decode: (kv) => decodeObject<Task>(kv) });
    const push = (kind: Recorded['kind'], name: string, detail: string): void => void this.events.push({ at: performance.now(), kind, name, detail });
    nodes.addHandlers({
      onAdd: (c) => push('node', c.object.metadata.name, c.object.status.state),
      onUpdate: (p, c) => {
        if (p.object.status.state !== c.object.status.state) push('node', c.object.metadata.name, c.object.status.state);
      },
    });
    tasks.addHandlers({
      onUpdate: (p, c) => {
        if (p.object.status.state !== c.object.status.state) push('task-state', c.object.metadata.name, c.object.status.state);
        if (p.object.spec.desiredState !== c.object.spec.desiredState) push('task-desired', c.object.metadata.name, c.object.spec.desiredState);
      },
      onDelete: (p) => push('task-deleted', p.object.metadata.name, p.object.status.state),
    });
    this.runs.push(nodes.run(this.ac.signal), tasks.run(this.ac.signal));
    await Promise.all([nodes.waitForSync(this.ac.signal), tasks.waitForSync(this.ac.signal)]);
    // Tasks added from now on (the initial list is not news).
    tasks.addHandlers({ onAdd: (c) => push('task-added', c.object.metadata.name, `${c.object.spec.nodeName ?? '-'} ${c.object.status.state}`) });
  }

  since(t: number): Recorded[] {
    return this.events.filter((e) => e.at >= t);
  }

  async close(): Promise<void> {
    this.ac.abort();
    await Promise.allSettled(this.runs);
    await this.store.close();
  }
}

export interface ClusterOptions {
  /** Part of every name (netns, cgroup parents, logs). */
  tag: string;
  nodeTimeoutMs: number;
  hosts?: number;
  /** Controllers made (default 1); only controller 0 is started unless `startControllers`. */
  controllers?: number;
  /** Start every controller (default: only controller 0; a test starts the others). */
  startControllers?: boolean;
  /** etcd members (default 1); with more, `etcdCluster` has them and every controller lists all. */
  etcdMembers?: number;
  /** Agents get every controller (`--controller URL,URL`) instead of controller 0 only. */
  agentsKnowAllControllers?: boolean;
}

export interface TestCluster {
  readonly hosts: readonly ClusterHost[];
  readonly controllers: readonly ClusterController[];
  /** The etcd of a one-member cluster (a stand-in view over member 0 of a larger one). */
  readonly etcd: TestEtcd;
  /** The members when `etcdMembers` > 1. */
  readonly etcdCluster: TestEtcdCluster | undefined;
  readonly lan: NetnsLan;
  readonly image: string;
  readonly recorder: ClusterRecorder;
  /** The URL agents and shoalctl use (controller 0). */
  readonly server: string;
  host(node: string): ClusterHost;
  startController(i: number): Promise<void>;
  killController(i: number): Promise<void>;
  /** Resolves with the id of the leader once controller `i` says it leads. */
  waitLeader(i: number, ms: number): Promise<void>;
  startAgent(h: ClusterHost): Promise<void>;
  ctl(args: readonly string[]): Promise<RunResult>;
  /** shoalctl against controller `i`. */
  ctlOn(i: number, args: readonly string[]): Promise<RunResult>;
  /** shoalctl against one host's engine (`--host unix://...`). */
  engineCtl(h: ClusterHost, args: readonly string[]): Promise<RunResult>;
  /** `apply --wait` of a busybox service of `replicas` replicas (sleeps, stops in 1 s). */
  applyReplicas(name: string, replicas: number): Promise<void>;
  /** Tasks of a service as the API lists them. */
  tasks(svc: string): Promise<Task[]>;
  nodes(): Promise<Node[]>;
  /** The service's containers on one host (all states). */
  containersOn(h: ClusterHost, svc: string): Promise<HostContainer[]>;
  /** The service's running containers on every reachable host. */
  runningEverywhere(svc: string): Promise<HostContainer[]>;
  /** Running container id -> `node StartedAt pid`, on every host. */
  containerSnapshot(svc: string): Promise<Record<string, string>>;
  /** The cluster's state and log tails, for a failure message. */
  diagnostics(svc: string): Promise<string>;
  close(): Promise<void>;
}

/** Tasks the orchestrator wants running that are not finished. */
export function liveTasks(ts: readonly Task[]): Task[] {
  return ts.filter((t) => t.spec.desiredState === 'running' && !TERMINAL_TASK_STATES.has(t.status.state));
}

/** Runs `fn`; a failure keeps its message and gains the cluster's state and log tails. */
export async function step(c: TestCluster | undefined, svc: string, what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const extra = `\n[step: ${what}]\n${c ? await c.diagnostics(svc) : '(no cluster)'}`;
    if (err instanceof Error) {
      err.message += extra;
      throw err;
    }
    throw new Error(`${String(err)}${extra}`);
  }
}

async function buildImage(base: string, engine: (args: readonly string[]) => Promise<RunResult>, image: string): Promise<void> {
  const root = join(base, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root']) await mkdir(join(root, d), { recursive: true });
  spawnSync('cp', ['/bin/busybox', join(root, 'bin/busybox')]);
  for (const cmd of ['sh', 'sleep', 'hostname', 'cat', 'echo']) spawnSync('ln', ['-s', 'busybox', join(root, 'bin', cmd)]);
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
  const tar = join(base, 'rootfs.tar');
  const t = spawnSync('tar', ['-C', root, '--numeric-owner', '-cf', tar, '.']);
  if (t.status !== 0) throw new Error(`tar: ${t.stderr.toString()}`);
  for (const args of [['import', tar, image], ['push', image]]) {
    const r = await engine(args);
    if (r.code !== 0) throw new Error(`shoalctl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  }
}

export async function startCluster(opts: ClusterOptions): Promise<TestCluster> {
  ensureBuilt();
  const tmp = new TempDirs();
  const tag = `${opts.tag}-${process.pid % 100_000}-${randomBytes(2).toString('hex')}`;
  const base = await tmp.make(`shoal-${opts.tag}-`);
  const env = { HOME: base };
  const started: Proc[] = [];
  const hosts: ClusterHost[] = [];
  const controllers: ClusterController[] = [];
  const lan = createNetnsLan({ tag });
  let etcd: TestEtcd | undefined;
  let etcdCluster: TestEtcdCluster | undefined;
  let reg: TestRegistry | undefined;
  let recorder: ClusterRecorder | undefined;

  const close = async (): Promise<void> => {
    const attempt = async (what: string, fn: () => Promise<unknown> | unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        console.warn(`${opts.tag} cleanup: ${what}: ${String(err)}`);
      }
    };
    await attempt('recorder', () => recorder?.close());
    for (const h of hosts) {
      if (!h.proc?.alive()) continue;
      await attempt(`remove containers on ${h.node}`, async () => {
        for (const c of await h.engine.listContainers(true, AbortSignal.timeout(10_000))) await h.engine.removeContainer(c.Id, true, AbortSignal.timeout(20_000));
      });
    }
    for (const h of hosts) await attempt(`stop agent ${h.node}`, () => stopProc(h.proc, 'SIGKILL'));
    for (const h of hosts) await attempt(`close engine client ${h.node}`, () => h.engine.close());
    for (const c of controllers) await attempt(`stop controller ${c.index}`, () => stopProc(c.proc, 'SIGKILL'));
    await attempt('stop etcd', () => (etcdCluster ? etcdCluster.stop() : etcd?.stop()));
    await attempt('stop the registry', () => reg?.stop());
    for (const h of hosts) {
      await attempt(`sweep cgroups of ${h.node}`, () => sweepCgroupParent(h.cgroupParent));
      await attempt(`monitors of ${h.node}`, async () => {
        const dir = join(h.dataDir, 'containers');
        for (const id of await readdir(dir).catch(() => [] as string[])) {
          const state = JSON.parse(await readFile(join(dir, id, 'state.json'), 'utf8').catch(() => '{}')) as { MonitorPid?: number };
          if (state.MonitorPid) killIfItIs(state.MonitorPid, 'shoal-runtime');
        }
      });
    }
    // SHOAL_E2E_LOGS=DIR keeps the full logs of the run there.
    const keep = process.env['SHOAL_E2E_LOGS'];
    if (keep) {
      await attempt('keep the logs', async () => {
        await mkdir(keep, { recursive: true });
        for (const [i, p] of started.entries()) await writeFile(join(keep, `${tag}-${i}-${p.name}.log`), p.logs());
      });
    }
    await attempt('unmount', () => unmountUnder(base));
    await attempt('remove the netns hosts', () => lan.remove());
    await attempt('remove temp dirs', () => tmp.cleanup());
  };

  try {
    for (let i = 1; i <= (opts.hosts ?? 3); i++) {
      const host = lan.addHost(`h${i}`);
      const dir = join(base, `h${i}`);
      const socket = join(dir, 'run/agent.sock');
      hosts.push({
        node: `h${i}`, host, base: dir, socket, dataDir: join(dir, 'data'), cgroupParent: `shoal-e2e-${tag}-h${i}`,
        engine: new EngineClient(`unix://${socket}`), proc: undefined,
      });
    }
    if ((opts.etcdMembers ?? 1) > 1) {
      etcdCluster = await startEtcdCluster(opts.etcdMembers ?? 3);
      etcd = etcdCluster.members[0];
    } else etcd = await startEtcd();
    const etcdEndpoints = etcdCluster?.endpoints ?? etcd!.endpoints;
    reg = await startRegistry({ bindAddress: lan.hostAddress });
    const keyFile = await clusterKeyFile(base);
    for (let i = 0; i < (opts.controllers ?? 1); i++) {
      const port = await freeLoopbackPort();
      controllers.push({
        index: i, url: `https://${lan.hostAddress}:${port}`, proc: undefined,
        args: [
          CONTROLLER_JS, '--listen', `${lan.hostAddress}:${port}`, '--data-dir', join(base, `controller-${i}`), '--etcd', etcdEndpoints.join(','),
          '--node-timeout', `${opts.nodeTimeoutMs}ms`, '--cluster-key-file', keyFile,
        ],
      });
    }
    let token: string | undefined;
    const server = controllers[0]!.url;
    const regHost = reg.host;
    const ctlOn = (i: number, args: readonly string[]): Promise<RunResult> =>
      run(process.execPath, [CTL_JS, '--server', controllers[i]!.url, ...args], { env: { ...process.env, ...env, ...adminEnv() }, timeoutMs: 90_000 });
    const ctl = (args: readonly string[]): Promise<RunResult> => ctlOn(0, args);
    const agentControllers = opts.agentsKnowAllControllers ? controllers.map((c) => c.url).join(',') : server;
    const engineCtl = (h: ClusterHost, args: readonly string[]): Promise<RunResult> =>
      run(process.execPath, [CTL_JS, '--host', `unix://${h.socket}`, ...args], { env: { ...process.env, ...env }, timeoutMs: 60_000 });
    const api = async <T>(url: string): Promise<T> => {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };

    const startController = async (i: number): Promise<void> => {
      const c = controllers[i]!;
      const p = startProc(`controller-${i}`, process.execPath, c.args, env);
      c.proc = p;
      started.push(p);
      await trustCluster(join(base, `controller-${i}`), () => p.alive());
      await until(`controller ${i} to answer /readyz`, async () => {
        if (!p.alive()) throw new Error(`controller ${i} exited: ${tail(p.logs())}`);
        return (await fetch(`${c.url}/readyz`, { signal: AbortSignal.timeout(2000) })).ok;
      }, 30_000, 100);
    };
    const startAgent = async (h: ClusterHost): Promise<void> => {
      token ??= await joinToken(server);
      const [cmd, args] = h.host.command(process.execPath, [
        AGENT_JS, '--controller', agentControllers, '--join-token', token, '--node-name', h.node, '--advertise-addr', h.host.address, '--insecure-registry', regHost,
        '--data-dir', h.dataDir, '--run-dir', join(h.base, 'run'), '--socket', h.socket, '--credentials', join(h.base, 'credentials.json'),
        '--cgroup-parent', h.cgroupParent, '--bridge', 'shoal0',
      ]);
      const p = startProc(h.node, cmd, args, env);
      h.proc = p;
      started.push(p);
      await until(`agent ${h.node} to serve ${h.socket}`, async () => {
        if (!p.alive()) throw new Error(`agent ${h.node} exited (${String(p.child.exitCode ?? p.child.signalCode)}): ${tail(p.logs())}`);
        return existsSync(h.socket) && (await h.engine.listImages(AbortSignal.timeout(2000)).then(() => true, () => false));
      }, 30_000, 200);
    };
    const host = (node: string): ClusterHost => {
      const h = hosts.find((x) => x.node === node);
      if (!h) throw new Error(`no host ${node}`);
      return h;
    };
    const tasks = async (svc: string): Promise<Task[]> => (await api<{ items: Task[] }>(`${server}/apis/shoal/v1/namespaces/default/tasks`)).items.filter((t) => t.spec.serviceName === svc);
    const nodes = async (): Promise<Node[]> => (await api<{ items: Node[] }>(`${server}/apis/shoal/v1/nodes`)).items;
    const containersOn = async (h: ClusterHost, svc: string): Promise<HostContainer[]> =>
      (await h.engine.listContainers(true, AbortSignal.timeout(5000)))
        .filter((c) => c.Labels['shoal.service'] === svc)
        .map((c) => {
          const task = c.Labels['shoal.task'] ?? '';
          return { node: h.node, id: c.Id, task, slot: /\/[^/]+\.(\d+)\.[^.]+$/.exec(task)?.[1] ?? `?${c.Id}`, state: c.State };
        });
    const runningEverywhere = async (svc: string): Promise<HostContainer[]> => {
      const out: HostContainer[] = [];
      for (const h of hosts) if (h.proc?.alive()) out.push(...(await containersOn(h, svc)).filter((c) => c.state === 'running'));
      return out;
    };
    const containerSnapshot = async (svc: string): Promise<Record<string, string>> => {
      const out: Record<string, string> = {};
      for (const c of await runningEverywhere(svc)) {
        const ins = await host(c.node).engine.inspectContainer(c.id, AbortSignal.timeout(5000));
        out[c.id] = `${c.node} ${c.task} ${ins.State.StartedAt} pid ${ins.State.Pid}`;
      }
      return out;
    };
    const diagnostics = async (svc: string): Promise<string> => {
      const parts: string[] = [];
      try {
        parts.push(`--- tasks of ${svc}\n${(await tasks(svc)).map((t) => `${t.metadata.name} ${t.spec.nodeName ?? '-'} ${t.spec.desiredState}/${t.status.state} ${t.status.containerId?.slice(0, 12) ?? ''} ${t.status.message ?? ''}`).join('\n')}`);
        parts.push(`--- nodes\n${(await nodes()).map((n) => `${n.metadata.name} ${n.status.state} ${n.status.message ?? ''}`).join('\n')}`);
      } catch (err) {
        parts.push(`(API unavailable: ${String(err)})`);
      }
      if (recorder) parts.push(`--- etcd events\n${recorder.events.slice(-60).map((e) => `${Math.round(e.at)} ${e.kind} ${e.name} ${e.detail}`).join('\n')}`);
      for (const c of controllers) if (c.proc) parts.push(`--- controller ${c.index} (last lines)\n${tail(c.proc.logs())}`);
      for (const h of hosts) {
        if (!h.proc) continue;
        const ps = h.proc.alive() ? await containersOn(h, svc).then((cs) => cs.map((c) => `${c.id.slice(0, 12)} ${c.state} ${c.task}`).join('\n'), String) : '(agent not running)';
        parts.push(`--- agent ${h.node}: containers\n${ps}\n--- agent ${h.node} (last lines)\n${tail(h.proc.logs())}`);
      }
      return parts.join('\n');
    };

    const cluster: TestCluster = {
      hosts, controllers, etcd: etcd!, etcdCluster, lan, server, recorder: (recorder = new ClusterRecorder(etcdEndpoints)),
      image: `${regHost}/e2e/busybox:1`,
      host, startController, startAgent, ctl, ctlOn, engineCtl, tasks, nodes, containersOn, runningEverywhere, containerSnapshot, diagnostics, close,
      killController: (i) => stopProc(controllers[i]?.proc, 'SIGKILL'),
      waitLeader: async (i, ms) => {
        await until(`controller ${i} to lead`, async () => {
          const info = await api<{ controller?: { isLeader: boolean } }>(`${controllers[i]!.url}/apis/shoal/v1/cluster/info`);
          return info.controller?.isLeader === true;
        }, ms, 50);
      },
      applyReplicas: async (name, replicas) => {
        const path = join(base, `${name}.yaml`);
        await writeFile(path, [
          'apiVersion: shoal/v1', 'kind: Service', 'metadata:', `  name: ${name}`, 'spec:', `  replicas: ${replicas}`, '  template:', '    spec:',
          '      containers:', '        - name: main', `          image: ${cluster.image}`, '          command: ["sleep", "1000"]',
          '          init: true', '          stopGracePeriodSeconds: 1',
        ].join('\n'));
        const r = await ctl(['apply', '-f', path, '--wait', '--timeout', '60s']);
        if (r.code !== 0) throw new Error(`apply ${name}: ${r.stderr}${r.stdout}`);
      },
    };
    // Only controller 0 starts here (agents and shoalctl talk to it); a test starts the others.
    await cluster.startController(0);
    await cluster.waitLeader(0, 30_000);
    if (opts.startControllers) for (let i = 1; i < controllers.length; i++) await cluster.startController(i);
    for (const h of hosts) await startAgent(h);
    await buildImage(base, (args) => engineCtl(hosts[0]!, args), cluster.image);
    await until('every node ready', async () => {
      const ns = await nodes();
      return hosts.every((h) => ns.find((n) => n.metadata.name === h.node)?.status.state === 'ready');
    }, 30_000, 200);
    await recorder.start();
    return cluster;
  } catch (err) {
    await close();
    throw err;
  }
}
