import { describe, expect, it } from 'vitest';
import type { LayerProgress } from '../../api/index.js';
import { ProgressWriter, PullProgress, SharedPulls } from './pulls.js';

/** A runtime whose pulls the test ends by hand. */
class ManualPulls {
  readonly started: { ref: string; progress: (ev: LayerProgress) => void; end: (err?: Error) => void }[] = [];
  pull = (ref: string, progress: (ev: LayerProgress) => void): Promise<void> =>
    new Promise((resolve, reject) => this.started.push({ ref, progress, end: (err) => (err ? reject(err) : resolve()) }));
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('SharedPulls', () => {
  it('pulls each image once for every task waiting on it and fans the progress out', async () => {
    const rt = new ManualPulls();
    const pulls = new SharedPulls(rt, new AbortController().signal);
    const seen: string[] = [];
    const a = pulls.pull('busybox', (ev) => seen.push(`a:${ev.id}`));
    const b = pulls.pull('busybox', (ev) => seen.push(`b:${ev.id}`));
    const other = pulls.pull('alpine', () => undefined);
    expect(rt.started.map((p) => p.ref)).toEqual(['busybox', 'alpine']);
    expect(pulls.inFlight).toBe(2);
    rt.started[0]!.progress({ id: 'l1', status: 'downloading' });
    expect(seen).toEqual(['a:l1', 'b:l1']);
    rt.started[0]!.end();
    await Promise.all([a, b]);
    expect(pulls.inFlight).toBe(1);
    // A pull after the last one ended is a new pull; a failure reaches every waiter.
    const c = pulls.pull('busybox', () => undefined);
    const d = pulls.pull('busybox', () => undefined);
    expect(rt.started).toHaveLength(3);
    rt.started[2]!.end(new Error('manifest unknown'));
    await expect(c).rejects.toThrow('manifest unknown');
    await expect(d).rejects.toThrow('manifest unknown');
    rt.started[1]!.end();
    await other;
    expect(pulls.inFlight).toBe(0);
  });

  it('stops passing progress to a waiter once its pull ended', async () => {
    const rt = new ManualPulls();
    const pulls = new SharedPulls(rt, new AbortController().signal);
    let n = 0;
    const p = pulls.pull('busybox', () => n++);
    rt.started[0]!.end();
    await p;
    rt.started[0]!.progress({ id: 'late', status: 'downloading' });
    expect(n).toBe(0);
  });
});

describe('PullProgress and ProgressWriter', () => {
  it('sums layers; done and exists count in full', () => {
    const p = new PullProgress();
    p.add({ id: 'a', status: 'downloading', current: 10, total: 100 });
    p.add({ id: 'b', status: 'exists', total: 50 });
    p.add({ id: 'a', status: 'downloading', current: 40 });
    expect(p.get()).toEqual({ current: 90, total: 150 });
    p.add({ id: 'a', status: 'done' });
    expect(p.get()).toEqual({ current: 150, total: 150 });
  });

  it('writes at most once per interval, one write at a time, and drops failed writes', async () => {
    let now = 10_000;
    const writes: { current: number; total: number }[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let fail = false;
    const w = new ProgressWriter(1000, async (p) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await tick();
      inFlight--;
      if (fail) throw new Error('409');
      writes.push(p);
    }, () => now);
    w.add({ id: 'a', status: 'downloading', current: 1, total: 10 });
    now += 500;
    w.add({ id: 'a', status: 'downloading', current: 2 }); // within the interval: summed, not written
    await w.settled();
    now += 500;
    fail = true;
    w.add({ id: 'a', status: 'downloading', current: 3 });
    w.add({ id: 'b', status: 'downloading', current: 0, total: 5 }); // within the interval
    await w.settled();
    fail = false;
    now += 1000;
    w.add({ id: 'a', status: 'done' });
    now += 1000;
    w.add({ id: 'b', status: 'done' }); // queued behind the write under way
    await w.settled();
    expect(writes).toEqual([{ current: 1, total: 10 }, { current: 10, total: 15 }, { current: 15, total: 15 }]);
    expect(maxInFlight).toBe(1);
  });
});
