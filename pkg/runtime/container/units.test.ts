import { describe, expect, it } from 'vitest';
import { nanoCpusToQuota, parseCpus, parseMemory, parseSignal } from './units.js';
import { mergeEnv } from './merge.js';
import { humanDuration } from './inspect.js';

describe('units', () => {
  it('parses memory like Docker', () => {
    expect(parseMemory('64m')).toBe(64 * 1024 * 1024);
    expect(parseMemory('1g')).toBe(1024 ** 3);
    expect(parseMemory('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseMemory('512kb')).toBe(512 * 1024);
    expect(parseMemory('1048576')).toBe(1048576);
    expect(() => parseMemory('64x')).toThrow(/invalid memory/);
    expect(() => parseMemory('-1m')).toThrow(/invalid memory/);
  });
  it('parses cpus and converts to a quota', () => {
    expect(parseCpus('0.5')).toBe(500_000_000);
    expect(nanoCpusToQuota(parseCpus('0.5'))).toBe(50_000);
    expect(nanoCpusToQuota(parseCpus('2'))).toBe(200_000);
    expect(nanoCpusToQuota(1)).toBe(1000);
    expect(() => parseCpus('abc')).toThrow(/invalid cpus/);
  });
  it('parses signals', () => {
    expect(parseSignal('KILL')).toBe('SIGKILL');
    expect(parseSignal('sigterm')).toBe('SIGTERM');
    expect(parseSignal('9')).toBe('SIGKILL');
    expect(parseSignal(15)).toBe('SIGTERM');
    expect(() => parseSignal('NOPE')).toThrow(/invalid signal/);
  });
  it('merges env by key and defaults PATH', () => {
    expect(mergeEnv(['A=1', 'B=2'], ['A=3'])).toEqual([expect.stringMatching(/^PATH=/), 'A=3', 'B=2']);
  });
  it('formats durations like Docker', () => {
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(3000)).toBe('3 seconds');
    expect(humanDuration(120_000)).toBe('2 minutes');
    expect(humanDuration(3600_000)).toBe('About an hour');
    expect(humanDuration(3 * 86400_000)).toBe('3 days');
  });
});
