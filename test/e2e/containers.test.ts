/**
 * Containers on one node, for real: cgroup v1 on this host, and a real shoal-agent driven by
 * dist/shoalctl.js with a busybox image built here (from /bin/busybox). Needs root, cgroups,
 * the native helper (native/build/shoal-runtime) and a built dist/; skips with the reason
 * otherwise. Everything (agents, containers, cgroups, mounts, temp dirs) is removed in afterAll.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCgroupManager, detectCgroups } from '../../pkg/runtime/index.js';
import { EngineClient } from '../../pkg/client/index.js';

const REPO = resolve(import.meta.dirname, '../..');
// SHOAL_E2E_AGENT: run against another agent build (a bundled JS file), e.g. while debugging.
const AGENT = process.env['SHOAL_E2E_AGENT'] ?? join(REPO, 'dist/shoal-agent.js');
const CTL = join(REPO, 'dist/shoalctl.js');
const HELPER = join(REPO, 'native/build/shoal-runtime');
const isRoot = process.getuid?.() === 0;
const CG = '/sys/fs/cgroup';
const suffix = `${process.pid}-${Date.now().toString(36)}`;

function agentSkipReason(): string | undefined {
  if (!isRoot) return 'needs root';
  if (!existsSync(HELPER)) return `the native helper is not built (${HELPER})`;
  if (!existsSync(AGENT) || !existsSync(CTL)) return 'dist/ is not built (make build)';
  if (readFileSync(AGENT, 'utf8').includes('not built yet')) return 'shoal-agent is still a stub in dist/';
  if (!existsSync('/bin/busybox')) return 'needs /bin/busybox (busybox-static)';
  return undefined;
}

// ── cgroup v1, directly ──────────────────────────────────────────────────────────────────

const cgSkip = !isRoot ? 'needs root' : detectCgroups(CG) !== 1 ? 'host is not cgroup v1' : undefined;

describe.skipIf(cgSkip !== undefined)(`cgroup v1 on this host${cgSkip ? ` (skipped: ${cgSkip})` : ''}`, () => {
  const parent = `shoal-e2e-cg-${suffix}`;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await removeCgroupParent(parent);
  });

  it('limits, joins, reports, freezes and destroys', async () => {
    const m = createCgroupManager({ parent });
    expect(m.version).toBe(1);
    const cg = await m.create('c1', { memoryBytes: 64 << 20, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, pidsLimit: 50 });
    expect(readFileSync(`${CG}/cpu/${parent}/c1/cpu.cfs_quota_us`, 'utf8').trim()).toBe('50000');
    expect(readFileSync(`${CG}/memory/${parent}/c1/memory.limit_in_bytes`, 'utf8').trim()).toBe(String(64 << 20));
    expect(readFileSync(`${CG}/pids/${parent}/c1/pids.max`, 'utf8').trim()).toBe('50');
    const child = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    for (const f of cg.procsFiles()) await writeFile(f, String(child.pid));
    expect(await cg.pids()).toEqual([child.pid]);
    const st = await cg.stats();
    expect(st.pids).toBe(1);
    expect(st.memoryLimit).toBe(64 << 20);
    expect(st.oomKillCount).toBe(0);
    await cg.freeze();
    expect(readFileSync(`${CG}/freezer/${parent}/c1/freezer.state`, 'utf8').trim()).toBe('FROZEN');
    await cg.thaw();
    const exited = new Promise((r) => child.once('exit', r));
    await cg.destroy();
    await exited;
    expect(child.signalCode).toBe('SIGKILL');
    for (const c of ['memory', 'cpu', 'pids', 'freezer', 'devices', 'cpuset']) expect(existsSync(`${CG}/${c}/${parent}/c1`)).toBe(false);
    await cg.destroy(); // idempotent
  });
});

// ── a real agent ─────────────────────────────────────────────────────────────────────────

const skip = agentSkipReason();

interface Agent {
  proc: ChildProcess;
  socket: string;
  stderr: string[];
}

describe.skipIf(skip !== undefined)(`containers through shoal-agent and shoalctl${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let tmp = '';
  let socket = '';
  let dataDir = '';
  let runDir = '';
  const parent = `shoal-e2e-${suffix}`;
  let agent: Agent | undefined;
  const agents: Agent[] = [];

  async function startAgent(): Promise<Agent> {
    const stderr: string[] = [];
    const proc = spawn(
      process.execPath,
      [AGENT, '--socket', socket, '--data-dir', dataDir, '--run-dir', runDir, '--cgroup-parent', parent, '--bridge', 'none'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
    const a = { proc, socket, stderr };
    agents.push(a);
    const c = new EngineClient(`unix://${socket}`);
    try {
      for (let i = 0; ; i++) {
        if (proc.exitCode !== null) throw new Error(`shoal-agent exited (${proc.exitCode}): ${stderr.join('')}`);
        try {
          await c.version();
          break;
        } catch (err) {
          if (i > 200) throw new Error(`shoal-agent did not answer: ${String(err)} ${stderr.join('')}`);
          await sleep(50);
        }
      }
    } finally {
      await c.close();
    }
    return a;
  }

  async function ctl(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
    const p = spawn(process.execPath, [CTL, ...args], { env: { ...process.env, SHOAL_HOST: `unix://${socket}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number>((r) => p.once('close', (c) => r(c ?? 128 + 9)));
    clearTimeout(timer);
    return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
  }

  const api = () => new EngineClient(`unix://${socket}`);

  async function inspect(name: string): Promise<{ Id: string; State: { Status: string; ExitCode: number; OOMKilled: boolean; Pid: number } }> {
    const c = api();
    try {
      return await c.request('GET', `/v1/containers/${name}/json`);
    } finally {
      await c.close();
    }
  }

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'shoal-e2e-ctr-'));
    socket = join(tmp, 'agent.sock');
    dataDir = join(tmp, 'data');
    runDir = join(tmp, 'run');
    agent = await startAgent();
    const c = api();
    try {
      await c.importImage('busybox:e2e', Readable.from(await busyboxTar()));
    } finally {
      await c.close();
    }
  });

  afterAll(async () => {
    // Remove every container through the agent when it still answers, then kill the agents.
    const c = api();
    try {
      const list = await c.request<Array<{ Id: string }>>('GET', '/v1/containers', { query: { all: 1 } });
      for (const x of list) await c.request('DELETE', `/v1/containers/${x.Id}`, { query: { force: 1 } }).catch(() => undefined);
    } catch {
      // agent gone
    } finally {
      await c.close().catch(() => undefined);
    }
    for (const a of agents) if (a.proc.exitCode === null) a.proc.kill('SIGKILL');
    await removeCgroupParent(parent);
    unmountUnder(tmp);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('passes the exit code and the output through `run`', async () => {
    const r = await ctl(['run', '--rm', '--network', 'none', 'busybox:e2e', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    expect(r.code).toBe(7);
    expect((await ctl(['run', '--rm', 'busybox:e2e', 'true'])).code).toBe(0);
  });

  it('a 64 MiB memory limit OOM-kills a memory hog (137, OOMKilled)', async () => {
    const r = await ctl(['run', '--name', `oom-${suffix}`, '--memory', '64m', 'busybox:e2e', 'sh', '-c', 'x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done']);
    expect(r.code).toBe(137);
    const c = await inspect(`oom-${suffix}`);
    expect(c.State).toMatchObject({ Status: 'exited', ExitCode: 137, OOMKilled: true });
    expect((await ctl(['rm', `oom-${suffix}`])).code).toBe(0);
  });

  it('a pids limit of 50 stops a fork bomb and the host stays responsive', async () => {
    const name = `bomb-${suffix}`;
    const r = await ctl(['run', '-d', '--name', name, '--pids-limit', '50', 'busybox:e2e', 'sleep', '1000']);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    // The bomb runs as an exec (PID 1 stays), its output detached so the exec returns.
    const bomb = await ctl(['exec', name, 'sh', '-c', 'exec >/dev/null 2>&1; f() { f & f; }; f'], 20_000);
    expect(bomb.code).not.toBe(0);
    await sleep(500);
    const current = Number(readFileSync(`${CG}/pids/${parent}/${id}/pids.current`, 'utf8'));
    expect(current).toBeGreaterThan(1);
    expect(current).toBeLessThanOrEqual(50);
    const t0 = Date.now();
    expect(spawnSync('/bin/true').status).toBe(0);
    expect((await ctl(['ps'])).stdout).toContain(name);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await ctl(['rm', '-f', name], 30_000)).code).toBe(0);
    expect(existsSync(`${CG}/pids/${parent}/${id}`)).toBe(false);
  });

  it('--cpus 0.5 sets the CFS quota', async () => {
    const name = `cpu-${suffix}`;
    const r = await ctl(['run', '-d', '--name', name, '--cpus', '0.5', 'busybox:e2e', 'sleep', '100']);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(readFileSync(`${CG}/cpu/${parent}/${id}/cpu.cfs_quota_us`, 'utf8').trim()).toBe('50000');
    expect(readFileSync(`${CG}/cpu/${parent}/${id}/cpu.cfs_period_us`, 'utf8').trim()).toBe('100000');
    expect((await ctl(['rm', '-f', name])).code).toBe(0);
  });

  it('a container that ignores SIGTERM dies at the stop timeout', async () => {
    const name = `trap-${suffix}`;
    expect((await ctl(['run', '-d', '--name', name, 'busybox:e2e', 'sh', '-c', "trap '' TERM; sleep 1000"])).code).toBe(0);
    const t0 = Date.now();
    const r = await ctl(['stop', '-t', '1', name]);
    const took = Date.now() - t0;
    expect(r.code).toBe(0);
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(8000);
    expect((await inspect(name)).State).toMatchObject({ Status: 'exited', ExitCode: 137 });
    expect((await ctl(['rm', name])).code).toBe(0);
  });

  it('exec runs in the container and passes the exit code through; logs read back', async () => {
    const name = `exec-${suffix}`;
    expect((await ctl(['run', '-d', '--name', name, 'busybox:e2e', 'sh', '-c', 'echo one; echo two; sleep 1000'])).code).toBe(0);
    const ex = await ctl(['exec', name, 'sh', '-c', 'echo $$; exit 4']);
    expect(ex.code).toBe(4);
    expect(ex.stdout.trim()).toMatch(/^\d+$/);
    await sleep(300);
    expect((await ctl(['logs', '--tail', '1', name])).stdout).toBe('two\n');
    expect((await ctl(['logs', name])).stdout).toBe('one\ntwo\n');
    expect((await ctl(['rm', '-f', name])).code).toBe(0);
  });

  it('the agent runs OOM-protected (-500), containers and execs at 0; the default pids limit applies', async () => {
    // CAP_SYS_RESOURCE (bit 24) lowers a score; some sandboxes run root without it.
    const capEff = BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(await readFile('/proc/self/status', 'utf8'))?.[1] ?? '0'}`);
    if ((capEff >> 24n) & 1n) expect((await readFile(`/proc/${agent!.proc.pid}/oom_score_adj`, 'utf8')).trim()).toBe('-500');
    else expect(agent!.stderr.join('')).toContain('cannot set oom_score_adj to -500');
    const name = `oom-adj-${suffix}`;
    expect((await ctl(['run', '-d', '--name', name, 'busybox:e2e', 'sh', '-c', 'cat /proc/self/oom_score_adj; sleep 1000'])).code).toBe(0);
    const c = await inspect(name);
    expect((await readFile(`/proc/${c.State.Pid}/oom_score_adj`, 'utf8')).trim()).toBe('0');
    expect((await ctl(['exec', name, 'cat', '/proc/self/oom_score_adj'])).stdout.trim()).toBe('0');
    expect(JSON.parse((await ctl(['inspect', name])).stdout)[0].HostConfig.PidsLimit).toBe(4096);
    expect((await ctl(['rm', '-f', name])).code).toBe(0);
  });

  it('pause freezes, unpause thaws, restart gives a new PID, wait returns the kill code', async () => {
    const name = `life-${suffix}`;
    const r = await ctl(['run', '-d', '--name', name, 'busybox:e2e', 'sleep', '1000']);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect((await ctl(['pause', name])).code).toBe(0);
    expect(readFileSync(`${CG}/freezer/${parent}/${id}/freezer.state`, 'utf8').trim()).toBe('FROZEN');
    expect((await ctl(['ps'])).stdout).toMatch(/\(Paused\)/);
    expect((await ctl(['unpause', name])).code).toBe(0);
    expect(readFileSync(`${CG}/freezer/${parent}/${id}/freezer.state`, 'utf8').trim()).toBe('THAWED');
    const pid1 = (await inspect(name)).State.Pid;
    expect((await ctl(['restart', '-t', '0', name])).code).toBe(0);
    const pid2 = (await inspect(name)).State.Pid;
    expect(pid2).toBeGreaterThan(0);
    expect(pid2).not.toBe(pid1);
    expect(existsSync(`/proc/${pid1}`)).toBe(false);
    const waited = ctl(['wait', name]);
    await sleep(200);
    expect((await ctl(['kill', '-s', 'KILL', name])).code).toBe(0);
    expect((await waited).stdout).toBe('137\n');
    expect((await ctl(['rm', name])).code).toBe(0);
  });

  it('kill -9 of the agent leaves containers running; a new agent re-adopts them and records exits', async () => {
    const keep = `keep-${suffix}`;
    const quit = `quit-${suffix}`;
    expect((await ctl(['run', '-d', '--name', keep, 'busybox:e2e', 'sleep', '1000'])).code).toBe(0);
    expect((await ctl(['run', '-d', '--name', quit, 'busybox:e2e', 'sh', '-c', 'sleep 3; exit 5'])).code).toBe(0);
    const pid = (await inspect(keep)).State.Pid;
    expect(pid).toBeGreaterThan(0);
    agent!.proc.kill('SIGKILL');
    await new Promise((r) => agent!.proc.once('exit', r));
    await sleep(4000); // `quit` exits while no agent runs
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    agent = await startAgent();
    const ps = await ctl(['ps']);
    expect(ps.stdout).toContain(keep);
    expect((await inspect(keep)).State).toMatchObject({ Status: 'running', Pid: pid });
    expect((await inspect(quit)).State).toMatchObject({ Status: 'exited', ExitCode: 5 });
    expect((await ctl(['rm', '-f', keep, quit])).code).toBe(0);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('50 create/start/rm cycles leave mounts, cgroups and open files as they were', async () => {
    const c = api();
    const count = () => ({
      // Mounts of this agent (its data and run dirs) or any overlay: other programs on the
      // host (network namespaces, other tests) may mount and unmount meanwhile.
      mounts: readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.includes(tmp) || / - overlay /.test(l)).length,
      cgroups: existsSync(`${CG}/memory/${parent}`) ? readdirSync(`${CG}/memory/${parent}`, { withFileTypes: true }).filter((d) => d.isDirectory()).length : 0,
      fds: readdirSync(`/proc/${agent!.proc.pid}/fd`).length,
    });
    try {
      // the image must still be there after the agent restart above (re-import if an agent build keeps images in memory)
      await c.inspectImage('busybox:e2e').catch(async () => c.importImage('busybox:e2e', Readable.from(await busyboxTar())));
      // one warm-up cycle so lazily opened files (logs, sockets) are counted in the baseline
      const warm = await c.request<{ Id: string }>('POST', '/v1/containers', { body: { image: 'busybox:e2e', cmd: ['sleep', '100'] } });
      await c.request('POST', `/v1/containers/${warm.Id}/start`);
      await c.request('DELETE', `/v1/containers/${warm.Id}`, { query: { force: 1 } });
      const before = count();
      for (let i = 0; i < 50; i++) {
        const { Id } = await c.request<{ Id: string }>('POST', '/v1/containers', { body: { image: 'busybox:e2e', cmd: ['sleep', '100'], networkMode: 'none' } });
        await c.request('POST', `/v1/containers/${Id}/start`);
        await c.request('DELETE', `/v1/containers/${Id}`, { query: { force: 1 } });
      }
      await sleep(200);
      const after = count();
      expect(after.mounts).toBe(before.mounts);
      expect(after.cgroups).toBe(before.cgroups);
      expect(after.fds).toBeLessThanOrEqual(before.fds + 2);
      expect(readdirSync(join(dataDir, 'containers'))).toEqual([]);
    } finally {
      await c.close();
    }
  });
});

// ── helpers ──────────────────────────────────────────────────────────────────────────────

/** A busybox rootfs as a tar: /bin/busybox, a symlink per applet, /etc/passwd and /etc/group. */
async function busyboxTar(): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (d: unknown) => {
    chunks.push(d as Buffer);
  });
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'home', 'var']) {
    p.entry({ name: `${d}/`, type: 'directory', mode: d === 'tmp' ? 0o1777 : 0o755 });
  }
  p.entry({ name: 'bin/busybox', mode: 0o755 }, readFileSync('/bin/busybox'));
  const applets = spawnSync('/bin/busybox', ['--list']).stdout.toString().split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) p.entry({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
  p.entry({ name: 'etc/passwd', mode: 0o644 }, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
  p.entry({ name: 'etc/group', mode: 0o644 }, 'root:x:0:\nnogroup:x:65534:\n');
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function removeCgroupParent(parent: string): Promise<void> {
  for (const ctrl of readdirSync(CG)) {
    const dir = join(CG, ctrl, parent);
    if (!existsSync(dir)) continue;
    for (const child of readdirSync(dir, { withFileTypes: true })) {
      if (!child.isDirectory()) continue;
      const procs = join(dir, child.name, 'cgroup.procs');
      for (const pid of (await readFile(procs, 'utf8').catch(() => '')).split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
      await sleep(50);
      spawnSync('rmdir', [join(dir, child.name)]);
    }
    spawnSync('rmdir', [dir]);
  }
}

function unmountUnder(dir: string): void {
  if (!dir) return;
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && p.startsWith(dir))
    .sort((a, b) => b.length - a.length);
  for (const p of points) spawnSync('umount', ['-l', p]);
}
