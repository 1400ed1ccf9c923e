import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SnapshotChecksum } from './snapshot-check.js';

const snapshot = (dbBytes: number): Buffer => {
  const db = Buffer.alloc(dbBytes, 7);
  db.write('bolt', 0);
  return Buffer.concat([db, createHash('sha256').update(db).digest()]);
};

const feed = (data: Buffer, chunk: number): SnapshotChecksum => {
  const c = new SnapshotChecksum();
  for (let i = 0; i < data.length; i += chunk) c.update(data.subarray(i, i + chunk));
  return c;
};

describe('SnapshotChecksum', () => {
  it('accepts a database followed by its sha256, however it is chunked', () => {
    const s = snapshot(8192);
    for (const chunk of [1, 7, 31, 32, 33, 4096, 100_000]) {
      const c = feed(s, chunk);
      expect(c.bytes).toBe(8224);
      expect(() => c.verify()).not.toThrow();
    }
  });

  it('refuses a stream cut short, a damaged byte, or no data', () => {
    const s = snapshot(8192);
    expect(() => feed(s.subarray(0, 4096 + 32), 1000).verify()).toThrow(expect.objectContaining({ code: 'DataLoss', message: expect.stringMatching(/checksum/) as unknown }) as unknown as Error);
    expect(() => feed(s.subarray(0, 5000), 1000).verify()).toThrow(expect.objectContaining({ code: 'DataLoss', message: expect.stringMatching(/cut short/) as unknown }) as unknown as Error);
    const bad = Buffer.from(s);
    bad[100] = 0;
    expect(() => feed(bad, 512).verify()).toThrow(expect.objectContaining({ code: 'DataLoss' }) as unknown as Error);
    expect(() => new SnapshotChecksum().verify()).toThrow(expect.objectContaining({ code: 'DataLoss' }) as unknown as Error);
  });
});
