/**
 * The node monitor loop on a MemoryStore under fake timers: the heartbeat leases expire on the
 * fake clock, the loop's re-checks fire on it, so a controller restart plays out in virtual time.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Node, Task } from '../../api/index.js';
import { makeNode, makeTask } from '../../scheduler/index.js';
import { decodeObject, encodeObject, Informer, MemoryStore, objectKey, resourcePrefix, storeKeyOf } from '../../store/index.js';
import { HeartbeatService, NODE_LEASES_PREFIX } from '../heartbeat.js';
import { NODE_INDEX, runNodeMonitor, taskNodeIndex } from './node-monitor.js';

const TIMEOUT = 5000;

let store: MemoryStore;
const stops: (() => Promise<void>)[] = [];

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
  store = new MemoryStore();
});

afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
  await store.close();
  vi.useRealTimers();
});

async function nodeState(name: string): Promise<string | undefined> {
  const kv = await store.get(objectKey('nodes', undefined, name));
  return kv ? decodeObject<Node>(kv).status.state : undefined;
}
async function taskState(t: Task): Promise<string | undefined> {
  const kv = await store.get(storeKeyOf(t));
  return kv ? decodeObject<Task>(kv).status.state : undefined;
}

/** A leader term: fresh informers and the node monitor, started now. */
function startTerm(): { nodeStates: () => string[] } {
  const ac = new AbortController();
  const nodes = new Informer<Node>({ store, prefix: resourcePrefix('nodes'), decode: (kv) => decodeObject<Node>(kv) });
  const tasks = new Informer<Task>({ store, prefix: resourcePrefix('tasks'), decode: (kv) => decodeObject<Task>(kv), indexers: { [NODE_INDEX]: taskNodeIndex } });
  const leases = new Informer<unknown>({ store, prefix: NODE_LEASES_PREFIX, decode: (kv) => kv.value });
  const seen: string[] = [];
  nodes.addHandlers({ onUpdate: (p, c) => void (p.object.status.state !== c.object.status.state && seen.push(`${c.object.metadata.name} ${c.object.status.state}`)) });
  const runs = [nodes.run(ac.signal), tasks.run(ac.signal), leases.run(ac.signal), runNodeMonitor({ store, nodes, tasks, leases, nodeTimeoutMs: TIMEOUT, signal: ac.signal })];
  stops.push(async () => {
    ac.abort();
    await vi.advanceTimersByTimeAsync(10);
    await Promise.all(runs);
  });
  return { nodeStates: () => seen };
}

/** An agent beating `hb` every second until the returned function is called. */
function beating(hb: HeartbeatService, node: string): () => void {
  const t = setInterval(() => void hb.beat(node).catch(() => undefined), 1000);
  return () => clearInterval(t);
}

async function seed(): Promise<Task> {
  await store.create(objectKey('nodes', undefined, 'n1'), encodeObject(makeNode({ name: 'n1' })));
  const task = makeTask({ service: 'web', slot: 1, nodeName: 'n1', state: 'running' });
  await store.create(storeKeyOf(task), encodeObject(task));
  return task;
}

describe('node monitor: a new leader and the old leader’s leases', () => {
  it('an old lease that expires during the grace is not a death: the beat on the new controller keeps the node ready', async () => {
    const task = await seed();
    const old = new HeartbeatService({ store, nodeTimeoutMs: TIMEOUT });
    await old.beat('n1'); // t=0: the last beat the old controller took
    await vi.advanceTimersByTimeAsync(3000); // it dies; 3 s later the new leader starts
    const term = startTerm();
    await vi.advanceTimersByTimeAsync(2500); // t=5.5 s: the old lease has expired, the key is gone
    expect(await store.get(`${NODE_LEASES_PREFIX}n1`), 'old lease key gone').toBeUndefined();
    const fresh = new HeartbeatService({ store, nodeTimeoutMs: TIMEOUT });
    await fresh.beat('n1'); // t=5.5 s: the agent reached the new controller
    const stopBeats = beating(fresh, 'n1');
    stops.push(async () => stopBeats());
    await vi.advanceTimersByTimeAsync(20_000);
    expect(term.nodeStates(), 'node state changes').toEqual([]);
    expect(await nodeState('n1')).toBe('ready');
    expect(await taskState(task)).toBe('running');
  });

  it('a node that never reaches the new leader is down one grace after the term began, not before', async () => {
    const task = await seed();
    const old = new HeartbeatService({ store, nodeTimeoutMs: TIMEOUT });
    await old.beat('n1');
    await vi.advanceTimersByTimeAsync(3000);
    startTerm(); // grace until t=8 s
    await vi.advanceTimersByTimeAsync(4900); // t=7.9 s
    expect(await nodeState('n1'), 'inside the grace').toBe('ready');
    await vi.advanceTimersByTimeAsync(200); // t=8.1 s
    expect(await nodeState('n1'), 'after the grace').toBe('down');
    expect(await taskState(task)).toBe('orphaned');
  });

  it('after the grace a lease that expires marks the node down at once, and a beat brings it back', async () => {
    const task = await seed();
    const hb = new HeartbeatService({ store, nodeTimeoutMs: TIMEOUT });
    await hb.beat('n1');
    const stop = beating(hb, 'n1');
    const term = startTerm();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await nodeState('n1')).toBe('ready');
    stop(); // last beat at t=10 s: the lease expires 5 s later
    await vi.advanceTimersByTimeAsync(4000);
    expect(await nodeState('n1'), '4 s without a beat').toBe('ready');
    await vi.advanceTimersByTimeAsync(1500);
    expect(await nodeState('n1'), '5.5 s without a beat').toBe('down');
    expect(await taskState(task)).toBe('orphaned');
    await hb.beat('n1');
    await vi.advanceTimersByTimeAsync(100);
    expect(await nodeState('n1'), 'beating again').toBe('ready');
    expect(term.nodeStates()).toEqual(['n1 down', 'n1 ready']);
  });

  it('a node created during the term gets its own grace; a deleted node has its tasks orphaned', async () => {
    startTerm();
    await vi.advanceTimersByTimeAsync(20_000);
    const task = await seed(); // created at t=20 s, no beat yet
    await vi.advanceTimersByTimeAsync(4900);
    expect(await nodeState('n1'), 'inside its grace').toBe('ready');
    const hb = new HeartbeatService({ store, nodeTimeoutMs: TIMEOUT });
    await hb.beat('n1');
    await vi.advanceTimersByTimeAsync(1000);
    expect(await nodeState('n1'), 'beating').toBe('ready');
    await store.delete(objectKey('nodes', undefined, 'n1'));
    await vi.advanceTimersByTimeAsync(100);
    expect(await taskState(task)).toBe('orphaned');
  });
});
