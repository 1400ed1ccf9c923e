import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeNode, makeTask } from './fixtures.js';
import { buildNodeInfos } from './node-info.js';
import { memoryBytes, cpuMillis } from './quantity.js';
import { schedule } from './schedule.js';

describe('schedule: filters', () => {
  const cases: {
    name: string;
    nodes: Parameters<typeof makeNode>[0][];
    task: Parameters<typeof makeTask>[0];
    placedOn?: string[];
    reason?: string;
  }[] = [
    { name: 'picks a ready active node', nodes: [{ name: 'a', state: 'down' }, { name: 'b' }], task: { service: 's' }, placedOn: ['b'] },
    { name: 'skips paused and drained nodes', nodes: [{ name: 'a', availability: 'pause' }, { name: 'b', availability: 'drain' }, { name: 'c' }], task: { service: 's' }, placedOn: ['c'] },
    {
      name: 'explains per filter',
      nodes: [{ name: 'a', memory: '64Mi' }, { name: 'b', memory: '64Mi' }, { name: 'c', labels: { zone: 'a' } }],
      task: { service: 's', memory: '128Mi', constraints: ['node.labels.zone==b'] },
      reason: 'no node fits: constraint node.labels.zone==b not met on 3 nodes',
    },
    {
      name: 'aggregates several filters',
      nodes: [{ name: 'a', memory: '64Mi', labels: { zone: 'b' } }, { name: 'b', memory: '64Mi', labels: { zone: 'b' } }, { name: 'c', labels: { zone: 'a' } }],
      task: { service: 's', memory: '128Mi', constraints: ['node.labels.zone==b'] },
      reason: 'no node fits: constraint node.labels.zone==b not met on 1 node; insufficient memory on 2 nodes',
    },
    { name: 'cpu in millicores', nodes: [{ name: 'a', cpu: '500m' }, { name: 'b', cpu: '2' }], task: { service: 's', cpu: '0.6' }, placedOn: ['b'] },
    { name: 'node.name constraint', nodes: [{ name: 'a' }, { name: 'b' }], task: { service: 's', constraints: ['node.name==b'] }, placedOn: ['b'] },
    { name: 'node.name != constraint', nodes: [{ name: 'a' }, { name: 'b' }], task: { service: 's', constraints: ['node.name!=a'] }, placedOn: ['b'] },
    { name: 'unknown constraint attribute never matches', nodes: [{ name: 'a' }], task: { service: 's', constraints: ['engine.labels.x==y'] }, reason: 'no node fits: constraint engine.labels.x==y not met on 1 node' },
    { name: 'node.role==worker: every node runs tasks', nodes: [{ name: 'a' }], task: { service: 's', constraints: ['node.role==worker'] }, placedOn: ['a'] },
    { name: 'node.role==manager: no node is one', nodes: [{ name: 'a' }], task: { service: 's', constraints: ['node.role==manager'] }, reason: 'no node fits: constraint node.role==manager not met on 1 node' },
    { name: 'node.id matches the uid', nodes: [{ name: 'a', uid: 'u-a' }, { name: 'b', uid: 'u-b' }], task: { service: 's', constraints: ['node.id==u-b'] }, placedOn: ['b'] },
    { name: 'no nodes', nodes: [], task: { service: 's' }, reason: 'no node fits: no nodes in the cluster' },
    { name: 'all down', nodes: [{ name: 'a', state: 'down' }, { name: 'b', state: 'down' }], task: { service: 's' }, reason: 'no node fits: node not ready on 2 nodes' },
    { name: 'pods limit', nodes: [{ name: 'a', pods: 1 }], task: { service: 's' }, placedOn: ['a'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const infos = buildNodeInfos(c.nodes.map(makeNode), []);
      const r = schedule([makeTask(c.task)], infos);
      if (c.placedOn) {
        expect(r.unschedulable).toEqual([]);
        expect(r.assignments.map((a) => a.nodeName)).toEqual(c.placedOn);
      } else {
        expect(r.assignments).toEqual([]);
        expect(r.unschedulable.map((u) => u.reason)).toEqual([c.reason]);
      }
    });
  }

  it('host-port conflicts keep two tasks of one service apart and report the port', () => {
    const infos = buildNodeInfos([makeNode({ name: 'a' }), makeNode({ name: 'b' })], []);
    const tasks = [1, 2, 3].map(() => makeTask({ service: 'web', hostPorts: [8080] }));
    const r = schedule(tasks, infos);
    expect(r.assignments.map((a) => a.nodeName).sort()).toEqual(['a', 'b']);
    expect(r.unschedulable[0]?.reason).toBe('no node fits: host port tcp/8080 already in use on 2 nodes');
  });

  it('maxReplicasPerNode', () => {
    const infos = buildNodeInfos([makeNode({ name: 'a' }), makeNode({ name: 'b' })], []);
    const tasks = [1, 2, 3, 4, 5].map(() => makeTask({ service: 'web', maxReplicasPerNode: 2 }));
    const r = schedule(tasks, infos);
    expect(r.assignments).toHaveLength(4);
    expect(r.unschedulable[0]?.reason).toBe('no node fits: max replicas per node (2) reached on 2 nodes');
  });

  it('counts tasks already running on a node against its resources', () => {
    const running = makeTask({ service: 'other', memory: '6Gi', nodeName: 'a', state: 'running' });
    const infos = buildNodeInfos([makeNode({ name: 'a', memory: '8Gi' }), makeNode({ name: 'b', memory: '1Gi' })], [running]);
    const r = schedule([makeTask({ service: 's', memory: '3Gi' })], infos);
    expect(r.unschedulable[0]?.reason).toBe('no node fits: insufficient memory on 2 nodes');
  });

  it('terminal tasks do not count', () => {
    const done = makeTask({ service: 'other', memory: '6Gi', nodeName: 'a', state: 'failed' });
    const infos = buildNodeInfos([makeNode({ name: 'a', memory: '8Gi' })], [done]);
    expect(schedule([makeTask({ service: 's', memory: '3Gi' })], infos).assignments).toHaveLength(1);
  });

  it('spreads a service first, then total load', () => {
    const busy = [1, 2, 3].map(() => makeTask({ service: 'other', nodeName: 'a', state: 'running' }));
    const infos = buildNodeInfos(['a', 'b', 'c'].map((name) => makeNode({ name })), busy);
    const r = schedule([1, 2, 3, 4].map(() => makeTask({ service: 'web' })), infos);
    const per = new Map<string, number>();
    for (const a of r.assignments) per.set(a.nodeName, (per.get(a.nodeName) ?? 0) + 1);
    // b, c (empty), then a (fewest of web), then b (tie on web: fewest in total, then name).
    expect(Object.fromEntries(per)).toEqual({ a: 1, b: 2, c: 1 });
  });

  it('a pinned task (global) goes to its node or explains why not', () => {
    const infos = buildNodeInfos([makeNode({ name: 'a', memory: '1Gi' }), makeNode({ name: 'b' })], []);
    const r = schedule([makeTask({ service: 'g', nodeName: 'b' }), makeTask({ service: 'g', nodeName: 'a', memory: '2Gi' }), makeTask({ service: 'g', nodeName: 'zz' })], infos);
    expect(r.assignments.map((x) => x.nodeName)).toEqual(['b']);
    expect(r.unschedulable.map((u) => u.reason)).toEqual(['no node fits: insufficient memory on 1 node (a)', 'no node fits: node zz does not exist']);
  });
});

describe('schedule: properties', () => {
  const nodeArb = fc.record({
    cpu: fc.integer({ min: 0, max: 4000 }),
    memMi: fc.integer({ min: 0, max: 4096 }),
    zone: fc.constantFrom('a', 'b', 'c'),
    state: fc.constantFrom('ready', 'ready', 'ready', 'down'),
    availability: fc.constantFrom('active', 'active', 'active', 'pause', 'drain'),
  });
  const taskArb = fc.record({
    service: fc.constantFrom('s1', 's2', 's3'),
    cpu: fc.integer({ min: 0, max: 1500 }),
    memMi: fc.integer({ min: 0, max: 1500 }),
    zone: fc.option(fc.constantFrom('a', 'b', 'c', '!a'), { nil: undefined }),
  });
  const world = fc.record({ nodes: fc.array(nodeArb, { minLength: 0, maxLength: 12 }), tasks: fc.array(taskArb, { minLength: 0, maxLength: 60 }) });

  it('never over resources, constraints and availability always respected, every task accounted once', () => {
    fc.assert(
      fc.property(world, ({ nodes, tasks }) => {
        const ns = nodes.map((n, i) =>
          makeNode({ name: `n${i}`, cpu: `${n.cpu}m`, memory: `${n.memMi}Mi`, labels: { zone: n.zone }, state: n.state as 'ready', availability: n.availability as 'active' }),
        );
        // The service's constraint is decided by its first task (a service has one spec).
        const zoneOf = new Map<string, string | undefined>();
        const ts = tasks.map((t) => {
          if (!zoneOf.has(t.service)) zoneOf.set(t.service, t.zone);
          const z = zoneOf.get(t.service);
          const constraints = z === undefined ? undefined : z.startsWith('!') ? [`node.labels.zone!=${z.slice(1)}`] : [`node.labels.zone==${z}`];
          return makeTask({ service: t.service, cpu: `${t.cpu}m`, memory: `${t.memMi}Mi`, ...(constraints ? { constraints } : {}) });
        });
        // Within a service all tasks share one spec: use the first task's requests for all of them.
        const first = new Map<string, (typeof ts)[number]>();
        for (const t of ts) if (!first.has(t.spec.serviceName)) first.set(t.spec.serviceName, t);
        const uniform = ts.map((t) => ({ ...t, spec: { ...t.spec, template: (first.get(t.spec.serviceName) ?? t).spec.template } }));
        const r = schedule(uniform, buildNodeInfos(ns, []));
        expect(r.assignments.length + r.unschedulable.length).toBe(uniform.length);
        const cpu = new Map<string, number>();
        const mem = new Map<string, number>();
        for (const a of r.assignments) {
          const node = ns.find((n) => n.metadata.name === a.nodeName);
          expect(node).toBeDefined();
          if (!node) continue;
          expect(node.status.state).toBe('ready');
          expect(node.spec.availability).toBe('active');
          for (const c of a.task.spec.placement?.constraints ?? []) {
            const [k, v] = c.replace('node.labels.', '').split(/==|!=/) as [string, string];
            const eq = node.spec.labels?.[k] === v;
            expect(c.includes('!=') ? !eq : eq).toBe(true);
          }
          const req = a.task.spec.template.spec.containers[0]?.resources?.requests as Record<string, string>;
          cpu.set(a.nodeName, (cpu.get(a.nodeName) ?? 0) + cpuMillis(req['cpu']));
          mem.set(a.nodeName, (mem.get(a.nodeName) ?? 0) + memoryBytes(req['memory']));
        }
        for (const n of ns) {
          const alloc = n.status.allocatable;
          if (!alloc) continue;
          const usedCpu = cpu.get(n.metadata.name) ?? 0;
          const usedMem = mem.get(n.metadata.name) ?? 0;
          // A zero request always fits; non-zero ones must stay within allocatable.
          if (usedCpu > 0) expect(usedCpu).toBeLessThanOrEqual(cpuMillis(alloc.cpu) + 0);
          if (usedMem > 0) expect(usedMem).toBeLessThanOrEqual(memoryBytes(alloc.memory));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('spread: with room everywhere, a service lands within one task between eligible nodes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 100 }), fc.array(fc.integer({ min: 0, max: 19 }), { maxLength: 30 }), (nNodes, nTasks, busyOn) => {
        const ns = Array.from({ length: nNodes }, (_, i) => makeNode({ name: `n${i}` }));
        const busy = busyOn.filter((i) => i < nNodes).map((i) => makeTask({ service: 'other', nodeName: `n${i}`, state: 'running' }));
        const r = schedule(Array.from({ length: nTasks }, () => makeTask({ service: 'web' })), buildNodeInfos(ns, busy));
        expect(r.assignments).toHaveLength(nTasks);
        const per = new Map<string, number>(ns.map((n) => [n.metadata.name, 0]));
        for (const a of r.assignments) per.set(a.nodeName, (per.get(a.nodeName) ?? 0) + 1);
        const counts = [...per.values()];
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });
});
