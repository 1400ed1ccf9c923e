import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { parseProcStat, processMatches, readExitFile, readPidFile, writeExitFile } from './state-files.js';

describe('state files', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-state-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads exit.json, undefined when absent, DataLoss when garbled', async () => {
    expect(await readExitFile(dir)).toBeUndefined();
    await writeFile(join(dir, 'exit.json'), '{"exitCode":137,"signal":"SIGKILL","finishedAt":"2026-11-22T07:00:00.123456789Z"}\n');
    expect(await readExitFile(dir)).toEqual({ exitCode: 137, signal: 'SIGKILL', finishedAt: '2026-11-22T07:00:00.123456789Z' });
    await writeFile(join(dir, 'exit.json'), '{"exitCode":');
    await expect(readExitFile(dir)).rejects.toSatisfy((e) => isShoalError(e, 'DataLoss'));
    await writeFile(join(dir, 'exit.json'), '{"code":1}');
    await expect(readExitFile(dir)).rejects.toSatisfy((e) => isShoalError(e, 'DataLoss'));
  });

  it('writes exit.json atomically in the same format', async () => {
    await writeExitFile(dir, { exitCode: 3, finishedAt: 'now' });
    expect(await readExitFile(dir)).toEqual({ exitCode: 3, finishedAt: 'now' });
  });

  it('reads pid.json', async () => {
    expect(await readPidFile(dir)).toBeUndefined();
    await writeFile(join(dir, 'pid.json'), '{"pid":10,"pidStartTime":"99","monitorPid":9,"monitorStartTime":"98"}');
    expect(await readPidFile(dir)).toEqual({ pid: 10, pidStartTime: '99', monitorPid: 9, monitorStartTime: '98' });
  });

  it('parses /proc/<pid>/stat even with spaces and parens in the command name', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'S';
    fields[19] = '123456';
    expect(parseProcStat(`42 (a (b) c) ${fields.join(' ')}`)).toEqual({ state: 'S', startTime: '123456' });
    expect(parseProcStat('garbage')).toBeUndefined();
  });

  it('tells a live process from a dead or reused pid', async () => {
    const proc = join(dir, 'proc');
    const stat = (state: string, start: string) => `7 (sleep) ${state} ${Array.from({ length: 18 }, () => '0').join(' ')} ${start} 0 0`;
    await mkdir(join(proc, '7'), { recursive: true });
    await writeFile(join(proc, '7', 'stat'), stat('S', '555'));
    expect(await processMatches(7, '555', proc)).toBe(true);
    expect(await processMatches(7, '556', proc)).toBe(false);
    expect(await processMatches(8, '555', proc)).toBe(false);
    await writeFile(join(proc, '7', 'stat'), stat('Z', '555'));
    expect(await processMatches(7, '555', proc)).toBe(false);
    expect(await processMatches(process.pid, '')).toBe(true);
    expect(await processMatches(-1, '')).toBe(false);
  });
});
