/** Temp directories that a test removes in afterAll, also when it failed. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class TempDirs {
  private readonly dirs: string[] = [];

  async make(prefix = 'shoal-e2e-'): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }

  async cleanup(): Promise<void> {
    for (const d of this.dirs.splice(0).reverse()) await rm(d, { recursive: true, force: true }).catch(() => undefined);
  }
}
