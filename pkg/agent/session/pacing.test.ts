import { describe, expect, it } from 'vitest';
import { agentBackoff, heartbeatBackoff } from './pacing.js';

/** The upper bound of the first `n` delays (jitter draws from the upper half; random() = 1 gives the bound). */
const delays = (b: { next(): number }, n: number): number[] => Array.from({ length: n }, () => b.next());

describe('agent pacing', () => {
  it('the session and tunnel back off from 200 ms to 5 s', () => {
    const d = delays(agentBackoff({}), 12);
    expect(Math.max(...d)).toBeLessThanOrEqual(5000);
    expect(d[0]).toBeLessThanOrEqual(200);
    expect(d.at(-1)).toBeGreaterThanOrEqual(2500);
  });

  it('heartbeats never wait longer than one heartbeat period, however long the outage', () => {
    for (const period of [1000, 300, 50]) {
      const d = delays(heartbeatBackoff({}, period), 40);
      expect(Math.max(...d), `period ${period}`).toBeLessThanOrEqual(period);
      // Still jittered: agents that failed together do not retry in lockstep.
      expect(d.at(-1), `period ${period}`).toBeGreaterThanOrEqual(period / 2);
    }
  });

  it('options that lower the pacing still apply to heartbeats', () => {
    const d = delays(heartbeatBackoff({ backoffMinMs: 10, backoffMaxMs: 50 }, 1000), 20);
    expect(d[0]).toBeLessThanOrEqual(10);
    expect(Math.max(...d)).toBeLessThanOrEqual(50);
  });
});
