import { afterEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../api/index.js';
import type { Clock } from './clock.js';
import { StoreElection } from './election.js';
import { MemoryStore } from './memory-store.js';
import type { Lease, Store } from './store.js';

const stores: MemoryStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** A clock whose time moves only by `set`, and whose timers run only by `fire` (due ones, in order). */
class ManualClock implements Clock {
  private t = 1_000_000;
  private readonly timers = new Set<{ at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn };
    this.timers.add(timer);
    return () => void this.timers.delete(timer);
  }
  set(ms: number): void {
    this.t = ms;
  }
  /** Runs the earliest due timer, if any. */
  fireNext(): boolean {
    const due = [...this.timers].filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at)[0];
    if (due === undefined) return false;
    this.timers.delete(due);
    due.fn();
    return true;
  }
}

/** A store whose lease renewals reach the inner store at once but whose answers are held until `release`. */
function heldAnswers(inner: MemoryStore): { store: Store; release: () => void; held: () => number } {
  let waiting: (() => void)[] = [];
  const store = Object.create(inner) as Store;
  store.grantLease = async (ttl: number): Promise<Lease> => {
    const lease = await inner.grantLease(ttl);
    return {
      ...lease,
      keepAlive: async () => {
        await lease.keepAlive();
        await new Promise<void>((r) => waiting.push(r));
      },
    };
  };
  return {
    store,
    release: () => {
      const w = waiting;
      waiting = [];
      for (const r of w) r();
    },
    held: () => waiting.length,
  };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

describe('StoreElection: a leader notices by the clock that its term is over', () => {
  it('is lost when a whole TTL passes after the last renewal was sent, answered or not', async () => {
    const clock = new ManualClock();
    const mem = new MemoryStore({ clock });
    stores.push(mem);
    const h = heldAnswers(mem);
    const e = new StoreElection(h.store, 'x', 'a', 2, clock);
    await e.campaign(new AbortController().signal);
    const t0 = clock.now();
    // The keep-alive timer (TTL/3) sends a renewal; its answer is held (the process is "frozen").
    clock.set(t0 + 700);
    expect(clock.fireNext()).toBe(true);
    await settle();
    expect(h.held()).toBe(1);
    expect(e.lost.aborted).toBe(false);
    // Resumed 10 s later; the I/O (the renewal's old answer) is handled before any timer.
    clock.set(t0 + 10_000);
    h.release();
    await settle();
    expect(e.lost.aborted).toBe(true);
    expect(isShoalError(e.lost.reason, 'Unavailable')).toBe(true);
    expect(String((e.lost.reason as Error).message)).toMatch(/TTL of 2 s passed without a renewal/);
  });

  it('is lost at the deadline while a renewal hangs (no answer, no error)', async () => {
    const clock = new ManualClock();
    const mem = new MemoryStore({ clock });
    stores.push(mem);
    const h = heldAnswers(mem);
    const e = new StoreElection(h.store, 'x', 'a', 2, clock);
    await e.campaign(new AbortController().signal);
    const t0 = clock.now();
    clock.set(t0 + 1999);
    while (clock.fireNext()) await settle();
    expect(e.lost.aborted).toBe(false);
    clock.set(t0 + 2000);
    while (clock.fireNext()) await settle();
    expect(e.lost.aborted).toBe(true);
  });

  it('stays the leader while renewals are answered in time', async () => {
    const clock = new ManualClock();
    const mem = new MemoryStore({ clock });
    stores.push(mem);
    const e = new StoreElection(mem, 'x', 'a', 2, clock);
    await e.campaign(new AbortController().signal);
    for (let i = 1; i <= 30; i++) {
      clock.set(clock.now() + 200);
      while (clock.fireNext()) await settle();
    }
    expect(e.lost.aborted).toBe(false);
    await e.resign();
    expect(e.lost.aborted).toBe(true);
  });
});
