import { describe, expect, it, vi } from 'vitest';
import { errors, type Node } from '../../api/index.js';
import type { MachineInfo } from './node-info.js';
import { heartbeatBackoff } from './pacing.js';
import { NodeRegistration, podCIDRCheckDue, type NodeRegistrationOptions, type PodCIDRState } from './registration.js';

const due = (s: PodCIDRState, beats = 20): number[] => Array.from({ length: beats }, (_, i) => i + 1).filter((b) => podCIDRCheckDue(b, s));

describe('podCIDRCheckDue', () => {
  it('checks every tenth beat once the network is on the pod CIDR', () => {
    expect(due({ hook: true, podCIDR: '10.244.1.0/24', applied: '10.244.1.0/24' })).toEqual([10, 20]);
    expect(due({ hook: false, podCIDR: '10.244.1.0/24', applied: undefined })).toEqual([10, 20]);
  });

  it('checks every second beat while no pod CIDR is assigned', () => {
    expect(due({ hook: false, podCIDR: undefined, applied: undefined }, 6)).toEqual([2, 4, 6]);
  });

  it('checks every beat while the hook has not applied the current pod CIDR', () => {
    expect(due({ hook: true, podCIDR: undefined, applied: undefined }, 3)).toEqual([1, 2, 3]);
    expect(due({ hook: true, podCIDR: '10.244.2.0/24', applied: '10.244.1.0/24' }, 3)).toEqual([1, 2, 3]);
  });
});

describe('NodeRegistration heartbeats', () => {
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const identity = { nodeName: 'n1', labels: {}, hostname: 'h', agentVersion: 't' };
  const probe = async (): Promise<MachineInfo> => ({ cpuMillis: 1000, memoryBytes: 1 << 30, kernel: 'k', arch: 'x64', cgroupVersion: 1 });

  /** A controller whose beats fail (`down`) or hang until their deadline (`hang`), recording when each began. */
  function fakeApi(): { api: NodeRegistrationOptions['api']; beats: { at: number; deadlineMs: number | undefined }[]; mode: { down: boolean; hang: boolean } } {
    let node: Node | undefined;
    const mode = { down: false, hang: false };
    const beats: { at: number; deadlineMs: number | undefined }[] = [];
    const api: NodeRegistrationOptions['api'] = {
      getNode: async () => node,
      createNode: async (n) => (node = { ...n, metadata: { ...n.metadata, resourceVersion: '1' } }),
      replaceNode: async (n) => (node = n),
      replaceNodeStatus: async (n) => (node = n),
      heartbeat: async (_name, o) => {
        beats.push({ at: performance.now(), deadlineMs: o?.deadlineMs });
        if (mode.hang) {
          // A dead link: nothing comes back; the deadline ends the call (as httpControllerApi's does).
          await new Promise((r) => setTimeout(r, o?.deadlineMs ?? 60_000));
          throw errors.unavailable('did not answer in time');
        }
        if (mode.down) throw errors.unavailable('ECONNREFUSED');
      },
    };
    return { api, beats, mode };
  }

  it('after an outage a beat is tried at least once a period, and the first that gets through calls onReconnect', async () => {
    const { api, beats, mode } = fakeApi();
    let reconnects = 0;
    const ac = new AbortController();
    const reg = new NodeRegistration({
      api, identity, probe, log: quiet, now: () => new Date(), heartbeatMs: 40,
      backoff: () => heartbeatBackoff({}, 40), onReconnect: () => void reconnects++,
    });
    const run = reg.run(ac.signal);
    await vi.waitFor(() => expect(beats.length).toBeGreaterThan(2), { timeout: 2000, interval: 5 });
    expect(beats.every((b) => b.deadlineMs === 40), 'each beat has a deadline of one period').toBe(true);
    mode.down = true; // the controller restarts: connections refused for 500 ms
    await new Promise((r) => setTimeout(r, 500));
    const during = beats.filter((b) => b.at > beats[0]!.at).map((b) => b.at);
    mode.down = false;
    const back = performance.now();
    await vi.waitFor(() => expect(reconnects).toBe(1), { timeout: 2000, interval: 5 });
    const gaps = during.slice(1).map((t, i) => t - during[i]!);
    // The agent's default pacing would pause 200 ms, then 400; heartbeats are capped at one period (plus timer slack).
    expect(Math.max(...gaps), 'longest pause between beats during the outage (ms)').toBeLessThan(40 + 100);
    expect(performance.now() - back, 'back within a period (plus slack)').toBeLessThan(40 + 100);
    ac.abort();
    await run;
  });

  it('a beat that hangs is cut at its deadline and retried at once', async () => {
    const { api, beats, mode } = fakeApi();
    let reconnects = 0;
    const ac = new AbortController();
    const reg = new NodeRegistration({
      api, identity, probe, log: quiet, now: () => new Date(), heartbeatMs: 100,
      backoff: () => heartbeatBackoff({}, 100), onReconnect: () => void reconnects++,
    });
    const run = reg.run(ac.signal);
    await vi.waitFor(() => expect(beats.length).toBeGreaterThan(1), { timeout: 2000, interval: 5 });
    mode.hang = true; // the link is cut: beats hang
    await new Promise((r) => setTimeout(r, 500));
    const hung = beats.slice(-3).map((b) => b.at);
    // Without the deadline counted in, a pause of 50-100 ms would follow each hung beat.
    expect(hung[2]! - hung[1]!, 'a hung beat is followed by the next one a period later, not by a pause on top').toBeLessThan(100 + 40);
    mode.hang = false;
    await vi.waitFor(() => expect(reconnects).toBe(1), { timeout: 2000, interval: 5 });
    ac.abort();
    await run;
  });
});
