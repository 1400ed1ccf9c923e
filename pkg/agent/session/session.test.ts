import { afterEach, describe, expect, it, vi } from 'vitest';
import { API_VERSION, CONTAINER_TASK_LABEL, errors, type ApiObject, type List, type Node, type Task, type WatchEvent } from '../../api/index.js';
import type { CreateOptions } from '../../runtime/index.js';
import type { ControllerApi } from './controller-api.js';
import { startSession, type AgentSession, type SessionOptions } from './session.js';
import type { TaskContainer, TaskRuntime } from './task-runtime.js';

/** An in-memory controller: CAS on resourceVersion, canTransition enforced like the API. */
class FakeController implements ControllerApi {
  rev = 1;
  up = true;
  node: Node | undefined;
  beats = 0;
  readonly tasks = new Map<string, Task>();
  private check(): void {
    if (!this.up) throw errors.unavailable('controller down');
  }
  addTask(name: string, state: Task['status']['state'] = 'assigned'): void {
    this.tasks.set(name, {
      apiVersion: API_VERSION, kind: 'Task', metadata: { name, namespace: 'default', resourceVersion: String(++this.rev) },
      spec: { serviceName: 'web', serviceGeneration: 1, nodeName: 'n1', desiredState: 'running', template: { spec: { containers: [{ name: 'm', image: 'img' }] } } },
      status: { state },
    });
  }
  getNode = async (): Promise<Node | undefined> => (this.check(), this.node);
  createNode = async (n: Node): Promise<Node> => (this.check(), (this.node = { ...n, metadata: { ...n.metadata, resourceVersion: String(++this.rev) } }));
  replaceNode = async (n: Node): Promise<Node> => this.createNode(n);
  replaceNodeStatus = async (n: Node): Promise<Node> => this.createNode(n);
  heartbeat = async (): Promise<void> => {
    this.check();
    this.beats++;
  };
  listTasks = async (): Promise<List<Task>> => (this.check(), { apiVersion: API_VERSION, kind: 'TaskList', metadata: { resourceVersion: String(this.rev) }, items: [...this.tasks.values()] });
  /** Events a test pushes; otherwise the session's resync loop picks changes up. */
  readonly events: WatchEvent<Task>[] = [];
  /** Called before a status write answers (to interleave watch events with it). */
  beforeStatusAnswer: ((t: Task) => Promise<void>) | undefined;
  private watches = 0;
  /** Watches numbered up to this one are on connections a partition killed silently. */
  private deadUpTo = 0;
  /** Cuts the link: the controller is unreachable and the watches open now hang without ending. */
  partition(): void {
    this.up = false;
    this.deadUpTo = this.watches;
  }
  async *watchTasks(_s: string, _rv: string, signal: AbortSignal): AsyncIterable<WatchEvent<Task>> {
    this.check();
    const id = ++this.watches;
    // End when aborted or the controller "dies"; a dead one neither delivers nor ends.
    while (!signal.aborted && (this.up || id <= this.deadUpTo)) {
      const ev = id <= this.deadUpTo ? undefined : this.events.shift();
      if (ev !== undefined) yield ev;
      else await new Promise((r) => setTimeout(r, 20));
    }
  }
  getTask = async (_ns: string, name: string): Promise<Task | undefined> => (this.check(), this.tasks.get(name));
  listAll = async <T extends ApiObject>(): Promise<List<T>> => (this.check(), { apiVersion: API_VERSION, kind: 'List', metadata: { resourceVersion: String(this.rev) }, items: [] });
  async *watchAll<T extends ApiObject>(_p: string, _rv: string, signal: AbortSignal): AsyncIterable<WatchEvent<T>> {
    while (!signal.aborted && this.up) await new Promise((r) => setTimeout(r, 50));
    yield* [];
  }
  /** Secret and config values by name (base64), for tasks assigned here. */
  values = new Map<string, string>();
  taskReference = async (_kind: 'secrets' | 'configs', task: Task, name: string): Promise<string> => {
    this.check();
    if (task.spec.nodeName !== 'n1') throw errors.permissionDenied('not this node');
    const v = this.values.get(name);
    if (v === undefined) throw errors.notFound(name);
    return v;
  };
  replaceTaskStatus = async (t: Task): Promise<Task> => {
    this.check();
    const cur = this.tasks.get(t.metadata.name);
    if (!cur) throw errors.notFound('task');
    if (cur.metadata.resourceVersion !== t.metadata.resourceVersion) throw errors.conflict('stale');
    const next = { ...cur, status: t.status, metadata: { ...cur.metadata, resourceVersion: String(++this.rev) } };
    this.tasks.set(t.metadata.name, next);
    await this.beforeStatusAnswer?.(next);
    return next;
  };
}

class FakeRuntime implements TaskRuntime {
  readonly containers = new Map<string, TaskContainer>();
  pulls = 0;
  private n = 0;
  taskContainers = (key?: string): TaskContainer[] => [...this.containers.values()].filter((c) => key === undefined || c.labels[CONTAINER_TASK_LABEL] === key);
  hasImage = async (): Promise<boolean> => this.pulls > 0;
  pull = async (): Promise<void> => {
    this.pulls++;
  };
  create = async (o: CreateOptions): Promise<string> => {
    const id = `c${++this.n}`;
    this.containers.set(id, { id, name: o.name ?? id, labels: o.labels ?? {}, status: 'created', exitCode: 0, oomKilled: false, ip: `10.244.1.${this.n + 1}` });
    return id;
  };
  start = async (id: string): Promise<void> => {
    this.containers.get(id)!.status = 'running';
  };
  stop = async (id: string): Promise<void> => this.exit(id, 143);
  remove = async (id: string): Promise<void> => {
    this.containers.delete(id);
  };
  waitExit = async (): Promise<void> => new Promise(() => undefined);
  exit(id: string, code: number): void {
    const c = this.containers.get(id);
    if (c) Object.assign(c, { status: 'exited', exitCode: code });
  }
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
/** vi.waitFor's pacing for these tests: the session's loops tick every 20-30 ms. */
const wait = { timeout: 3000, interval: 10 };

describe('agent session', () => {
  let session: AgentSession | undefined;
  afterEach(async () => {
    await session?.close();
  });
  const start = (api: FakeController, rt: FakeRuntime, extra: Partial<SessionOptions> = {}): AgentSession =>
    (session = startSession({
      api, runtime: rt, log: quiet, heartbeatIntervalMs: 20, resyncIntervalMs: 30, backoffMinMs: 10, backoffMaxMs: 50,
      identity: { nodeName: 'n1', labels: { zone: 'a' }, agentVersion: 't', hostname: 'h' },
      probe: async () => ({ cpuMillis: 1000, memoryBytes: 1 << 30, kernel: 'k', arch: 'x64', cgroupVersion: 1 }),
      ...extra,
    }));

  it('registers, heartbeats, runs an assigned task and reports its exit', async () => {
    const api = new FakeController();
    const rt = new FakeRuntime();
    api.addTask('web.1.a');
    start(api, rt);
    await vi.waitFor(() => expect(api.tasks.get('web.1.a')?.status.state).toBe('running'), wait);
    expect(api.node?.spec.labels).toEqual({ zone: 'a' });
    expect(api.beats).toBeGreaterThan(0);
    const t = api.tasks.get('web.1.a')!;
    expect(t.status.containerId).toBe('c1');
    expect(rt.containers.get('c1')?.labels[CONTAINER_TASK_LABEL]).toBe('default/web.1.a');
    expect(rt.pulls).toBe(1);
    rt.exit('c1', 3);
    await vi.waitFor(() => expect(api.tasks.get('web.1.a')?.status.state).toBe('failed'), wait);
    expect(api.tasks.get('web.1.a')?.status).toMatchObject({ exitCode: 3, message: 'task: non-zero exit (3)' });
    // The exited container (and its logs) stays while the task is in the history.
    await new Promise((r) => setTimeout(r, 100));
    expect(rt.containers.get('c1')?.status).toBe('exited');
    api.tasks.delete('web.1.a');
    // The fake watch sends no events: a controller blip makes the session relist.
    api.up = false;
    await new Promise((r) => setTimeout(r, 60));
    api.up = true;
    await vi.waitFor(() => expect(rt.containers.size, 'container removed once the task is gone').toBe(0), wait);
  });

  it("rejects a task that publishes the agent's own port (--metrics-listen), runs one that does not", async () => {
    const api = new FakeController();
    const rt = new FakeRuntime();
    api.addTask('web.1.a');
    api.tasks.get('web.1.a')!.spec.ports = [{ port: 9323, targetPort: 80, mode: 'host' }];
    api.addTask('web.2.b');
    api.tasks.get('web.2.b')!.spec.ports = [{ port: 9324, targetPort: 80, mode: 'host' }];
    start(api, rt, { ownPorts: new Set([9323]) });
    await vi.waitFor(() => expect(api.tasks.get('web.1.a')?.status.state).toBe('rejected'), wait);
    expect(api.tasks.get('web.1.a')?.status.message).toContain("port 9323 is the agent's own on this node");
    await vi.waitFor(() => expect(api.tasks.get('web.2.b')?.status.state).toBe('running'), wait);
  });

  it('starts tasks only once the bridge is on the node podCIDR', async () => {
    const api = new FakeController();
    const rt = new FakeRuntime();
    api.addTask('web.1.a');
    const applied: string[] = [];
    let failFirst = true;
    start(api, rt, {
      onPodCIDR: async (cidr) => {
        if (failFirst) {
          failFirst = false;
          throw errors.unavailable('ip failed');
        }
        applied.push(cidr);
      },
    });
    await vi.waitFor(() => expect(api.tasks.get('web.1.a')?.status.state).toBe('accepted'), wait);
    await new Promise((r) => setTimeout(r, 150));
    expect(rt.containers.size).toBe(0);
    expect(api.tasks.get('web.1.a')?.status.state).toBe('accepted');
    // The leader assigns the podCIDR after registration; the first setup fails and is retried.
    api.node = { ...api.node!, spec: { ...api.node!.spec, podCIDR: '10.244.3.0/24' } };
    await vi.waitFor(() => expect(api.tasks.get('web.1.a')?.status.state).toBe('running'), wait);
    expect(applied).toEqual(['10.244.3.0/24']);
    expect(session?.podCIDR()).toBe('10.244.3.0/24');
  });

  it('keeps containers while the controller is down, removes them once the task is gone', async () => {
    const api = new FakeController();
    const rt = new FakeRuntime();
    api.addTask('web.1.a');
    start(api, rt);
    await vi.waitFor(() => expect(api.tasks.get('web.1.a')?.status.state).toBe('running'), wait);
    api.up = false;
    api.tasks.delete('web.1.a');
    await new Promise((r) => setTimeout(r, 200));
    expect(rt.containers.get('c1')?.status).toBe('running');
    api.up = true;
    await vi.waitFor(() => expect(rt.containers.size, 'removed after resync').toBe(0), wait);
  });

  it('load-balances ingress ports over the running local replicas', async () => {
    const api = new FakeController();
    const rt = new FakeRuntime();
    for (const name of ['web.1.a', 'web.2.b']) {
      api.addTask(name);
      api.tasks.get(name)!.spec.ports = [{ port: 8080, targetPort: 80 }, { port: 9090, targetPort: 90, mode: 'host' }];
    }
    const seen: unknown[] = [];
    start(api, rt, {
      onIngress: async (ports) => {
        seen.push(ports);
      },
    });
    const two = [{ protocol: 'tcp', port: 8080, backends: [{ ip: '10.244.1.2', port: 80 }, { ip: '10.244.1.3', port: 80 }] }];
    await vi.waitFor(() => expect(JSON.stringify(seen.at(-1)), 'both backends').toBe(JSON.stringify(two)), wait);
    const id = api.tasks.get('web.1.a')!.status.containerId!;
    rt.exit(id, 1);
    await vi.waitFor(() => {
      const left = [{ protocol: 'tcp', port: 8080, backends: [{ ip: rt.containers.get(api.tasks.get('web.2.b')!.status.containerId!)!.ip, port: 80 }] }];
      expect(JSON.stringify(seen.at(-1)), 'one backend left').toBe(JSON.stringify(left));
    }, wait);
    const calls = seen.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(seen.length).toBe(calls); // resyncs with nothing new write nothing
  });

  it('removes the container of a task deleted while its last status write was in flight', async () => {
    const api = new FakeController();
    const rt = new FakeRuntime();
    api.addTask('web.1.a');
    start(api, rt);
    await vi.waitFor(() => expect(api.tasks.get('web.1.a')?.status.state).toBe('running'), wait);
    // The orchestrator deletes a task as soon as it is terminal; the DELETED event overtakes
    // the answer to the agent's `shutdown` write.
    api.beforeStatusAnswer = async (t) => {
      if (t.status.state !== 'shutdown') return;
      api.tasks.delete(t.metadata.name);
      api.events.push({ type: 'DELETED', object: t });
      await new Promise((r) => setTimeout(r, 80));
    };
    const cur = api.tasks.get('web.1.a')!;
    api.tasks.set('web.1.a', { ...cur, spec: { ...cur.spec, desiredState: 'shutdown' }, metadata: { ...cur.metadata, resourceVersion: String(++api.rev) } });
    api.events.push({ type: 'MODIFIED', object: api.tasks.get('web.1.a')! });
    await vi.waitFor(() => expect(rt.containers.size, 'container removed').toBe(0), wait);
  });

  it('relists once the controller is reachable again: a watch that died silently in a partition leaves no orphaned task running', async () => {
    const api = new FakeController();
    const rt = new FakeRuntime();
    api.addTask('web.1.a');
    start(api, rt);
    await vi.waitFor(() => expect(api.tasks.get('web.1.a')?.status.state).toBe('running'), wait);
    api.partition();
    // Meanwhile the node is marked down and its task orphaned (and replaced elsewhere).
    const cur = api.tasks.get('web.1.a')!;
    api.tasks.set('web.1.a', { ...cur, status: { ...cur.status, state: 'orphaned' }, metadata: { ...cur.metadata, resourceVersion: String(++api.rev) } });
    await new Promise((r) => setTimeout(r, 150));
    expect(rt.containers.get('c1')?.status, 'runs on while cut off').toBe('running');
    api.up = true;
    // The old watch never ends; the first beat that gets through makes the session relist.
    await vi.waitFor(() => expect(rt.containers.get('c1')?.status, 'the orphaned task’s container is stopped').toBe('exited'), wait);
  });

  it('re-registers when the node was deleted', async () => {
    const api = new FakeController();
    start(api, new FakeRuntime());
    await vi.waitFor(() => expect(api.node, 'registered').toBeDefined(), wait);
    api.node = undefined;
    const heartbeat = api.heartbeat;
    api.heartbeat = async () => {
      if (!api.node) throw errors.notFound('node n1');
      return heartbeat();
    };
    await vi.waitFor(() => expect(api.node, 'registered again').toBeDefined(), wait);
  });
});
