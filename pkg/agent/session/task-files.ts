/**
 * A task's secrets and configs on the node (issue 13). Their values come from the controller
 * (`GET .../tasks/{task}/secrets/{name}`, which only the task's node may ask), are written on
 * a tmpfs of the agent's own (`<run-dir>/task-files`, mode 0700: memory only, never the node's
 * disk), and are bind-mounted read-only into the container: secrets at
 * `/run/secrets/<target>` (mode 0400 by default, owned by the task's user), configs at their
 * target (0444 by default). A task's files go when its container goes; at start, those of
 * containers that no longer exist go too.
 */
import { execFile } from 'node:child_process';
import { chown, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { errors, type Task } from '../../api/index.js';

const run = promisify(execFile);

/** The value of a task's secret or config, as the controller sends it (base64). */
export type ReferenceFetcher = (kind: 'secrets' | 'configs', task: Task, name: string, signal: AbortSignal) => Promise<string>;

/** The uid and gid the task's process runs as (the image's user, or the template's `user`). */
export type TaskUserResolver = (task: Task) => Promise<{ uid: number; gid: number }>;

export interface TaskFiles {
  /** Writes the task's files; returns the container's bind mounts (`src:dst:ro`). */
  prepare(task: Task, signal: AbortSignal): Promise<string[]>;
  /** Removes the files of the container named `name` (a task's name). */
  release(name: string): Promise<void>;
  /** Removes the files of every container not in `live` (names). */
  sweep(live: ReadonlySet<string>): Promise<void>;
}

/** Whether `dir` is a mount point of its own (from /proc/self/mountinfo). */
async function isMountPoint(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return info.split('\n').some((l) => l.split(' ')[4] === dir);
}

/** A tmpfs of 64 MiB (a hundred full-size secrets and then some), root's only, nothing executable. */
export async function mountTaskFilesTmpfs(dir: string): Promise<void> {
  await run('mount', ['-t', 'tmpfs', '-o', 'mode=0700,nosuid,nodev,noexec,size=64m', 'shoal-task-files', dir]);
}

export class TmpfsTaskFiles implements TaskFiles {
  private mounted: Promise<void> | undefined;

  constructor(
    private readonly root: string,
    private readonly fetch: ReferenceFetcher,
    private readonly userOf: TaskUserResolver,
    /** Mounts the tmpfs at the root (injected in tests, which run without mounts). */
    private readonly mountTmpfs: (dir: string) => Promise<void> = mountTaskFilesTmpfs,
  ) {}

  private ensureMounted(): Promise<void> {
    this.mounted ??= (async () => {
      await mkdir(this.root, { recursive: true, mode: 0o700 });
      if (!(await isMountPoint(this.root))) await this.mountTmpfs(this.root);
    })().catch((err: unknown) => {
      this.mounted = undefined;
      throw errors.unavailable(`cannot mount the tmpfs for secrets at ${this.root}: ${(err as Error).message}`);
    });
    return this.mounted;
  }

  async prepare(task: Task, signal: AbortSignal): Promise<string[]> {
    const spec = task.spec.template.spec;
    const secrets = spec.secrets ?? [];
    const configs = spec.configs ?? [];
    if (secrets.length === 0 && configs.length === 0) return [];
    await this.ensureMounted();
    const dir = join(this.root, task.metadata.name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, 'secrets'), { recursive: true, mode: 0o700 });
    await mkdir(join(dir, 'configs'), { recursive: true, mode: 0o700 });
    const binds: string[] = [];
    const user = secrets.length > 0 ? await this.userOf(task) : { uid: 0, gid: 0 };
    for (const [i, s] of secrets.entries()) {
      const data = Buffer.from(await this.fetch('secrets', task, s.source, signal), 'base64');
      const file = join(dir, 'secrets', String(i));
      await writeFile(file, data, { mode: s.mode ?? 0o400 });
      await chown(file, s.uid ?? user.uid, s.gid ?? user.gid);
      data.fill(0);
      binds.push(`${file}:/run/secrets/${s.target ?? s.source}:ro`);
    }
    for (const [i, c] of configs.entries()) {
      const data = Buffer.from(await this.fetch('configs', task, c.source, signal), 'base64');
      const file = join(dir, 'configs', String(i));
      await writeFile(file, data, { mode: c.mode ?? 0o444 });
      binds.push(`${file}:${c.target}:ro`);
    }
    return binds;
  }

  async release(name: string): Promise<void> {
    if (name === '' || name.includes('/') || name === '.' || name === '..') return;
    await rm(join(this.root, name), { recursive: true, force: true });
  }

  async sweep(live: ReadonlySet<string>): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return;
    }
    for (const n of names) if (!live.has(n)) await this.release(n);
  }
}
