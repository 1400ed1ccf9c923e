import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatCpuMillis, formatMemoryBytes, isQuantity, parseCpuMillis, parseMemoryBytes, parseQuantity } from './quantity.js';
import { formatDurationMs, isDuration, parseDurationMs } from './duration.js';

describe('quantity', () => {
  it('parses CPU', () => {
    expect(parseCpuMillis('500m')).toBe(500);
    expect(parseCpuMillis('2')).toBe(2000);
    expect(parseCpuMillis('0.25')).toBe(250);
    expect(parseCpuMillis('1.5')).toBe(1500);
    expect(parseCpuMillis(0.1)).toBe(100);
  });
  it('parses memory', () => {
    expect(parseMemoryBytes('64Mi')).toBe(64 * 1024 * 1024);
    expect(parseMemoryBytes('1G')).toBe(1e9);
    expect(parseMemoryBytes('1e3')).toBe(1000);
    expect(parseMemoryBytes('128974848')).toBe(128974848);
    expect(parseMemoryBytes('1.5Gi')).toBe(1.5 * 1024 ** 3);
  });
  it('rejects garbage', () => {
    for (const s of ['', 'abc', '-1', '1MB', '1 Gi', 'Mi', '1.2.3', '0x10']) {
      expect(isQuantity(s)).toBe(false);
      expect(() => parseQuantity(s)).toThrow(/invalid quantity/);
    }
    expect(() => parseQuantity(-1)).toThrow();
  });
  it('formats', () => {
    expect(formatCpuMillis(1500)).toBe('1500m');
    expect(formatCpuMillis(2000)).toBe('2');
    expect(formatMemoryBytes(64 * 1024 * 1024)).toBe('64Mi');
    expect(formatMemoryBytes(1000)).toBe('1000');
  });
  it('round-trips', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e9 }), (m) => parseCpuMillis(formatCpuMillis(m)) === m));
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (b) => parseMemoryBytes(formatMemoryBytes(b)) === b));
  });
});

describe('duration', () => {
  it('parses', () => {
    expect(parseDurationMs('5s')).toBe(5000);
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('100ms')).toBe(100);
    expect(parseDurationMs('2h')).toBe(7_200_000);
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('0')).toBe(0);
  });
  it('rejects', () => {
    for (const s of ['', '5', 's', '5 s', '1x', '5s3', '-1s']) expect(isDuration(s)).toBe(false);
  });
  it('formats and round-trips', () => {
    expect(formatDurationMs(90_000)).toBe('1m30s');
    expect(formatDurationMs(250)).toBe('250ms');
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e9 }), (ms) => parseDurationMs(formatDurationMs(ms)) === ms));
  });
});
