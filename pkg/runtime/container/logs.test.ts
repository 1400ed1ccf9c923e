import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readLogs } from './logs.js';
import type { LogEntry } from '../../api/index.js';

let dir: string;
let log: string;
const line = (n: number, stream = 'stdout') => JSON.stringify({ log: `line ${n}\n`, stream, time: `2026-01-01T00:00:${String(n).padStart(2, '0')}Z` }) + '\n';

async function collect(it: AsyncIterable<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.stream}:${e.log.trim()}`);
  return out;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logs-'));
  log = join(dir, 'c-json.log');
  await writeFile(`${log}.2`, line(1) + line(2));
  await writeFile(`${log}.1`, line(3) + line(4, 'stderr'));
  await writeFile(log, line(5) + line(6));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readLogs', () => {
  it('reads all files oldest first', async () => {
    expect(await collect(readLogs(log))).toEqual(['stdout:line 1', 'stdout:line 2', 'stdout:line 3', 'stderr:line 4', 'stdout:line 5', 'stdout:line 6']);
  });
  it('tails across rotations', async () => {
    expect(await collect(readLogs(log, { tail: 1 }))).toEqual(['stdout:line 6']);
    expect(await collect(readLogs(log, { tail: 3 }))).toEqual(['stderr:line 4', 'stdout:line 5', 'stdout:line 6']);
    expect(await collect(readLogs(log, { tail: 0 }))).toEqual([]);
    expect(await collect(readLogs(log, { tail: 100 }))).toHaveLength(6);
  });
  it('tails a big file reading from the end', async () => {
    const big = Array.from({ length: 5000 }, (_, i) => line(i % 60)).join('');
    await writeFile(log, big);
    expect(await collect(readLogs(log, { tail: 2 }))).toEqual(['stdout:line 18', 'stdout:line 19']);
  });
  it('filters by since', async () => {
    expect(await collect(readLogs(log, { since: new Date('2026-01-01T00:00:05Z') }))).toEqual(['stdout:line 5', 'stdout:line 6']);
  });
  it('follows through rotation and ends after the exit', async () => {
    let exited = false;
    const got: string[] = [];
    const reader = (async () => {
      for await (const e of readLogs(log, { tail: 1, follow: true, exited: () => exited, pollMs: 10 })) got.push(e.log.trim());
    })();
    await new Promise((r) => setTimeout(r, 30));
    await appendFile(log, line(7));
    await new Promise((r) => setTimeout(r, 30));
    await appendFile(log, line(8));
    await rename(log, `${log}.1`); // rotate
    await writeFile(log, line(9));
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(log, line(10));
    exited = true;
    await reader;
    expect(got).toEqual(['line 6', 'line 7', 'line 8', 'line 9', 'line 10']);
  });
  it('wakes on a write at once while following, without polling fast', async () => {
    const ac = new AbortController();
    const got: { line: string; at: number }[] = [];
    const reader = (async () => {
      for await (const e of readLogs(log, { tail: 0, follow: true, signal: ac.signal, pollMs: 5000 })) got.push({ line: e.log.trim(), at: Date.now() });
    })();
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await appendFile(log, line(7));
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await reader;
    expect(got.map((g) => g.line)).toEqual(['line 7']);
    expect(got[0]!.at - t0).toBeLessThan(500); // the 5 s poll never ran: the directory watch woke the reader
  });

  it('returns nothing for a missing file', async () => {
    expect(await collect(readLogs(join(dir, 'none.log')))).toEqual([]);
  });
});
