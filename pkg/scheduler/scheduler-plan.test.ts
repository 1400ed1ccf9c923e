import { describe, expect, it } from 'vitest';
import type { Task } from '../api/index.js';
import { decodeObject, storeKeyOf, type Cached, type Informer } from '../store/index.js';
import { makeNode, makeTask } from './fixtures.js';
import { buildNodeInfos } from './node-info.js';
import { AssumedAssignments, passSnapshot, planChunk } from './scheduler-plan.js';

function cached(t: Task, modRevision: number): Cached<Task> {
  return { key: storeKeyOf(t), object: t, modRevision };
}

/** The part of an Informer a snapshot reads, over a fixed cache. */
function fakeInformer(items: Cached<Task>[], revision: number): Informer<Task> {
  const byKey = new Map(items.map((c) => [c.key, c]));
  return { list: () => items, get: (k: string) => byKey.get(k), revision } as unknown as Informer<Task>;
}

describe('planChunk', () => {
  it('assigns what fits with a CAS on each task, and writes a changed "no node fits" message only', () => {
    const infos = buildNodeInfos([makeNode({ name: 'n1', memory: '1Gi' })], []);
    const fits = makeTask({ service: 'web', name: 'web.1.a', memory: '10Mi' });
    const big = makeTask({ service: 'big', name: 'big.1.a', memory: '2Gi' });
    const told = { ...makeTask({ service: 'big', name: 'big.2.a', memory: '2Gi' }), status: { state: 'pending' as const, message: 'no node fits: insufficient memory on 1 node' } };
    const plan = planChunk([cached(fits, 7), cached(big, 8), cached(told, 9)], infos, Date.parse('2026-01-01T00:00:00Z'));
    expect(plan.unschedulable).toBe(2);
    expect(plan.ops.map((o) => [o.key, o.op === 'update' && o.expectModRevision])).toEqual([
      [storeKeyOf(fits), 7],
      [storeKeyOf(big), 8],
    ]);
    const assigned = decodeObject<Task>({ key: storeKeyOf(fits), value: plan.ops[0]?.op === 'update' ? plan.ops[0].value : '', createRevision: 1, modRevision: 10 });
    expect(assigned.spec.nodeName).toBe('n1');
    expect(assigned.status).toEqual({ state: 'assigned', timestamp: '2026-01-01T00:00:00.000Z' });
    expect([...plan.assigned.keys()]).toEqual([storeKeyOf(fits)]);
    const explained = decodeObject<Task>({ key: storeKeyOf(big), value: plan.ops[1]?.op === 'update' ? plan.ops[1].value : '', createRevision: 1, modRevision: 10 });
    expect(explained.status).toMatchObject({ state: 'pending', message: 'no node fits: insufficient memory on 1 node', reason: 'Unschedulable' });
    // The node view now holds the placement: the next chunk sees the memory taken.
    expect(infos.get('n1')?.taskCount).toBe(1);
  });
});

describe('passSnapshot', () => {
  it('reads assumed assignments in place of stale versions until the informer shows them', () => {
    const pending = makeTask({ service: 'web', name: 'web.1.a' });
    const assigned: Task = { ...pending, spec: { ...pending.spec, nodeName: 'n1' }, status: { state: 'assigned' } };
    const assumed = new AssumedAssignments();
    assumed.add(storeKeyOf(pending), assigned, 20);
    const stale = passSnapshot(fakeInformer([cached(pending, 10)], 15), assumed);
    expect(stale.all).toEqual([assigned]);
    expect(stale.pending).toEqual([]);
    const caughtUp = passSnapshot(fakeInformer([cached(pending, 20)], 20), assumed);
    expect(caughtUp.all).toEqual([pending]);
    expect(caughtUp.pending.map((c) => c.key)).toEqual([storeKeyOf(pending)]);
  });

  it('forgets an assumed task the informer no longer has once it passed its revision', () => {
    const t = makeTask({ service: 'web', name: 'web.1.a' });
    const assumed = new AssumedAssignments();
    assumed.add(storeKeyOf(t), t, 20);
    passSnapshot(fakeInformer([], 19), assumed);
    expect(assumed.resolve(storeKeyOf(t), 0)).toBe(t);
    passSnapshot(fakeInformer([], 20), assumed);
    expect(assumed.resolve(storeKeyOf(t), 0)).toBeUndefined();
  });
});
