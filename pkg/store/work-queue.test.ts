import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './work-queue.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('WorkQueue', () => {
  it('takes each queued key once, in the order first queued', async () => {
    const q = new WorkQueue(new AbortController().signal);
    q.add('b');
    q.add('a');
    q.add('b');
    expect(q.size).toBe(2);
    await q.wait();
    expect(q.take()).toEqual(['b', 'a']);
    expect(q.take()).toEqual([]);
    q.close();
  });

  it('wait resolves when a key is queued, or when the signal fires', async () => {
    const ac = new AbortController();
    const q = new WorkQueue(ac.signal);
    let woke = false;
    const waiting = q.wait().then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    q.add('x');
    await waiting;
    expect(q.take()).toEqual(['x']);
    const aborted = q.wait();
    ac.abort();
    await aborted;
    expect(q.take()).toEqual([]);
    q.close();
  });

  it('addAfter queues later; a newer timer for a key replaces the older; close cancels them', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue(new AbortController().signal);
    q.addAfter('a', 100);
    q.addAfter('a', 300);
    q.addAfter('b', 200);
    vi.advanceTimersByTime(150);
    expect(q.size).toBe(0);
    vi.advanceTimersByTime(100);
    expect(q.take()).toEqual(['b']);
    vi.advanceTimersByTime(100);
    expect(q.take()).toEqual(['a']);
    q.addAfter('c', 50);
    q.close();
    vi.advanceTimersByTime(100);
    expect(q.size).toBe(0);
    q.addAfter('d', 0);
    vi.advanceTimersByTime(10);
    expect(q.size).toBe(0);
  });
});
