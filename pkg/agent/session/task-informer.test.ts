import { describe, expect, it } from 'vitest';
import { API_VERSION, ShoalError, type List, type Task, type WatchEvent } from '../../api/index.js';
import { Backoff } from '../../util/index.js';
import { TaskInformer } from './task-informer.js';

const task = (name: string, rv: number, nodeName = 'n1'): Task => ({
  apiVersion: API_VERSION, kind: 'Task', metadata: { name, namespace: 'default', resourceVersion: String(rv) },
  spec: { serviceName: 'web', serviceGeneration: 1, nodeName, desiredState: 'running', template: { spec: { containers: [{ name: 'm', image: 'img' }] } } },
  status: { state: 'assigned' },
});

/** A controller whose list the test sets and whose watch streams the given events, then ends. */
class FakeApi {
  items: Task[] = [];
  lists = 0;
  selectors: string[] = [];
  watchedFrom: string[] = [];
  streams: (WatchEvent<Task>[] | Error)[] = [];
  listTasks = async (selector: string): Promise<List<Task>> => {
    this.lists++;
    this.selectors.push(selector);
    return { apiVersion: API_VERSION, kind: 'TaskList', metadata: { resourceVersion: String(100 + this.lists) }, items: this.items };
  };
  async *watchTasks(_s: string, rv: string, signal: AbortSignal): AsyncIterable<WatchEvent<Task>> {
    this.watchedFrom.push(rv);
    const s = this.streams.shift();
    if (s instanceof Error) throw s;
    for (const ev of s ?? []) yield ev;
    if (this.streams.length === 0) await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
  }
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('TaskInformer', () => {
  it('lists this node’s tasks, applies watch events in order, and relists when the stream ends or fails', async () => {
    const api = new FakeApi();
    api.items = [task('a', 1), task('b', 2), task('elsewhere', 3, 'n2')];
    api.streams = [
      [
        { type: 'MODIFIED', object: task('a', 5) },
        { type: 'MODIFIED', object: task('a', 4) }, // older: ignored
        { type: 'ADDED', object: task('c', 6) },
        { type: 'MODIFIED', object: task('b', 7, 'n2') }, // moved away: gone here
      ],
      new ShoalError('Gone', 'compacted'),
      [{ type: 'DELETED', object: task('a', 9) }],
    ];
    const inf = new TaskInformer({ api, nodeName: 'n1', log: quiet, backoff: () => new Backoff({ minMs: 1, maxMs: 2 }) });
    const syncs: string[][] = [];
    const changes: string[] = [];
    inf.addHandlers({ onSync: () => syncs.push([...inf.keys()].sort()), onChange: (k) => changes.push(k) });
    const ac = new AbortController();
    expect(inf.synced()).toBe(false);
    const run = inf.run(ac.signal);
    const ready = async (): Promise<void> => {
      while (api.streams.length > 0 || changes.length < 5) await new Promise((r) => setTimeout(r, 5));
    };
    api.items = [task('a', 8), task('c', 6)]; // what the relists find
    await ready();
    ac.abort();
    await run;
    expect(api.selectors[0]).toBe('spec.nodeName=n1');
    expect(syncs[0]).toEqual(['default/a', 'default/b']);
    expect(syncs.slice(1)).toEqual([['default/a', 'default/c'], ['default/a', 'default/c']]);
    expect(changes).toEqual(['default/a', 'default/a', 'default/c', 'default/b', 'default/a']);
    expect(api.watchedFrom).toEqual(['101', '102', '103']);
    expect([...inf.keys()]).toEqual(['default/c']);
    expect(inf.synced()).toBe(true);
  });

  it('keeps the newest version and does not bring back a task deleted during a write', () => {
    const inf = new TaskInformer({ api: new FakeApi(), nodeName: 'n1', log: quiet, backoff: () => new Backoff() });
    inf.observe(task('a', 5));
    inf.observe(task('a', 4));
    expect(inf.get('default/a')?.metadata.resourceVersion).toBe('5');
    inf.set('default/a', task('a', 3)); // a re-read is taken as it is
    expect(inf.get('default/a')?.metadata.resourceVersion).toBe('3');
    inf.set('default/a', undefined);
    inf.observeWrite(task('a', 6));
    expect(inf.get('default/a')).toBeUndefined();
    expect(inf.size).toBe(0);
  });
});

describe('TaskInformer.relist', () => {
  it('cuts a watch that hangs without ending and lists again at once', async () => {
    const api = new FakeApi();
    api.items = [task('a', 1)];
    api.streams = [[]]; // one stream that never ends (a dead connection)
    const inf = new TaskInformer({ api, nodeName: 'n1', log: quiet, backoff: () => new Backoff({ minMs: 10_000, maxMs: 10_000 }) });
    const ac = new AbortController();
    const run = inf.run(ac.signal);
    while (api.watchedFrom.length < 1) await new Promise((r) => setTimeout(r, 5));
    api.items = [{ ...task('a', 9), status: { state: 'orphaned' } }];
    inf.relist();
    while (api.lists < 2) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 5));
    expect(inf.get('default/a')?.status.state).toBe('orphaned');
    ac.abort();
    await run;
  });

  it('ends a backoff pause: the next list starts at once', async () => {
    const api = new FakeApi();
    let fail = true;
    const list = api.listTasks;
    api.listTasks = async (s: string): Promise<List<Task>> => {
      if (fail) {
        api.lists++;
        throw new ShoalError('Unavailable', 'down');
      }
      return list(s);
    };
    const inf = new TaskInformer({ api, nodeName: 'n1', log: quiet, backoff: () => new Backoff({ minMs: 60_000, maxMs: 60_000 }) });
    const ac = new AbortController();
    const run = inf.run(ac.signal);
    while (api.lists < 1) await new Promise((r) => setTimeout(r, 5));
    fail = false;
    const t0 = performance.now();
    inf.relist();
    while (!inf.synced()) await new Promise((r) => setTimeout(r, 5));
    expect(performance.now() - t0, 'listed without waiting out the 60 s pause').toBeLessThan(1000);
    ac.abort();
    await run;
  });
});
