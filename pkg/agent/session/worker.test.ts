import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONTAINER_TASK_LABEL } from '../../api/index.js';
import type { TaskContainer } from './task-runtime.js';
import { Worker } from './worker.js';

const ctr = (id: string, key: string, status: TaskContainer['status'] = 'running'): TaskContainer => ({ id, name: id, labels: { [CONTAINER_TASK_LABEL]: key }, status, exitCode: 0, oomKilled: false });

describe('Worker', () => {
  let ac = new AbortController();
  afterEach(() => {
    ac.abort();
    ac = new AbortController();
  });

  /** A worker whose passes the test ends by hand. */
  function setup(containers: TaskContainer[] = [], keys: string[] = []) {
    const passes: { key: string; end: (err?: Error) => void }[] = [];
    const exits = new Map<string, () => void>();
    const settled = vi.fn();
    const error = vi.fn();
    const w = new Worker({
      pass: (key) => new Promise<void>((resolve, reject) => passes.push({ key, end: (err) => (err ? reject(err) : resolve()) })),
      taskKeys: () => keys,
      runtime: {
        taskContainers: () => containers,
        waitExit: (id) => new Promise<void>((r) => exits.set(id, r)),
      },
      log: { info: () => undefined, warn: () => undefined, error },
      signal: ac.signal,
      onSettled: settled,
    });
    return { w, passes, exits, settled, error };
  }
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('runs one pass per task at a time, and one more after kicks that came meanwhile', async () => {
    const { w, passes, settled } = setup();
    w.kick('a');
    w.kick('b');
    w.kick('a');
    w.kick('a');
    expect(passes.map((p) => p.key)).toEqual(['a', 'b']);
    expect(w.active).toBe(2);
    passes[0]!.end();
    await tick();
    expect(passes.map((p) => p.key)).toEqual(['a', 'b', 'a']);
    expect(settled).toHaveBeenCalledTimes(1);
    passes[2]!.end();
    passes[1]!.end();
    await w.idle();
    expect(w.active).toBe(0);
    expect(passes).toHaveLength(3);
  });

  it('logs a failed pass and goes on', async () => {
    const { w, passes, error } = setup();
    w.kick('a');
    passes[0]!.end(new Error('boom'));
    await w.idle();
    expect(error).toHaveBeenCalledWith({ err: 'boom', task: 'a' }, 'task worker failed');
    w.kick('a');
    expect(passes).toHaveLength(2);
  });

  it('resyncs every cached task and every labelled container once', () => {
    const { w, passes } = setup([ctr('c1', 'ns/a'), ctr('c2', 'ns/orphan'), { ...ctr('c3', 'x'), labels: {} }], ['ns/a', 'ns/b']);
    w.resyncAll();
    expect(passes.map((p) => p.key).sort()).toEqual(['ns/a', 'ns/b', 'ns/orphan']);
  });

  it('watches each running container once and kicks its task at the exit', async () => {
    const { w, passes, exits } = setup();
    w.watchExit('a', ctr('c1', 'a'));
    w.watchExit('a', ctr('c1', 'a'));
    w.watchExit('b', ctr('c2', 'b', 'exited'));
    expect([...exits.keys()]).toEqual(['c1']);
    exits.get('c1')!();
    await tick();
    expect(passes.map((p) => p.key)).toEqual(['a']);
  });

  it('starts nothing once the signal fired', async () => {
    const { w, passes } = setup([], ['a']);
    ac.abort();
    w.kick('a');
    w.resyncAll();
    await w.resyncEvery(1, () => true);
    expect(passes).toHaveLength(0);
  });
});
