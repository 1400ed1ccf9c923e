/**
 * What the HA etcd and backup e2e tests share: a real controller process, a real agent on the
 * host (no bridge) joined to it with a busybox image imported into its engine (no registry
 * needed: the agent pulls only what it lacks), a replicated `sleep` service, and the view of
 * that service's containers from the engine (ids and StartedAt) to prove nothing restarted.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineClient } from '../../pkg/client/index.js';
import { AGENT_JS, CONTROLLER_JS, joinToken, sharedClusterKeyFile, startNode, stopProc, trustCluster, until, type Proc } from './harness/index.js';
import { makeBusyboxRootfs } from './helpers-rootfs.js';

/** `shoal-controller` on `port` with `args`; resolves once /readyz answers ok. */
export async function startController(port: number, args: string[]): Promise<Proc> {
  const p = startNode('controller', [CONTROLLER_JS, '--listen', `127.0.0.1:${port}`, '--cluster-key-file', sharedClusterKeyFile(), ...args]);
  const dataDir = args[args.indexOf('--data-dir') + 1];
  if (dataDir === undefined || !args.includes('--data-dir')) throw new Error('startController needs --data-dir');
  await trustCluster(dataDir, () => p.alive()).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${p.logs()}`);
  });
  await until('the controller to be ready', async () => {
    if (!p.alive()) throw new Error(`the controller exited: ${p.logs()}`);
    return (await fetch(`https://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) })).ok;
  }, 30_000, 200).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${p.logs()}`);
  });
  return p;
}

export interface ServiceContainer {
  id: string;
  task: string;
  startedAt: string;
}

/** A `shoal-agent --controller` on the host (no bridge), with its own dirs under `base`. */
export class HostAgent {
  proc: Proc | undefined;
  readonly socket: string;
  private readonly engine: EngineClient;

  constructor(
    private readonly base: string,
    private readonly node: string,
    private readonly server: string,
    readonly cgroupParent: string,
  ) {
    this.socket = join(base, 'run/agent.sock');
    this.engine = new EngineClient(`unix://${this.socket}`);
  }

  async start(): Promise<void> {
    const token = existsSync(join(this.base, 'data', 'pki', 'node.crt')) ? [] : ['--join-token', await joinToken(this.server)];
    this.proc = startNode('agent', [
      AGENT_JS, ...token, '--bridge', 'none', '--socket', this.socket, '--data-dir', join(this.base, 'data'), '--run-dir', join(this.base, 'run'),
      '--credentials', join(this.base, 'credentials.json'), '--cgroup-parent', this.cgroupParent, '--controller', this.server,
      '--node-name', this.node, '--advertise-addr', '127.0.0.1',
    ]);
    await until('the agent socket', async () => {
      if (this.proc?.child.exitCode !== null) throw new Error(`the agent exited: ${this.proc?.logs() ?? ''}`);
      return existsSync(this.socket) && (await this.engine.version()) !== undefined;
    }, 30_000);
  }

  /** Imports a busybox image as `ref` into the agent's engine. */
  async importBusybox(ref: string): Promise<void> {
    const root = makeBusyboxRootfs(join(this.base, 'rootfs'));
    const tar = join(this.base, 'rootfs.tar');
    const r = spawnSync('tar', ['-C', root, '-cf', tar, '.']);
    if (r.status !== 0) throw new Error(`tar: ${r.stderr.toString()}`);
    await this.engine.importImage(ref, createReadStream(tar));
  }

  /** The running containers of `service`, with their StartedAt, sorted by task. */
  async containers(service: string): Promise<ServiceContainer[]> {
    const all = await this.engine.listContainers(true);
    const mine = all.filter((c) => c.Labels['shoal.service'] === service && c.State === 'running');
    const out: ServiceContainer[] = [];
    for (const c of mine) {
      const i = await this.engine.inspectContainer(c.Id);
      out.push({ id: c.Id, task: c.Labels['shoal.task'] ?? '', startedAt: i.State.StartedAt });
    }
    return out.sort((a, b) => a.task.localeCompare(b.task));
  }

  /** Every container (any state): removed through the engine at the end of a test. */
  async removeAll(): Promise<void> {
    try {
      for (const c of await this.engine.listContainers(true)) await this.engine.removeContainer(c.Id, true).catch(() => undefined);
    } catch {
      // the agent is gone: nothing to remove through it
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stopProc(this.proc, signal);
    await this.engine.close();
  }

  async removeCgroups(): Promise<void> {
    for (const ctrl of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
      await rmdir(join('/sys/fs/cgroup', ctrl, this.cgroupParent)).catch(() => undefined);
    }
  }
}

interface TaskJson {
  metadata: { name: string; resourceVersion?: string };
  spec: { desiredState: string; serviceName?: string };
  status: { state: string; containerId?: string };
}

/** A small client of the controller API for the tests (fetch, JSON). */
export class Api {
  constructor(readonly server: string) {}

  async req(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<Response> {
    return fetch(`${this.server}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.req(method, path, body);
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** Every task of `service` (any state). */
  async tasks(service: string): Promise<TaskJson[]> {
    const l = await this.json<{ items: TaskJson[] }>('GET', `/apis/shoal/v1/namespaces/default/tasks?fieldSelector=${encodeURIComponent(`spec.serviceName=${service}`)}`);
    return l.items;
  }

  /** The `n` running tasks of `service`, once exactly `n` are desired running and running. */
  async runningTasks(service: string, n: number): Promise<TaskJson[] | undefined> {
    const live = (await this.tasks(service)).filter((t) => t.spec.desiredState === 'running');
    const ok = live.filter((t) => t.status.state === 'running' && t.status.containerId);
    return live.length === n && ok.length === n ? ok.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)) : undefined;
  }
}

/** A replicated `sleep` service of `replicas` on `image`. */
export function sleepService(name: string, image: string, replicas: number): object {
  return {
    apiVersion: 'shoal/v1',
    kind: 'Service',
    metadata: { name },
    spec: {
      replicas,
      template: { spec: { containers: [{ name: 'main', image, command: ['sleep', '100000'], init: true, stopGracePeriodSeconds: 2 }] } },
    },
  };
}
