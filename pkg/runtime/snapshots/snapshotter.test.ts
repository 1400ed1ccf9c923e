import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { chainIds } from './chain-id.js';
import { Snapshotter } from './snapshotter.js';

const d = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

describe('chainIds', () => {
  it('follows the OCI definition', () => {
    const [a, b, c] = [d('a'), d('b'), d('c')];
    const ids = chainIds([a, b, c]);
    const c1 = `sha256:${createHash('sha256').update(`${a} ${b}`).digest('hex')}`;
    const c2 = `sha256:${createHash('sha256').update(`${c1} ${c}`).digest('hex')}`;
    expect(ids).toEqual([a, c1, c2]);
  });
  it('rejects what is not a digest', () => {
    expect(() => chainIds(['sha256:xyz'])).toThrow(/diff_id 0/);
  });
});

describe('Snapshotter', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'shoal-snap-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('applies once, shares concurrent prepares, and lists lower dirs top first', async () => {
    const s = await Snapshotter.open(root);
    const [c1, c2] = chainIds([d('x'), d('y')]) as [string, string];
    let calls = 0;
    const apply = async (dir: string): Promise<void> => {
      calls++;
      await new Promise((r) => setTimeout(r, 20));
      await writeFile(join(dir, 'f'), 'hello');
    };
    const results = await Promise.all([s.prepare(c1, apply), s.prepare(c1, apply)]);
    expect(calls).toBe(1);
    expect(results.sort()).toEqual([false, true]);
    expect(await s.prepare(c1, apply)).toBe(false);
    expect(await readFile(join(s.path(c1), 'f'), 'utf8')).toBe('hello');
    await s.prepare(c2, apply);
    expect(s.lowerDirs([c1, c2])).toEqual([s.path(c2), s.path(c1)]);
    expect((await s.list()).sort()).toEqual([c1, c2].sort());
    await s.remove(c1);
    expect(await s.exists(c1)).toBe(false);
  });

  it('leaves nothing behind when the apply fails, and cleans crash leftovers on open', async () => {
    const s = await Snapshotter.open(root);
    const [c1] = chainIds([d('z')]) as [string];
    await expect(
      s.prepare(c1, async (dir) => {
        await writeFile(join(dir, 'half'), 'x');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await s.exists(c1)).toBe(false);
    expect(await readdir(root)).toEqual([]);
    await mkdir(join(root, '.tmp-leftover', 'fs'), { recursive: true });
    await Snapshotter.open(root);
    expect(await readdir(root)).toEqual([]);
  });

  it('rejects bad chain ids with InvalidArgument', () => {
    return Snapshotter.open(root).then((s) => {
      try {
        s.path('../../etc');
        expect.unreachable();
      } catch (err) {
        expect(isShoalError(err, 'InvalidArgument')).toBe(true);
      }
    });
  });
});
