/**
 * Agent faults (issue 11, item 6), for real: a standalone shoal-agent whose --data-dir is a
 * small tmpfs. A full disk makes a new `run` fail with a message naming the filesystem while
 * the running container keeps running, `ps`, `logs` and `rm` still work and the agent stays
 * up; freed space makes `run` work again, and the log lines the container wrote meanwhile are
 * counted. A damaged state.json of one container is reported and skipped at the next agent
 * start; the others are re-adopted. Needs root, the native helper, a built dist/ and
 * /bin/busybox; skips with the reason otherwise. The tmpfs, containers, cgroups, processes and
 * temp dirs go in afterAll, also when a test failed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtCommandsPresent, startTestAgent, sweepCgroupParent, unmountUnder, until, type TestAgent } from './harness/index.js';

const HELPER = join(import.meta.dirname, '../../native/build/shoal-runtime');
const TMPFS_SIZE = '16m';

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync(HELPER)) return `the native helper is not built (${HELPER})`;
  if (!builtCommandsPresent()) return 'dist/ is not built (make build)';
  if (!existsSync('/bin/busybox')) return 'needs /bin/busybox (busybox-static)';
  return undefined;
}
const skip = skipReason();

interface Inspected {
  Id: string;
  State: { Status: string; Running: boolean; Pid: number };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Files under `dir` whose name says a write was left half-done (atomic writes' temp files). */
function tempFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && /\.tmp$/.test(e.name)) out.push(join(e.parentPath, e.name));
  }
  return out;
}

describe.skipIf(skip !== undefined)(`agent faults: a full data dir, a damaged state file${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let base = '';
  let dataDir = '';
  let runDir = '';
  let mounted = false;
  let tar = '';
  const agents: TestAgent[] = [];
  let agent: TestAgent;
  const filler = () => join(dataDir, 'filler');

  async function ctl(args: string[]) {
    return agent.ctl(args);
  }

  async function inspect(name: string): Promise<Inspected> {
    const r = await ctl(['inspect', name]);
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as Inspected | Inspected[];
    return Array.isArray(v) ? v[0]! : v;
  }

  async function start(): Promise<TestAgent> {
    const a = await startTestAgent({ dataDir, runDir });
    agents.push(a);
    agent = a;
    return a;
  }

  /** Fills the tmpfs to the last byte (dd stops at ENOSPC). */
  function fillDisk(): void {
    spawnSync('dd', ['if=/dev/zero', `of=${filler()}`, 'bs=64k'], { stdio: 'ignore' });
    // The last partial page: byte by byte would be slow; a second dd of 1-byte blocks tops it up.
    spawnSync('dd', ['if=/dev/zero', `of=${filler()}.2`, 'bs=1'], { stdio: 'ignore' });
  }

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'shoal-e2e-faults-'));
    dataDir = join(base, 'data');
    runDir = join(base, 'run');
    mkdirSync(dataDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0711`, 'shoal-e2e-faults', dataDir]);
    mounted = true;
    const rootfs = join(base, 'rootfs');
    for (const d of ['bin', 'etc', 'tmp', 'proc', 'dev', 'sys']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    for (const a of ['sh', 'sleep', 'echo', 'true', 'cat']) symlinkSync('busybox', join(rootfs, 'bin', a));
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');
    tar = join(base, 'rootfs.tar');
    execFileSync('tar', ['-C', rootfs, '--numeric-owner', '-cf', tar, '.']);
    await start();
    const imp = await ctl(['import', tar, 'faults:1']);
    expect(imp.code, imp.stderr).toBe(0);
  });

  afterAll(async () => {
    // Through the agent while it answers, then whatever is left (a skipped container's process).
    if (agent?.alive()) {
      await rm(filler(), { force: true });
      await rm(`${filler()}.2`, { force: true });
      const ids = (await agent.ctl(['ps', '-a', '-q'])).stdout.split(/\s+/).filter(Boolean);
      if (ids.length > 0) await agent.ctl(['rm', '-f', ...ids]);
    }
    for (const a of agents) await a.stop();
    await sweepCgroupParent(`shoal-e2e-${process.pid}`);
    if (base) {
      unmountUnder(base);
      if (mounted) spawnSync('umount', ['-l', dataDir], { stdio: 'ignore' });
      await rm(base, { recursive: true, force: true });
    }
  });

  it('a full data dir: run fails naming the disk, the running container and the agent carry on; freed space, run works', async () => {
    const first = await ctl(['run', '-d', '--name', 'ticker', 'faults:1', 'sh', '-c', 'while true; do echo tick; sleep 0.1; done']);
    expect(first.code, first.stderr).toBe(0);
    const ticker = await inspect('ticker');
    expect(ticker.State.Running).toBe(true);
    expect((await ctl(['create', '--name', 'spare', 'faults:1', 'true'])).code).toBe(0);

    fillDisk();
    const second = await ctl(['run', '-d', '--name', 'second', 'faults:1', 'true']);
    expect(second.code).not.toBe(0);
    // error: FailedPrecondition: no space left on device while writing <data>/containers/<id>/state.json:
    //   the filesystem mounted at <data> (tmpfs on shoal-e2e-faults, 0 B free of 16.0 MiB) is full ...
    expect(second.stderr).toContain('FailedPrecondition');
    expect(second.stderr).toContain('no space left on device');
    expect(second.stderr).toContain(`the filesystem mounted at ${dataDir} (tmpfs`);

    // The first keeps running, under the same PID; the agent answers and is alive.
    expect(pidAlive(ticker.State.Pid)).toBe(true);
    expect((await inspect('ticker')).State).toMatchObject({ Running: true, Pid: ticker.State.Pid });
    const ps = await ctl(['ps', '-a']);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/\sticker$/m);
    expect(ps.stdout).not.toMatch(/\ssecond$/m);
    expect((await ctl(['logs', '--tail', '1', 'ticker'])).stdout).toBe('tick\n');
    // An import fails the same way and leaves no partial blob, snapshot or temp file.
    const imp = await ctl(['import', tar, 'faults:2']);
    expect(imp.code).not.toBe(0);
    expect(imp.stderr).toMatch(new RegExp(`FailedPrecondition: no space left on device while importing the image faults:2: the filesystem mounted at ${dataDir} `));
    expect(readdirSync(join(dataDir, 'tmp'))).toEqual([]);
    expect(readdirSync(join(dataDir, 'content', 'ingest'))).toEqual([]);
    expect(readdirSync(join(dataDir, 'snapshots')).filter((n) => !/^[0-9a-f]{64}$/.test(n))).toEqual([]);
    // rm works on a full disk (it must: it is how space comes back).
    expect((await ctl(['rm', 'spare'])).code).toBe(0);
    expect(agent.alive()).toBe(true);
    // Nothing half-written: no temp files, every record whole, no directory of the failed create.
    expect(tempFilesUnder(join(dataDir, 'containers'))).toEqual([]);
    const dirs = readdirSync(join(dataDir, 'containers'));
    expect(dirs).toEqual([ticker.Id]);
    for (const f of ['config.json', 'state.json']) JSON.parse(readFileSync(join(dataDir, 'containers', ticker.Id, f), 'utf8'));
    // The ticker writes on: once the log's last page is full too, its lines are dropped.
    const logPath = join(dataDir, 'containers', ticker.Id, `${ticker.Id}-json.log`);
    let size = -1;
    await until('the log of the ticker to stop growing', async () => {
      const now = (await stat(logPath)).size;
      const still = now === size;
      size = now;
      return still;
    }, 30_000, 1000);
    expect(pidAlive(ticker.State.Pid)).toBe(true);

    await rm(filler());
    await rm(`${filler()}.2`);
    const third = await ctl(['run', '-d', '--name', 'third', 'faults:1', 'sleep', '1000']);
    expect(third.code, third.stderr).toBe(0);
    expect((await inspect('third')).State.Running).toBe(true);
    // The lines lost meanwhile are counted, in the log, once there is room again.
    const note = await until('the monitor to note the dropped log lines', async () => {
      const logs = await ctl(['logs', 'ticker']);
      return /shoal: \d+ log lines? dropped: No space left on device/.exec(logs.stdout + logs.stderr)?.[0];
    });
    expect(note).toMatch(/dropped/);
    expect(pidAlive(ticker.State.Pid)).toBe(true);
    expect(agent.logs()).not.toMatch(/unhandled|uncaught/i);
  });

  it('a damaged state.json is reported and that container skipped at the next start; the others are re-adopted', async () => {
    const ticker = await inspect('ticker');
    const third = await inspect('third');
    await agent.stop(); // containers outlive the agent
    expect(pidAlive(ticker.State.Pid)).toBe(true);
    const statePath = join(dataDir, 'containers', third.Id, 'state.json');
    const whole = await readFile(statePath, 'utf8');
    await writeFile(statePath, whole.slice(0, whole.length >> 1)); // truncated

    await start();
    expect(agent.alive()).toBe(true);
    const report = await until('the agent to report the damaged container', () =>
      Promise.resolve(agent.logs().split('\n').find((l) => l.includes(third.Id) && l.includes('skipped'))));
    expect(report).toContain(`${statePath} is not valid JSON`);
    // The other is re-adopted (same PID, no restart); the damaged one is left alone, not killed.
    expect((await inspect('ticker')).State).toMatchObject({ Running: true, Pid: ticker.State.Pid });
    const ps = await ctl(['ps', '-a']);
    expect(ps.stdout).toMatch(/\sticker$/m);
    expect(ps.stdout).not.toMatch(/\sthird$/m);
    expect(pidAlive(third.State.Pid)).toBe(true);
    expect(readFileSync(statePath, 'utf8')).toBe(whole.slice(0, whole.length >> 1));
    // Repaired (the whole record back) and the agent restarted: it is adopted again.
    await agent.stop();
    await writeFile(statePath, whole);
    await start();
    expect((await inspect('third')).State).toMatchObject({ Running: true, Pid: third.State.Pid });
  });
});
