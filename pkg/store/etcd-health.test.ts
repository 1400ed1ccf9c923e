import { describe, expect, it } from 'vitest';
import { EtcdHealthTracker, isConnectionFailure, judgeEtcdHealth, type MemberProbe } from './etcd-health.js';

const A = 'http://127.0.0.1:1001';
const B = 'http://127.0.0.1:1002';
const C = 'http://127.0.0.1:1003';
const up = (endpoint: string, memberId: string, leaderId: string | undefined, raftTerm = 2): MemberProbe => ({ endpoint, reachable: true, memberId, leaderId, raftTerm });
const refused = (endpoint: string): MemberProbe => ({ endpoint, reachable: false, refused: true, error: 'connect ECONNREFUSED' });
const silent = (endpoint: string): MemberProbe => ({ endpoint, reachable: false, refused: false, error: 'deadline exceeded' });
const known = new Map([[A, 'a'], [B, 'b'], [C, 'c']]);

describe('judgeEtcdHealth', () => {
  it('is ok when a reachable member reports a live leader', () => {
    expect(judgeEtcdHealth([up(A, 'a', 'b'), up(B, 'b', 'b'), up(C, 'c', 'b')], known)).toEqual({ state: 'ok', leader: { memberId: 'b', endpoint: B } });
    // One member down (a follower): still ok.
    expect(judgeEtcdHealth([up(A, 'a', 'b'), up(B, 'b', 'b'), refused(C)], known).state).toBe('ok');
  });

  it('has no leader when the leader member refuses connections and the others still follow it', () => {
    const v = judgeEtcdHealth([up(A, 'a', 'b'), refused(B), up(C, 'c', 'b')], known);
    expect(v.state).toBe('no-leader');
    expect(v.reason).toMatch(/leader .*1002.* is down/);
  });

  it('trusts the followers when the leader only times out (a partition between us and it proves nothing)', () => {
    expect(judgeEtcdHealth([up(A, 'a', 'b'), silent(B), up(C, 'c', 'b')], known)).toMatchObject({ state: 'ok', leader: { memberId: 'b' } });
  });

  it('takes the report of the highest term when members disagree', () => {
    expect(judgeEtcdHealth([up(A, 'a', 'b', 2), refused(B), up(C, 'c', 'c', 3)], known)).toMatchObject({ state: 'ok', leader: { memberId: 'c', endpoint: C } });
  });

  it('has no leader when no member answers, or none has a leader (quorum lost)', () => {
    expect(judgeEtcdHealth([refused(A), refused(B), silent(C)], known)).toMatchObject({ state: 'no-leader', reason: expect.stringMatching(/no etcd member answers/) as unknown });
    expect(judgeEtcdHealth([up(A, 'a', undefined), silent(B), refused(C)], known)).toMatchObject({ state: 'no-leader', reason: expect.stringMatching(/no etcd member has a leader.*1 of 3/) as unknown });
  });

  it('has no quorum when most members refuse connections, even while the survivor still believes in its leader', () => {
    expect(judgeEtcdHealth([up(A, 'a', 'a'), refused(B), refused(C)], known)).toMatchObject({ state: 'no-leader', reason: '2 of 3 etcd members are down: no quorum' });
    // Timeouts are not deaths.
    expect(judgeEtcdHealth([up(A, 'a', 'a'), silent(B), refused(C)], known).state).toBe('ok');
    expect(judgeEtcdHealth([refused(A)], new Map()).state).toBe('no-leader');
  });

  it('accepts a leader that is not among our endpoints', () => {
    expect(judgeEtcdHealth([up(A, 'a', 'z')], new Map())).toEqual({ state: 'ok', leader: { memberId: 'z' } });
  });
});

describe('EtcdHealthTracker', () => {
  const tracker = (): EtcdHealthTracker => new EtcdHealthTracker({ endpoints: [A, B, C], probe: () => Promise.reject(new Error('not used')), now: () => 1000 });

  it('fails fast and answers the calls in flight once the cluster has no leader', async () => {
    const t = tracker();
    t.apply([up(A, 'a', 'b'), up(B, 'b', 'b'), up(C, 'c', 'b')]);
    expect(() => t.check('get /x')).not.toThrow();
    const hung = t.guard(new Promise<never>(() => {}), 'put /x');
    const done = t.guard(Promise.resolve(7), 'get /y');
    await expect(done).resolves.toBe(7);
    t.apply([up(A, 'a', 'b'), refused(B), refused(C)]);
    await expect(hung).rejects.toMatchObject({ code: 'Unavailable', retryAfterSeconds: 1, message: expect.stringMatching(/^put \/x: etcd cannot commit now: 2 of 3 etcd members are down/) as unknown });
    expect(() => t.check('get /x')).toThrow(expect.objectContaining({ code: 'Unavailable' }) as unknown as Error);
    await expect(t.guard(Promise.resolve(1), 'get /z')).rejects.toMatchObject({ code: 'Unavailable' });
    expect(t.current()).toMatchObject({ state: 'no-leader', members: [{ endpoint: A, reachable: true }, { endpoint: B, reachable: false, memberId: 'b' }, { reachable: false }] });
  });

  it('wakes the waiters and serves again when a leader is back', async () => {
    const t = tracker();
    t.apply([up(A, 'a', undefined), refused(B), refused(C)]);
    const ac = new AbortController();
    let woke = false;
    const wait = t.untilHealthy(ac.signal).then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    t.apply([up(A, 'a', 'c', 3), refused(B), up(C, 'c', 'c', 3)]);
    await wait;
    expect(t.current()).toMatchObject({ state: 'ok', leader: { memberId: 'c', endpoint: C }, members: [{ isLeader: false }, { isLeader: false }, { isLeader: true }] });
    expect(() => t.check('x')).not.toThrow();
  });

  it('holds a member down from a failed probe or a failed connection until a probe answers', () => {
    const t = tracker();
    t.apply([up(A, 'a', 'b'), up(B, 'b', 'b'), refused(C)]);
    expect([t.isDown(A), t.isDown(B), t.isDown(C)]).toEqual([false, false, true]);
    t.markDown(A);
    t.markDown('http://elsewhere:1');
    expect(t.isDown(A)).toBe(true);
    t.apply([up(A, 'a', 'b'), up(B, 'b', 'b'), up(C, 'c', 'b')]);
    expect([t.isDown(A), t.isDown(B), t.isDown(C)]).toEqual([false, false, false]);
  });

  it('reports changes only', () => {
    const seen: string[] = [];
    const t = new EtcdHealthTracker({ endpoints: [A], probe: () => Promise.reject(new Error('x')), onChange: (h) => seen.push(h.state) });
    t.apply([up(A, 'a', 'a')]);
    t.apply([up(A, 'a', 'a')]);
    t.apply([refused(A)]);
    t.apply([up(A, 'a', 'a')]);
    expect(seen).toEqual(['ok', 'no-leader', 'ok']);
  });

  it('probes in the background and stops on close', async () => {
    let calls = 0;
    const t = new EtcdHealthTracker({ endpoints: [A], intervalMs: 20, probe: () => (calls++, Promise.resolve({ memberId: 'a', leaderId: 'a', raftTerm: 1 })) });
    t.start();
    // Rounds are at least 100 ms apart, whatever the interval.
    await new Promise((r) => setTimeout(r, 350));
    await t.close();
    const after = calls;
    expect(after).toBeGreaterThanOrEqual(3);
    expect(after).toBeLessThanOrEqual(5);
    expect(t.current().state).toBe('ok');
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toBe(after);
  });
});

describe('isConnectionFailure', () => {
  it('tells connection failures from other errors', () => {
    expect(isConnectionFailure(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:2379'))).toBe(true);
    expect(isConnectionFailure(new Error('14 UNAVAILABLE: etcdserver: no leader'))).toBe(false);
    expect(isConnectionFailure(new Error('etcdserver: request timed out'))).toBe(false);
  });
});
