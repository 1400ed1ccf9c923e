import { describe, expect, it, vi } from 'vitest';
import type { TunnelRequest } from '../../api/index.js';
import { TunnelDispatcher } from './tunnel-dispatcher.js';

const req = (id: string): TunnelRequest => ({ id, op: 'logs', container: 'c1', task: 'default/t', query: {} });

/** A dispatcher whose requests run until aborted or ended by the test. */
function setup(maxStreams = 2) {
  const ac = new AbortController();
  const served: { id: string; signal: AbortSignal; end: (err?: Error) => void }[] = [];
  const refused: string[] = [];
  const warn = vi.fn();
  const d = new TunnelDispatcher({
    serve: (r, signal) =>
      new Promise<void>((resolve, reject) => {
        served.push({ id: r.id, signal, end: (err) => (err ? reject(err) : resolve()) });
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      }),
    refuse: async (r) => {
      refused.push(r.id);
    },
    maxStreams,
    log: { info: () => undefined, warn, error: () => undefined },
    signal: ac.signal,
  });
  return { d, ac, served, refused, warn };
}

describe('TunnelDispatcher', () => {
  it('serves requests once per id, cancels by id and ignores pings', async () => {
    const { d, served, warn } = setup();
    d.dispatch({ op: 'ping' });
    d.dispatch(req('a'));
    d.dispatch(req('a'));
    expect(served.map((s) => s.id)).toEqual(['a']);
    expect(d.activeStreams()).toBe(1);
    d.dispatch({ op: 'cancel', id: 'nope' });
    d.dispatch({ op: 'cancel', id: 'a' });
    expect(served[0]!.signal.aborted).toBe(true);
    await d.idle();
    expect(d.activeStreams()).toBe(0);
    expect(warn).not.toHaveBeenCalled(); // a canceled request's failure is not news
  });

  it('refuses requests beyond the limit and logs a failure', async () => {
    const { d, served, refused, warn } = setup(1);
    d.dispatch(req('a'));
    d.dispatch(req('b'));
    await Promise.resolve();
    expect(refused).toEqual(['b']);
    served[0]!.end(new Error('engine gone'));
    await d.idle();
    expect(warn).toHaveBeenCalledWith({ id: 'a', op: 'logs', task: 'default/t', err: 'engine gone' }, 'tunnel: serving a request failed');
    d.dispatch(req('c'));
    expect(served.map((s) => s.id)).toEqual(['a', 'c']);
    served[1]!.end();
    await d.idle();
  });

  it('aborts every request on its signal and waits for them', async () => {
    const { d, ac, served } = setup();
    d.dispatch(req('a'));
    d.dispatch(req('b'));
    ac.abort();
    expect(served.every((s) => s.signal.aborted)).toBe(true);
    await d.idle();
    expect(d.activeStreams()).toBe(0);
  });
});
