import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { runStoreConformance } from './conformance.js';
import { MemoryStore } from './memory-store.js';

runStoreConformance('MemoryStore', () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  return Promise.resolve({ store, advance: (ms) => clock.advance(ms), cleanup: () => store.close() });
});

describe('MemoryStore specifics', () => {
  it('elections whose names nest do not see each other', async () => {
    const store = new MemoryStore();
    const ac = new AbortController();
    const a = store.election('a', 'x', 5);
    const ab = store.election('a/b', 'y', 5);
    await a.campaign(ac.signal);
    await ab.campaign(ac.signal);
    expect(await a.leader()).toBe('x');
    expect(await ab.leader()).toBe('y');
    await a.resign();
    await ab.resign();
    await store.close();
  });

  it('aborted watches leave no listeners behind', async () => {
    const store = new MemoryStore();
    const acs = Array.from({ length: 5 }, () => new AbortController());
    const loops = acs.map(async (ac) => {
      for await (const _ of store.watch('/x/', { signal: ac.signal })) {
        // drain
      }
    });
    await store.put('/x/a', '1');
    expect(store.watcherCount).toBe(5);
    for (const ac of acs) ac.abort();
    await Promise.all(loops);
    expect(store.watcherCount).toBe(0);
    const breakEarly = (async () => {
      for await (const _ of store.watch('/x/', { fromRevision: 1, signal: new AbortController().signal })) break;
    })();
    await breakEarly;
    expect(store.watcherCount).toBe(0);
    await store.close();
  });

  it('keeps a bounded history and reports older revisions as Gone', async () => {
    const store = new MemoryStore({ maxHistory: 3 });
    for (let i = 0; i < 10; i++) await store.put('/h/k', String(i));
    const iter = store.watch('/h/', { fromRevision: 2, signal: new AbortController().signal })[Symbol.asyncIterator]();
    await expect(iter.next()).rejects.toMatchObject({ code: 'Gone' });
    const rev = await store.revision();
    const ok = store.watch("/h/", { fromRevision: rev - 2, signal: AbortSignal.timeout(1000) })[Symbol.asyncIterator]();
    expect((await ok.next()).value).toHaveLength(1);
    await store.close();
  });

  it('close ends open watches and rejects further calls with Unavailable', async () => {
    const store = new MemoryStore();
    const iter = store.watch('/c/', { signal: new AbortController().signal })[Symbol.asyncIterator]();
    const next = iter.next();
    await store.close();
    expect(await next).toEqual({ value: undefined, done: true });
    await expect(store.get('/c/a')).rejects.toMatchObject({ code: 'Unavailable' });
  });
});
