import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canTransition, isTerminal, type Node, type Service, type ServiceSpec, type Task, type TaskState } from '../../api/index.js';
import { makeNode, makeService } from '../../scheduler/index.js';
import { reconcileService, reconcileDeletedService, type ReconcileResult } from './reconcile.js';

const T0 = Date.parse('2025-01-01T00:00:00Z');
let ids = 0;
const newId = (): string => `id${++ids}`;

/** A tiny world: tasks by name, with the plan applied the way the loop would. */
class World {
  tasks = new Map<string, Task>();
  constructor(
    public service: Service,
    public nodes: Node[] = [makeNode({ name: 'n1' }), makeNode({ name: 'n2' }), makeNode({ name: 'n3' })],
    public now = T0,
  ) {}
  reconcile(): ReconcileResult {
    const r = reconcileService(this.service, [...this.tasks.values()], this.nodes, this.now, { newId });
    this.apply(r);
    return r;
  }
  apply(r: ReconcileResult): void {
    for (const t of r.remove) this.tasks.delete(t.metadata.name);
    for (const d of r.shutdown) {
      const t = this.tasks.get(d.task.metadata.name);
      if (t) this.tasks.set(t.metadata.name, { ...t, spec: { ...t.spec, desiredState: 'shutdown' } });
    }
    for (const t of r.create) this.tasks.set(t.metadata.name, t);
    this.service = { ...this.service, status: r.status };
  }
  set(name: string, state: TaskState, extra: Partial<Task['status']> = {}, nodeName?: string): void {
    const t = this.tasks.get(name);
    if (!t) throw new Error(`no task ${name}`);
    expect(canTransition(t.status.state, state)).toBe(true);
    this.tasks.set(name, {
      ...t,
      spec: { ...t.spec, ...(nodeName !== undefined ? { nodeName } : t.spec.nodeName === undefined ? { nodeName: 'n1' } : {}) },
      status: { ...t.status, state, timestamp: new Date(this.now).toISOString(), ...extra },
    });
  }
  /** Agent + scheduler: every task progresses (desired running → running, desired shutdown → shutdown). */
  settle(): void {
    let i = 0;
    for (const t of [...this.tasks.values()]) {
      if (isTerminal(t.status.state)) continue;
      const node = t.spec.nodeName ?? this.nodes[i++ % this.nodes.length]?.metadata.name ?? 'n1';
      this.set(t.metadata.name, t.spec.desiredState === 'running' ? 'running' : 'shutdown', {}, node);
    }
  }
  live(): Task[] {
    return [...this.tasks.values()].filter((t) => t.spec.desiredState === 'running' && !isTerminal(t.status.state));
  }
  converge(rounds = 30): void {
    for (let i = 0; i < rounds; i++) {
      this.reconcile();
      this.settle();
      this.now += 60_000;
    }
    this.reconcile();
  }
  slotOf(name: string): number | undefined {
    return this.tasks.get(name)?.spec.slot;
  }
}

/** A service whose generation stands for a template change (the image tag follows it). */
function svc(spec: Partial<ServiceSpec>, generation = 1): Service {
  const template = spec.template ?? { spec: { containers: [{ name: 'main', image: `busybox:${generation}` }] } };
  return makeService('web', { ...spec, template }, generation);
}

describe('reconcileService: replicated', () => {
  it('creates slots 1..N with names <service>.<slot>.<id>, pending', () => {
    const w = new World(svc({ replicas: 3 }));
    const r = w.reconcile();
    expect(r.create.map((t) => t.spec.slot)).toEqual([1, 2, 3]);
    expect(r.create.every((t) => /^web\.\d\.id\d+$/.test(t.metadata.name) && t.status.state === 'pending' && t.spec.desiredState === 'running')).toBe(true);
    expect(r.status).toMatchObject({ replicas: 0, readyReplicas: 0, observedGeneration: 1 });
    expect(w.reconcile().create).toEqual([]);
  });

  it('scale down shuts down the highest slots first, then removes them once terminal', () => {
    const w = new World(svc({ replicas: 5 }));
    w.converge(2);
    w.service = svc({ replicas: 2 });
    const r = w.reconcile();
    expect(r.shutdown.map((d) => w.slotOf(d.task.metadata.name)).sort()).toEqual([3, 4, 5]);
    expect(r.shutdown.every((d) => d.reason === 'scaled down')).toBe(true);
    w.settle();
    const r2 = w.reconcile();
    expect(r2.remove).toHaveLength(3);
    expect([...w.tasks.values()].map((t) => t.spec.slot).sort()).toEqual([1, 2]);
  });

  it('a scale to 0 and back to 1 while slot 2 is still stopping fills slot 1, not slot 2', () => {
    // Found by the property below: slot 1's failed task was dropped at the scale to 0, and
    // slot 2 (still shutting down) was kept as the one slot, so replicas: 1 ran in slot 2.
    const w = new World(svc({ replicas: 2, restart: { delay: '1s' } }));
    w.converge(1);
    const [first] = w.live().filter((t) => t.spec.slot === 1);
    w.set(first?.metadata.name ?? '', 'failed', { exitCode: 1 });
    w.reconcile();
    w.service = { ...svc({ replicas: 0, restart: { delay: '1s' } }), status: w.service.status ?? {} };
    w.reconcile();
    w.service = { ...svc({ replicas: 1, restart: { delay: '1s' } }), status: w.service.status ?? {} };
    const r = w.reconcile();
    expect(r.create.map((t) => t.spec.slot)).toEqual([1]);
    expect(w.live().map((t) => t.spec.slot)).toEqual([1]);
  });

  it('replaces a failed task in the same slot after the restart delay', () => {
    const w = new World(svc({ replicas: 1, restart: { condition: 'on-failure', delay: '10s' } }));
    w.converge(2);
    const [t] = w.live();
    w.set(t?.metadata.name ?? '', 'failed', { finishedAt: new Date(w.now).toISOString(), exitCode: 1 });
    const r = w.reconcile();
    expect(r.create).toEqual([]);
    expect(r.requeueAt).toBe(w.now + 10_000);
    expect(r.status.readyReplicas).toBe(0);
    w.now += 10_000;
    const r2 = w.reconcile();
    expect(r2.create.map((x) => x.spec.slot)).toEqual([1]);
    expect(w.tasks.size).toBe(2); // the failed one stays as history
  });

  it('restart conditions: none never, on-failure not after success, any always', () => {
    for (const [condition, state, exitCode, expected] of [
      ['none', 'failed', 1, 0],
      ['on-failure', 'complete', 0, 0],
      ['on-failure', 'failed', 2, 1],
      ['any', 'complete', 0, 1],
    ] as const) {
      const w = new World(svc({ replicas: 1, restart: { condition, delay: '0s' } }));
      w.converge(1);
      w.set(w.live()[0]?.metadata.name ?? '', state, { exitCode });
      expect(w.reconcile().create, `${condition}/${state}`).toHaveLength(expected);
    }
  });

  it('maxAttempts within the window', () => {
    const w = new World(svc({ replicas: 1, restart: { condition: 'any', delay: '0s', maxAttempts: 2, window: '1m' } }));
    w.reconcile();
    for (let i = 0; i < 2; i++) {
      w.settle();
      w.set(w.live()[0]?.metadata.name ?? '', 'failed');
      expect(w.reconcile().create).toHaveLength(1);
      w.now += 1000;
    }
    w.settle();
    w.set(w.live()[0]?.metadata.name ?? '', 'failed');
    expect(w.reconcile().create).toHaveLength(0);
    w.now += 120_000; // the window moved past the failures
    expect(w.reconcile().create).toHaveLength(1);
  });

  it('an orphaned task (node down) is replaced at once, whatever the delay', () => {
    const w = new World(svc({ replicas: 1, restart: { condition: 'none', delay: '1h' } }));
    w.converge(1);
    w.set(w.live()[0]?.metadata.name ?? '', 'orphaned');
    expect(w.reconcile().create).toHaveLength(1);
  });

  it('keeps at most 5 terminal tasks per slot', () => {
    const w = new World(svc({ replicas: 1, restart: { delay: '0s' } }));
    w.reconcile();
    for (let i = 0; i < 9; i++) {
      w.settle();
      w.set(w.live()[0]?.metadata.name ?? '', 'failed');
      w.now += 1000;
      w.reconcile();
    }
    const terminal = [...w.tasks.values()].filter((t) => isTerminal(t.status.state));
    expect(terminal).toHaveLength(5);
    expect(w.live()).toHaveLength(1);
  });

  it('drain: tasks on a drained node are shut down and replaced at once', () => {
    const w = new World(svc({ replicas: 2 }));
    w.reconcile();
    const names = [...w.tasks.keys()];
    w.set(names[0] ?? '', 'running', {}, 'n1');
    w.set(names[1] ?? '', 'running', {}, 'n2');
    w.nodes = [makeNode({ name: 'n1', availability: 'drain' }), makeNode({ name: 'n2' })];
    const r = w.reconcile();
    expect(r.shutdown.map((d) => [d.task.metadata.name, d.reason])).toEqual([[names[0], 'node drained']]);
    expect(r.create.map((t) => t.spec.slot)).toEqual([w.slotOf(names[0] ?? '')]);
  });

  it('a pending task that is shut down before placement is removed instead', () => {
    const w = new World(svc({ replicas: 2 }));
    w.reconcile();
    w.service = svc({ replicas: 0 });
    const r = w.reconcile();
    expect(r.shutdown).toEqual([]);
    expect(r.remove).toHaveLength(2);
  });

  it('rolling update (stop-first) honours parallelism and ends with every replica on the new generation', () => {
    const w = new World(svc({ replicas: 4, update: { parallelism: 2 } }));
    w.converge(2);
    w.service = svc({ replicas: 4, update: { parallelism: 2 }, template: { spec: { containers: [{ name: 'main', image: 'busybox:2' }] } } }, 2);
    const r = w.reconcile();
    expect(r.shutdown).toHaveLength(2);
    expect(r.create).toHaveLength(0); // stop first: wait until they are down
    expect(w.reconcile().shutdown).toHaveLength(0); // in flight: no more
    w.settle();
    const r2 = w.reconcile();
    expect(r2.create.map((t) => t.spec.serviceGeneration)).toEqual([2, 2]);
    w.converge();
    expect(w.live().map((t) => t.spec.serviceGeneration)).toEqual([2, 2, 2, 2]);
    expect(w.service.status).toMatchObject({ replicas: 4, readyReplicas: 4, updatedReplicas: 4, observedGeneration: 2 });
    expect(w.service.status?.conditions?.find((c) => c.type === 'Progressing')?.status).toBe('False');
  });

  it('rolling update (start-first) starts the new task before stopping the old one', () => {
    const w = new World(svc({ replicas: 1, update: { order: 'start-first' } }));
    w.converge(1);
    const old = w.live()[0]?.metadata.name ?? '';
    w.service = svc({ replicas: 1, update: { order: 'start-first' } }, 2);
    const r = w.reconcile();
    expect(r.create).toHaveLength(1);
    expect(r.shutdown).toHaveLength(0);
    w.settle();
    expect(w.reconcile().shutdown.map((d) => d.task.metadata.name)).toEqual([old]);
  });

  it('status conditions keep their transition time while unchanged', () => {
    const w = new World(svc({ replicas: 1 }));
    w.converge(1);
    const t1 = w.service.status?.conditions?.find((c) => c.type === 'Available');
    expect(t1?.status).toBe('True');
    w.now += 5000;
    w.reconcile();
    expect(w.service.status?.conditions?.find((c) => c.type === 'Available')?.lastTransitionTime).toBe(t1?.lastTransitionTime);
  });
});

describe('reconcileService: global, job, deleted', () => {
  it('global: one task per eligible node (ready, active, constraints met)', () => {
    const nodes = [
      makeNode({ name: 'a', labels: { zone: 'x' } }),
      makeNode({ name: 'b', labels: { zone: 'x' }, state: 'down' }),
      makeNode({ name: 'c', labels: { zone: 'x' }, availability: 'drain' }),
      makeNode({ name: 'd', labels: { zone: 'y' } }),
      makeNode({ name: 'e', labels: { zone: 'x' }, availability: 'pause' }),
    ];
    const w = new World(makeService('agent', { mode: 'global', placement: { constraints: ['node.labels.zone==x'] } }), nodes);
    const r = w.reconcile();
    expect(r.create.map((t) => [t.spec.nodeName, t.metadata.name.split('.').slice(0, 2).join('.')])).toEqual([['a', 'agent.a']]);
    w.converge(2);
    expect(w.live().map((t) => t.spec.nodeName)).toEqual(['a']);
    // The node leaves the constraint: its task is shut down.
    w.nodes = [makeNode({ name: 'a', labels: { zone: 'y' } })];
    expect(w.reconcile().shutdown.map((d) => d.reason)).toEqual(['node no longer meets the constraints']);
  });

  it('global: a node going down and coming back gets a new task', () => {
    const w = new World(makeService('agent', { mode: 'global' }), [makeNode({ name: 'a' }), makeNode({ name: 'b' })]);
    w.converge(2);
    const onA = w.live().find((t) => t.spec.nodeName === 'a')?.metadata.name ?? '';
    w.nodes = [makeNode({ name: 'a', state: 'down' }), makeNode({ name: 'b' })];
    w.set(onA, 'orphaned');
    expect(w.reconcile().create).toEqual([]);
    w.nodes = [makeNode({ name: 'a' }), makeNode({ name: 'b' })];
    expect(w.reconcile().create.map((t) => t.spec.nodeName)).toEqual(['a']);
  });

  it('job: complete tasks are not restarted; Complete condition when all are done', () => {
    const w = new World(makeService('batch', { mode: 'job', replicas: 2, restart: { delay: '0s' } }));
    w.reconcile();
    w.settle();
    for (const t of w.live()) w.set(t.metadata.name, 'complete', { exitCode: 0 });
    const r = w.reconcile();
    expect(r.create).toEqual([]);
    expect(r.status.conditions?.find((c) => c.type === 'Complete')?.status).toBe('True');
  });

  it('deleted service: running tasks shut down, terminal and unplaced ones removed', () => {
    const w = new World(svc({ replicas: 3 }));
    w.reconcile();
    const [a, b] = [...w.tasks.keys()];
    w.set(a ?? '', 'running');
    w.set(b ?? '', 'failed');
    const r = reconcileDeletedService([...w.tasks.values()], w.now);
    expect(r.shutdown.map((d) => d.task.metadata.name)).toEqual([a]);
    expect(r.remove).toHaveLength(2);
  });

});

describe('reconcileService: properties', () => {
  type Step =
    | { k: 'scale'; n: number }
    | { k: 'bump' }
    | { k: 'settle' }
    | { k: 'fail'; i: number; state: 'failed' | 'complete' | 'rejected' | 'orphaned' }
    | { k: 'time'; ms: number };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ k: fc.constant('scale' as const), n: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ k: fc.constant('bump' as const) }),
    fc.record({ k: fc.constant('settle' as const) }),
    fc.record({ k: fc.constant('fail' as const), i: fc.nat(), state: fc.constantFrom('failed' as const, 'complete' as const, 'rejected' as const, 'orphaned' as const) }),
    fc.record({ k: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 20_000 }) }),
  );

  it('replicated (stop-first): never more live tasks than asked, at most one per slot, converges to N on the current generation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.array(step, { maxLength: 40 }), (n0, parallelism, steps) => {
        let gen = 1;
        let n = n0;
        const spec = (): Partial<ServiceSpec> => ({ replicas: n, update: { parallelism }, restart: { delay: '1s' } });
        const w = new World(svc(spec(), gen));
        const check = (): void => {
          const live = w.live();
          expect(live.length).toBeLessThanOrEqual(n);
          const slots = live.map((t) => t.spec.slot);
          expect(new Set(slots).size).toBe(slots.length);
          expect(slots.every((s) => s !== undefined && s >= 1 && s <= n)).toBe(true);
        };
        for (const s of steps) {
          if (s.k === 'scale') {
            n = s.n;
            w.service = { ...svc(spec(), gen), status: w.service.status ?? {} };
          } else if (s.k === 'bump') {
            gen++;
            w.service = { ...svc(spec(), gen), status: w.service.status ?? {} };
          } else if (s.k === 'settle') w.settle();
          else if (s.k === 'time') w.now += s.ms;
          else {
            const live = w.live().filter((t) => t.status.state === 'running');
            const t = live[s.i % Math.max(1, live.length)];
            if (t) w.set(t.metadata.name, s.state, { exitCode: s.state === 'complete' ? 0 : 1 });
          }
          const before = new Map([...w.tasks].map(([k, t]) => [k, t.status.state]));
          const r = w.reconcile();
          // The orchestrator never writes task status: states of existing tasks are unchanged.
          for (const [k, st] of before) if (w.tasks.has(k)) expect(w.tasks.get(k)?.status.state).toBe(st);
          expect(r.create.every((t) => t.status.state === 'pending' && t.spec.serviceGeneration === gen)).toBe(true);
          check();
        }
        w.converge();
        check();
        const live = w.live();
        expect(live).toHaveLength(n);
        expect(live.every((t) => t.status.state === 'running' && t.spec.serviceGeneration === gen)).toBe(true);
        expect(w.service.status).toMatchObject({ replicas: n, readyReplicas: n, updatedReplicas: n, observedGeneration: gen });
      }),
      { numRuns: 150 },
    );
  });

  it('global: exactly one live task per eligible node after convergence', () => {
    const nodeArb = fc.record({ state: fc.constantFrom('ready' as const, 'down' as const), availability: fc.constantFrom('active' as const, 'pause' as const, 'drain' as const), zone: fc.constantFrom('a', 'b') });
    fc.assert(
      fc.property(fc.array(nodeArb, { maxLength: 8 }), fc.array(nodeArb, { maxLength: 8 }), fc.boolean(), (first, second, constrained) => {
        const mk = (spec: typeof first): Node[] => spec.map((x, i) => makeNode({ name: `n${i}`, state: x.state, availability: x.availability, labels: { zone: x.zone } }));
        const service = makeService('g', { mode: 'global', restart: { delay: '0s' }, ...(constrained ? { placement: { constraints: ['node.labels.zone==a'] } } : {}) });
        const w = new World(service, mk(first));
        w.converge(3);
        w.nodes = mk(second);
        // Tasks on nodes that went down are orphaned by the node monitor.
        for (const t of w.live()) if (w.nodes.find((x) => x.metadata.name === t.spec.nodeName)?.status.state !== 'ready') w.set(t.metadata.name, 'orphaned');
        w.converge(3);
        const eligible = w.nodes.filter((x) => x.status.state === 'ready' && x.spec.availability === 'active' && (!constrained || x.spec.labels?.['zone'] === 'a')).map((x) => x.metadata.name);
        const paused = new Set(w.nodes.filter((x) => x.spec.availability === 'pause').map((x) => x.metadata.name));
        const liveNodes = w.live().map((t) => t.spec.nodeName ?? '');
        expect(liveNodes.filter((x) => !paused.has(x)).sort()).toEqual(eligible.sort());
        expect(new Set(liveNodes).size).toBe(liveNodes.length);
        expect(w.service.status?.replicas).toBe(liveNodes.length);
      }),
      { numRuns: 150 },
    );
  });
});

describe('scaling does not roll replicas', () => {
  it('keeps the running tasks when only replicas change (generation bumped)', () => {
    const svc = makeService('web', { replicas: 3 });
    const first = reconcileService(svc, [], [makeNode({ name: 'n1' })], 0, { newId });
    const tasks = first.create.map((t) => ({ ...t, spec: { ...t.spec, nodeName: 'n1' }, status: { ...t.status, state: 'running' as const } }));
    const scaled = { ...svc, metadata: { ...svc.metadata, generation: (svc.metadata.generation ?? 1) + 1 }, spec: { ...svc.spec, replicas: 5 } };
    const r = reconcileService(scaled, tasks, [makeNode({ name: 'n1' })], 1000, { newId });
    expect(r.shutdown).toEqual([]);
    expect(r.create).toHaveLength(2);
    const down = { ...scaled, spec: { ...scaled.spec, replicas: 1 }, metadata: { ...scaled.metadata, generation: 3 } };
    const r2 = reconcileService(down, tasks, [makeNode({ name: 'n1' })], 2000, { newId });
    expect(r2.shutdown.map((d) => d.task.spec.slot).sort()).toEqual([2, 3]);
    expect(r2.shutdown.every((d) => d.reason !== 'service updated')).toBe(true);
  });

  it('still rolls the replicas when the template changes', () => {
    const svc = makeService('web', { replicas: 2 });
    const first = reconcileService(svc, [], [makeNode({ name: 'n1' })], 0, { newId });
    const tasks = first.create.map((t) => ({ ...t, spec: { ...t.spec, nodeName: 'n1' }, status: { ...t.status, state: 'running' as const } }));
    const c0 = svc.spec.template.spec.containers[0]!;
    const changed = {
      ...svc,
      metadata: { ...svc.metadata, generation: 2 },
      spec: { ...svc.spec, template: { ...svc.spec.template, spec: { ...svc.spec.template.spec, containers: [{ ...c0, image: 'busybox:2' }] } } },
    };
    const r = reconcileService(changed, tasks, [makeNode({ name: 'n1' })], 1000, { newId });
    expect(r.shutdown.map((d) => d.reason)).toContain('service updated');
  });
});

describe('replaced failed and orphaned tasks are no longer wanted (desiredState shutdown)', () => {
  const retired = (r: ReconcileResult): string[] => r.shutdown.filter((d) => isTerminal(d.task.status.state)).map((d) => `${d.task.metadata.name} ${d.reason}`);

  it('a failed task keeps desiredState running through its restart delay, and is shut down in the pass that replaces it', () => {
    const w = new World(svc({ replicas: 1, restart: { delay: '5s' } }));
    w.converge(1);
    const failed = w.live()[0]?.metadata.name ?? '';
    w.set(failed, 'failed', { exitCode: 3, message: 'task: non-zero exit (3)', finishedAt: new Date(w.now).toISOString() });
    let r = w.reconcile();
    expect(r.create, 'inside the delay').toHaveLength(0);
    expect(retired(r)).toEqual([]);
    expect(w.tasks.get(failed)?.spec.desiredState).toBe('running');
    w.now += 5000;
    r = w.reconcile();
    expect(r.create).toHaveLength(1);
    expect(retired(r)).toEqual([`${failed} replaced`]);
    expect(w.tasks.get(failed)?.spec.desiredState).toBe('shutdown');
    // The decision carries the task as it is: the loop leaves a terminal task's status alone.
    expect(r.shutdown[0]?.task.status).toMatchObject({ state: 'failed', exitCode: 3, message: 'task: non-zero exit (3)' });
  });

  it('an orphaned task is replaced and shut down at once; the service converges without flapping Progressing', () => {
    const w = new World(svc({ replicas: 2 }));
    w.converge(1);
    const lost = w.live()[0]?.metadata.name ?? '';
    w.set(lost, 'orphaned', { message: 'node n1 is down' });
    const r = w.reconcile();
    expect(r.create.map((t) => t.spec.slot)).toEqual([w.slotOf(lost)]);
    expect(retired(r)).toEqual([`${lost} replaced: its node was down`]);
    w.settle();
    const r2 = w.reconcile();
    expect(r2.shutdown).toEqual([]);
    expect(w.service.status?.conditions?.find((c) => c.type === 'Progressing')?.status).toBe('False');
  });

  it('history written before this rule (replaced tasks still desired running) is retired in one pass, and the service stays converged', () => {
    const w = new World(svc({ replicas: 1, restart: { delay: '0s' } }));
    w.converge(1);
    const first = w.live()[0]?.metadata.name ?? '';
    w.set(first, 'failed');
    w.reconcile();
    w.settle();
    // As an older controller left it: the failed task was replaced but kept desiredState running.
    const t = w.tasks.get(first)!;
    w.tasks.set(first, { ...t, spec: { ...t.spec, desiredState: 'running' } });
    const r = w.reconcile();
    expect(r.create).toEqual([]);
    expect(retired(r)).toEqual([`${first} replaced`]);
    expect(w.service.status?.conditions?.find((c) => c.type === 'Progressing')?.status).toBe('False');
  });

  it('a task that is not restarted stays desired running (the slot shows how it ended)', () => {
    const w = new World(svc({ replicas: 1, restart: { condition: 'none' } }));
    w.converge(1);
    const done = w.live()[0]?.metadata.name ?? '';
    w.set(done, 'failed');
    w.now += 60_000;
    const r = w.reconcile();
    expect(r.create).toEqual([]);
    expect(r.shutdown).toEqual([]);
    expect(w.tasks.get(done)?.spec.desiredState).toBe('running');
  });

  it('restarts still count against maxAttempts once the failed tasks are shut down', () => {
    const w = new World(svc({ replicas: 1, restart: { delay: '0s', maxAttempts: 1 } }));
    w.converge(1);
    w.set(w.live()[0]?.metadata.name ?? '', 'rejected');
    expect(w.reconcile().create, 'first attempt restarted').toHaveLength(1);
    w.settle();
    w.set(w.live()[0]?.metadata.name ?? '', 'failed');
    expect(w.reconcile().create, 'second failure: over maxAttempts').toHaveLength(0);
    // An orphaned task is not the task's failure: replaced whatever the count.
    const w2 = new World(svc({ replicas: 1, restart: { delay: '0s', maxAttempts: 1 } }));
    w2.converge(1);
    w2.set(w2.live()[0]?.metadata.name ?? '', 'failed');
    w2.reconcile();
    w2.settle();
    w2.set(w2.live()[0]?.metadata.name ?? '', 'orphaned');
    expect(w2.reconcile().create).toHaveLength(1);
  });

  it('global: the orphaned task of a node that comes back is replaced there and shut down', () => {
    const w = new World(makeService('agent', { mode: 'global' }), [makeNode({ name: 'a' }), makeNode({ name: 'b' })]);
    w.converge(2);
    const onA = w.live().find((t) => t.spec.nodeName === 'a')?.metadata.name ?? '';
    w.nodes = [makeNode({ name: 'a', state: 'down' }), makeNode({ name: 'b' })];
    w.set(onA, 'orphaned');
    expect(retired(w.reconcile()), 'not while the node is down').toEqual([]);
    w.nodes = [makeNode({ name: 'a' }), makeNode({ name: 'b' })];
    const r = w.reconcile();
    expect(r.create.map((t) => t.spec.nodeName)).toEqual(['a']);
    expect(retired(r)).toEqual([`${onA} replaced: its node was down`]);
  });

  it('after any history of failures and convergence, every terminal task of a slot is desired shutdown (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ slot: fc.nat(), state: fc.constantFrom('failed' as const, 'orphaned' as const, 'rejected' as const, 'complete' as const), ms: fc.integer({ min: 0, max: 10_000 }) }), { maxLength: 30 }), (fails) => {
        const w = new World(svc({ replicas: 3, restart: { delay: '2s' } }));
        w.converge(1);
        for (const f of fails) {
          const live = w.live().filter((t) => t.status.state === 'running');
          const t = live[f.slot % Math.max(1, live.length)];
          if (t) w.set(t.metadata.name, f.state, { finishedAt: new Date(w.now).toISOString() });
          w.now += f.ms;
          w.reconcile();
          w.settle();
        }
        w.converge(3);
        const bySlot = new Map<number, Task[]>();
        for (const t of w.tasks.values()) bySlot.set(t.spec.slot ?? 0, [...(bySlot.get(t.spec.slot ?? 0) ?? []), t]);
        // Converged: every slot runs a live task, so every terminal task in it was replaced.
        expect(w.live()).toHaveLength(3);
        for (const ts of bySlot.values()) {
          expect(ts.some((t) => t.spec.desiredState === 'running' && !isTerminal(t.status.state))).toBe(true);
          for (const t of ts) if (isTerminal(t.status.state)) expect(t.spec.desiredState, `${t.metadata.name} (${t.status.state})`).toBe('shutdown');
        }
      }),
      { numRuns: 100 },
    );
  });
});
