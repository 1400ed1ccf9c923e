import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { DAEMON_OOM_SCORE_ADJ, protectFromOom } from './oom.js';

it('writes the score, and says why when it cannot', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-oom-'));
  try {
    await writeFile(join(dir, 'adj'), '0');
    expect(await protectFromOom(DAEMON_OOM_SCORE_ADJ, join(dir, 'adj'))).toBeUndefined();
    expect(await readFile(join(dir, 'adj'), 'utf8')).toBe('-500');
    expect(await protectFromOom(-500, join(dir, 'missing', 'adj'))).toMatch(/^cannot set oom_score_adj to -500: ENOENT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
