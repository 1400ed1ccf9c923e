import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAtomicTempFile, readJsonFile, writeFileAtomic, writeJsonAtomic } from './atomic-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('atomic files', () => {
  it('replaces the content, with the mode asked for, and leaves no temp file', async () => {
    const p = join(dir, 'a.json');
    await writeJsonAtomic(p, { v: 1 });
    await writeJsonAtomic(p, { v: 2 }, 0o640);
    expect(await readJsonFile(p)).toEqual({ v: 2 });
    expect((await stat(p)).mode & 0o777).toBe(0o640);
    expect(await readdir(dir)).toEqual(['a.json']);
  });

  it('fails without leaving a temp file when the target cannot be replaced', async () => {
    await writeFileAtomic(join(dir, 'x'), 'x');
    // A non-empty directory where the file should go: the rename fails.
    await mkdir(join(dir, 'd'));
    await writeFileAtomic(join(dir, 'd', 'inner'), 'i');
    await expect(writeFileAtomic(join(dir, 'd'), 'y')).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['d', 'x']);
    expect(await readFile(join(dir, 'x'), 'utf8')).toBe('x');
  });

  it('reads a missing or broken file as undefined', async () => {
    expect(await readJsonFile(join(dir, 'none.json'))).toBeUndefined();
    await writeFileAtomic(join(dir, 'bad.json'), '{"half":');
    expect(await readJsonFile(join(dir, 'bad.json'))).toBeUndefined();
  });

  it('names its temp files so a sweep can find what a crash left', () => {
    expect(isAtomicTempFile('.refs.json.0123456789ab.tmp')).toBe(true);
    expect(isAtomicTempFile('refs.json')).toBe(false);
    expect(isAtomicTempFile('.refs.json.tmp')).toBe(false);
  });
});
