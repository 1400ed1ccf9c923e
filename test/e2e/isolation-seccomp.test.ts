/**
 * The default seccomp filter (native/runtime/seccomp.c; docs/runtime-helper.md "Seccomp"),
 * for real: a static probe calls the syscalls the allow-list leaves out (each must fail with
 * exactly EPERM, and where the kernel alone would answer otherwise, an unconfined run shows
 * the filter is what refused), the ones each added capability turns on, and the ones common
 * programs need; then busybox, the host's python3 and node run real work under the filter.
 * A C checker also runs the filter the helper builds through a BPF interpreter for every
 * syscall number and capability set. Needs root, overlayfs, the built helper and `cc`; skips
 * with the reason otherwise. Containers, cgroups and temp dirs go in afterAll, also on failure.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BindMount, LaunchSpec, Started } from '../../pkg/runtime/index.js';
import { CAPABILITY_NUMBERS, DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, NativeDriver } from '../../pkg/runtime/index.js';
import { haveBusybox, makeBusyboxRootfs } from './helpers-rootfs.js';

const REPO = resolve(import.meta.dirname, '../..');
const HELPER = join(REPO, 'native/build/shoal-runtime');
const SECCOMP_C = join(REPO, 'native/runtime/seccomp.c');
const CG = '/sys/fs/cgroup';

function have(cmd: string, ...args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (process.arch !== 'x64') return 'the probe is x86_64 code (int $0x80, x32)';
  if (!existsSync(HELPER)) return `the native helper is not built (${HELPER}; make native)`;
  if (!haveBusybox()) return 'needs /bin/busybox (busybox-static)';
  if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'needs overlayfs';
  if (!have('cc', '--version')) return 'needs a C compiler (cc) for the probe';
  if (!have('nsenter', '--version') || !have('ip', '-V')) return 'needs nsenter and ip (to bring up loopback)';
  return undefined;
}
const skip = skipReason();

/** Left out of every group: EPERM whatever the capabilities (x32 and i386 are killed). */
const NEVER_ALLOWED = [
  'keyctl', 'add_key', 'request_key', 'userfaultfd', 'io_uring_setup', 'kexec_load', 'kexec_file_load', 'pivot_root',
  'swapon', 'move_pages', 'migrate_pages', 'file_setattr_469', 'nr_471', 'nr_1000', 'nr_minus_1', 'socket_alg',
  'socket_vsock', 'socket_vsock_high_bits', 'personality_addr_no_randomize',
];

/** Docker's conditional groups: the probe's calls that each capability lets through. */
const GROUPS: Record<string, string[]> = {
  CAP_SYS_ADMIN: ['clone3', 'clone_newuser', 'clone_newnet', 'unshare', 'setns', 'mount', 'umount2', 'fanotify_init', 'fsopen',
    'open_tree', 'sethostname', 'setdomainname', 'quotactl', 'lsm_list_modules', 'bpf', 'perf_event_open', 'syslog'],
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise'],
  CAP_SYS_MODULE: ['init_module', 'finit_module', 'delete_module'],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'clock_settime'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'set_mempolicy', 'mbind'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

/** What common programs need: must succeed under the default filter. */
const MUST_WORK = ['getpid', 'fork', 'thread', 'posix_spawn', 'ptrace_child', 'process_vm_readv', 'socket_inet', 'socket_unix',
  'socket_netlink', 'personality_linux32', 'personality_query', 'adjtimex_read', 'memfd_create'];

/** Allowed: whatever the kernel answers, the same as without the filter. */
const KERNEL_ANSWERS = ['cachestat', 'futex_waitv', 'socket_nfc', 'socket_kcm', 'landlock_abi'];

/**
 * Denied calls the kernel itself would not refuse with EPERM in a default container (kernel
 * >= 5.13 for unprivileged fanotify), so their EPERM can only come from the filter.
 */
const ONLY_THE_FILTER_REFUSES = ['keyctl', 'add_key', 'userfaultfd', 'move_pages', 'file_setattr_469', 'nr_471', 'nr_1000', 'nr_minus_1',
  'socket_vsock', 'socket_vsock_high_bits', 'personality_addr_no_randomize', 'fanotify_init', 'open_tree', 'kcmp'];

type Results = Record<string, string>;

describe.skipIf(skip !== undefined)(`seccomp allow-list${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const tag = `shoal-test-sc-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let base = '';
  let lower = '';
  let hostLower = '';
  let hostBinds: BindMount[] = [];
  let probeDir = '';
  const cgroupDirs: string[] = [];
  const started: Started[] = [];
  let seq = 0;
  const driver = new NativeDriver({ binaryPath: HELPER, pollIntervalMs: 50 });

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'shoal-seccomp-'));
    lower = makeBusyboxRootfs(join(base, 'lower'));
    ({ lower: hostLower, binds: hostBinds } = hostRuntimeRootfs(join(base, 'host-lower')));
    probeDir = join(base, 'probe');
    mkdirSync(probeDir);
    writeFileSync(join(probeDir, 'probe.c'), PROBE_C);
    execFileSync('cc', ['-static', '-O1', '-o', join(probeDir, 'probe'), join(probeDir, 'probe.c'), '-lpthread'], { stdio: 'pipe' });
    if (existsSync(`${CG}/cgroup.controllers`)) {
      cgroupDirs.push(`${CG}/${tag}`);
    } else {
      for (const c of ['memory', 'cpu', 'pids', 'freezer']) if (existsSync(`${CG}/${c}`)) cgroupDirs.push(`${CG}/${c}/${tag}`);
    }
    for (const d of cgroupDirs) mkdirSync(d);
  });

  afterAll(async () => {
    for (const s of started) {
      for (const p of [s.pid, s.monitorPid]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    for (const d of cgroupDirs) {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(d);
          break;
        } catch {
          await sleep(100);
        }
      }
    }
    if (base) await rm(base, { recursive: true, force: true });
  });

  function makeSpec(args: string[], over: Partial<LaunchSpec> = {}, caps: string[] = []): LaunchSpec {
    const id = `s${++seq}`;
    const dir = join(base, id);
    for (const d of ['upper', 'work', 'state']) mkdirSync(join(dir, d), { recursive: true });
    return {
      id,
      stateDir: join(dir, 'state'),
      logPath: join(dir, 'log.json'),
      logMaxBytes: 10 << 20,
      logMaxFiles: 3,
      rootfs: { lowerDirs: [lower], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') },
      hostname: `host-${id}`,
      process: {
        args,
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [] },
        noNewPrivileges: true,
        capabilities: [...DEFAULT_CAPABILITIES, ...caps],
        rlimits: [],
        openStdin: false,
      },
      mounts: [{ source: probeDir, destination: '/probe', readOnly: true }],
      etcFiles: {},
      network: 'none',
      cgroupProcsFiles: cgroupDirs.map((d) => join(d, 'cgroup.procs')),
      seccomp: 'default',
      init: false,
      maskedPaths: DEFAULT_MASKED_PATHS,
      readonlyPaths: DEFAULT_READONLY_PATHS,
      ...over,
    };
  }

  /** Runs to the exit; loopback is brought up (as Docker's `none` network has it). */
  async function run(spec: LaunchSpec) {
    const s = await driver.start(spec, {
      onCreated: (pid) => {
        // A PID 1 that already failed has no namespace left: start() reports its error.
        if (existsSync(`/proc/${pid}/ns/net`)) execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', 'link', 'set', 'lo', 'up']);
        return Promise.resolve();
      },
    });
    started.push(s);
    const exit = await driver.waitExit(spec.stateDir, AbortSignal.timeout(60_000));
    const lines = (await readFile(spec.logPath, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { log: string; stream: string });
    const out = (stream: string) => lines.filter((l) => l.stream === stream).map((l) => l.log).join('');
    return { exit, stdout: out('stdout'), stderr: out('stderr') };
  }

  async function probe(caps: string[] = [], seccomp: LaunchSpec['seccomp'] = 'default'): Promise<Results> {
    const r = await run(makeSpec(['/probe/probe'], { seccomp }, caps));
    expect(r.stderr).toBe('');
    expect(r.exit.exitCode).toBe(0);
    return parseResults(r.stdout);
  }

  it('builds a filter that agrees with its lists for every syscall number and capability set', () => {
    const dir = join(base, 'check');
    mkdirSync(dir);
    writeFileSync(join(dir, 'check.c'), CHECK_C);
    execFileSync('cc', ['-O2', '-Wall', '-D_GNU_SOURCE', `-DSECCOMP_C="${SECCOMP_C}"`, '-o', join(dir, 'check'), join(dir, 'check.c')], { stdio: 'pipe' });
    const out = execFileSync(join(dir, 'check'), { encoding: 'utf8' }).trim();
    const m = /^ok insns=(\d+) insns_all_caps=(\d+) max_path=(\d+) allow_path=(\d+) build_us=([\d.]+)$/.exec(out);
    expect(m, out).not.toBeNull();
    const [insns, allCaps, maxPath, , buildUs] = (m ?? []).slice(1).map(Number) as [number, number, number, number, number];
    // A search tree, not a chain: a few hundred instructions, a short path for any syscall.
    expect(insns).toBeLessThan(400);
    expect(allCaps).toBeLessThan(400);
    expect(maxPath).toBeLessThanOrEqual(24);
    expect(buildUs).toBeLessThan(500);
  });

  it('refuses with EPERM what the allow-list leaves out, clone3 with ENOSYS, and kills x32 and i386 calls', async () => {
    const got = await probe();
    const unconfined = await probe([], 'unconfined');
    for (const name of NEVER_ALLOWED) expect(got[name], name).toBe('EPERM');
    for (const [cap, names] of Object.entries(GROUPS)) {
      for (const name of names.filter((n) => n !== 'clone3')) expect(got[name], `${name} without ${cap}`).toBe('EPERM');
    }
    expect(got.clone3).toBe('ENOSYS'); // in the CAP_SYS_ADMIN group; without it, libcs fall back to clone
    expect(got.x32_getpid).toBe('killed:SYS');
    // int $0x80 reaches the filter only where the kernel runs i386 code (it faults otherwise).
    if (unconfined.i386_getpid === 'ok') expect(got.i386_getpid).toBe('killed:SYS');
    for (const name of MUST_WORK) expect(got[name], name).toBe('ok');
    expect(got.chroot_missing).toBe('ENOENT'); // CAP_SYS_CHROOT is one of Docker's defaults
    for (const name of KERNEL_ANSWERS) expect(got[name], name).toBe(unconfined[name]);
    // The same probe unconfined: these EPERMs are the filter's, not the kernel's.
    for (const name of ONLY_THE_FILTER_REFUSES) expect(unconfined[name], `${name} unconfined`).not.toBe('EPERM');
    expect(unconfined.clone3).not.toBe('ENOSYS');
    expect(unconfined.x32_getpid).not.toBe('killed:SYS');
  });

  it('lets each capability turn on its own group (and only that), as Docker does', async () => {
    const grouped = [...new Set(Object.values(GROUPS).flat())];
    for (const [cap, names] of Object.entries(GROUPS)) {
      const filtered = await probe([cap]);
      const unconfined = await probe([cap], 'unconfined');
      // The filter lets the group through: the kernel answers as it does unconfined.
      for (const name of names) expect(filtered[name], `${name} with ${cap}`).toBe(unconfined[name]);
      expect(names.some((n) => filtered[n] !== 'EPERM'), `${cap}: a call of the group reached the kernel`).toBe(true);
      // The other groups stay shut.
      for (const name of grouped.filter((n) => !names.includes(n))) {
        expect(filtered[name], `${name} with ${cap}`).toBe(name === 'clone3' ? 'ENOSYS' : 'EPERM');
      }
      for (const name of NEVER_ALLOWED) expect(filtered[name], `${name} with ${cap}`).toBe('EPERM');
    }
    // Every capability we hold (capset cannot grant more): the never-allowed calls stay refused.
    const bounding = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`);
    const held = Object.entries(CAPABILITY_NUMBERS).filter(([, n]) => (bounding >> BigInt(n)) & 1n).map(([name]) => name);
    expect(held).toContain('CAP_SYS_ADMIN');
    const all = await probe(held);
    for (const name of NEVER_ALLOWED) expect(all[name], `${name} with every capability`).toBe('EPERM');
    expect(all.x32_getpid).toBe('killed:SYS');
    expect(all.clone_newuser).toBe('ok');
  });

  it('exec gets the same filter as the container', async () => {
    const spec = makeSpec(['sleep', '1000']);
    const s = await driver.start(spec);
    started.push(s);
    const exec = async (args: string[]) => {
      const chunks: Buffer[] = [];
      const out = new PassThrough();
      out.on('data', (b: Buffer) => chunks.push(b));
      const res = await driver.exec(spec, s, { args, env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] }, stdout: out, stderr: new PassThrough() });
      expect(res.exitCode).toBe(0);
      return Buffer.concat(chunks).toString();
    };
    try {
      const got = parseResults(await exec(['/probe/probe']));
      for (const name of NEVER_ALLOWED) expect(got[name], name).toBe('EPERM');
      expect(got.fanotify_init).toBe('EPERM');
      expect(got.clone3).toBe('ENOSYS');
      for (const name of MUST_WORK) expect(got[name], name).toBe('ok');
      const status = await exec(['cat', '/proc/self/status']);
      expect(status).toContain('Seccomp:\t2');
      expect(status).toContain('Seccomp_filters:\t1');
    } finally {
      process.kill(s.pid, 'SIGKILL');
      await driver.waitExit(spec.stateDir, AbortSignal.timeout(10_000));
    }
  });

  it('installs the same filter before the credentials change when no_new_privs is off', async () => {
    const spec = makeSpec(['sh', '-c', 'grep -E "^(Seccomp|NoNewPrivs|Uid)" /proc/self/status; /probe/probe']);
    spec.process.noNewPrivileges = false;
    spec.process.user = { uid: 65534, gid: 65534, additionalGids: [1] };
    const r = await run(spec);
    expect(r.exit.exitCode).toBe(0);
    expect(r.stdout).toContain('NoNewPrivs:\t0\n');
    expect(r.stdout).toContain('Seccomp:\t2\n');
    expect(r.stdout).toContain('Seccomp_filters:\t1\n');
    expect(r.stdout).toMatch(/^Uid:\t65534\t/m);
    const got = parseResults(r.stdout.split('\n').filter((l) => !/^(Seccomp|NoNewPrivs|Uid)/.test(l)).join('\n'));
    for (const name of NEVER_ALLOWED) expect(got[name], name).toBe('EPERM');
    expect(got.clone3).toBe('ENOSYS');
    expect(got.getpid).toBe('ok');
  });

  it('runs busybox: a shell with pipes, ls, ps, cp, date, sleep, tar, and wget from httpd on loopback', async () => {
    const script = [
      'set -e',
      'echo hello world | tr a-z A-Z | sed s/WORLD/SHOAL/ | grep -c SHOAL',
      'echo "ls=$(ls / | wc -l)"',
      'ps -o pid,comm | grep -q "ps" && echo ps-ok',
      'cp /etc/passwd /tmp/p && cmp /etc/passwd /tmp/p && echo cp-ok',
      'echo "year=$(date +%Y)"',
      'sleep 0.1 && echo slept',
      'tar czf /tmp/a.tgz -C /etc passwd group && tar tzf /tmp/a.tgz | sort | tr "\\n" " " && echo',
      'mkdir -p /tmp/www && echo served >/tmp/www/index.html',
      'httpd -f -p 127.0.0.1:8080 -h /tmp/www & h=$!',
      'for i in $(seq 50); do wget -q -O /tmp/got http://127.0.0.1:8080/index.html 2>/dev/null && break; sleep 0.1; done',
      'echo "wget=$(cat /tmp/got)"',
      'kill $h',
    ].join('\n');
    const r = await run(makeSpec(['sh', '-c', script]));
    expect(r.stderr).toBe('');
    expect(r.exit.exitCode).toBe(0);
    expect(r.stdout).toContain('1\n');
    expect(Number(/ls=(\d+)/.exec(r.stdout)?.[1])).toBeGreaterThan(5);
    expect(r.stdout).toContain('ps-ok\n');
    expect(r.stdout).toContain('cp-ok\n');
    expect(r.stdout).toContain(`year=${new Date().getUTCFullYear()}`);
    expect(r.stdout).toContain('slept\n');
    expect(r.stdout).toContain('group passwd \n');
    expect(r.stdout).toContain('wget=served\n');
  });

  it("runs the host's python3 with threads, sockets, subprocesses, multiprocessing and asyncio", async (ctx) => {
    if (!existsSync('/usr/bin/python3')) ctx.skip('no /usr/bin/python3 on this host');
    const r = await run(makeSpec(['/usr/bin/python3', '-c', PYTHON_SCRIPT], { rootfs: hostRootfs(), mounts: hostBinds }));
    expect(r.stderr).toBe('');
    expect(r.exit.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ hashes: 16, echo: 'PING', pair: 'x', sub: 'sub', spawn: 0, pool: [1, 2, 3], aio: 'async', tmp: 'data' });
  });

  it("runs the host's node with a worker thread, fs, net and a child process", async (ctx) => {
    if (!existsSync('/usr/bin/node')) ctx.skip('no /usr/bin/node on this host');
    const r = await run(makeSpec(['/usr/bin/node', '-e', NODE_SCRIPT], { rootfs: hostRootfs(), mounts: hostBinds }));
    expect(r.stderr).toBe('');
    expect(r.exit.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ worker: 499999500000, file: 'node', echo: 'PING', sub: 'sub', rnd: 8 });
  });

  function hostRootfs(): LaunchSpec['rootfs'] {
    const dir = join(base, `h${++seq}`);
    for (const d of ['upper', 'work']) mkdirSync(join(dir, d), { recursive: true });
    return { lowerDirs: [hostLower], upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
  }
});

/**
 * busybox plus the host's /usr (and /lib, /lib64) read-only: what the host's dynamically
 * linked python3 and node need. Where /lib is a symlink into /usr on the host (merged /usr),
 * the same symlink goes into the image; otherwise it is bind-mounted too.
 */
function hostRuntimeRootfs(dir: string): { lower: string; binds: BindMount[] } {
  makeBusyboxRootfs(dir);
  const binds: BindMount[] = [{ source: '/usr', destination: '/usr', readOnly: true }];
  for (const d of ['/lib', '/lib64']) {
    if (!existsSync(d)) continue;
    if (lstatSync(d).isSymbolicLink()) symlinkSync(readlinkSync(d), join(dir, d));
    else binds.push({ source: d, destination: d, readOnly: true });
  }
  return { lower: dir, binds };
}

function parseResults(stdout: string): Results {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
}

const PYTHON_SCRIPT = String.raw`
import asyncio, concurrent.futures, hashlib, json, multiprocessing, os, socket, subprocess, tempfile, threading
def work(i): return hashlib.sha256(str(i).encode() * 1000).hexdigest()
with concurrent.futures.ThreadPoolExecutor(4) as ex: hashes = list(ex.map(work, range(16)))
srv = socket.create_server(('127.0.0.1', 0))
def serve():
    c, _ = srv.accept(); c.sendall(c.recv(100).upper()); c.close()
th = threading.Thread(target=serve); th.start()
cl = socket.create_connection(('127.0.0.1', srv.getsockname()[1])); cl.sendall(b'ping'); echo = cl.recv(100).decode(); cl.close(); th.join()
a, b = socket.socketpair(); a.sendall(b'x'); pair = b.recv(1).decode()
sub = subprocess.run(['/bin/echo', 'sub'], capture_output=True, text=True, check=True).stdout.strip()
pid = os.posix_spawn('/bin/true', ['true'], {})
spawn = os.waitpid(pid, 0)[1]
with multiprocessing.Pool(2) as pool: squares = pool.map(abs, [-1, -2, -3])
async def main():
    await asyncio.sleep(0.01); return 'async'
aio = asyncio.run(main())
with tempfile.TemporaryFile('w+') as f: f.write('data'); f.flush(); f.seek(0); tmp = f.read()
print(json.dumps({'hashes': len(set(hashes)), 'echo': echo, 'pair': pair, 'sub': sub, 'spawn': spawn, 'pool': squares, 'aio': aio, 'tmp': tmp}))
`;

const NODE_SCRIPT = String.raw`
const { Worker } = require('node:worker_threads');
const fs = require('node:fs');
const net = require('node:net');
const cp = require('node:child_process');
const crypto = require('node:crypto');
(async () => {
  const worker = await new Promise((res, rej) => {
    const w = new Worker('let s = 0; for (let i = 0; i < 1e6; i++) s += i; require("node:worker_threads").parentPort.postMessage(s);', { eval: true });
    w.once('message', res);
    w.once('error', rej);
  });
  fs.writeFileSync('/tmp/n.txt', 'node');
  const file = await fs.promises.readFile('/tmp/n.txt', 'utf8');
  const srv = net.createServer((c) => c.on('data', (d) => c.end(d.toString().toUpperCase())));
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const echo = await new Promise((res, rej) => {
    let got = '';
    const c = net.connect(srv.address().port, '127.0.0.1', () => c.write('ping'));
    c.on('data', (d) => (got += d));
    c.on('end', () => res(got));
    c.on('error', rej);
  });
  srv.close();
  const sub = cp.execFileSync('/bin/echo', ['sub']).toString().trim();
  console.log(JSON.stringify({ worker, file, echo, sub, rnd: crypto.randomBytes(8).length }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
`;

/**
 * Calls each syscall with arguments that are harmless even where it is allowed (bad magic,
 * bad flags, missing paths, no-ops), and prints name=ok, name=<errno name> or
 * name=killed:<signal>. The x32 and i386 calls run in a child, which the filter kills.
 */
const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void t(const char *n, long r) { printf("%s=%s\n", n, r < 0 ? strerrorname_np(errno) : "ok"); }

static void child(const char *n, long (*f)(void)) {
  fflush(stdout);
  pid_t p = fork();
  if (p == 0) _exit(f() < 0 ? (errno & 0xff) : 0);
  int st;
  waitpid(p, &st, 0);
  if (WIFSIGNALED(st)) printf("%s=killed:%s\n", n, sigabbrev_np(WTERMSIG(st)));
  else if (WEXITSTATUS(st)) printf("%s=%s\n", n, strerrorname_np(WEXITSTATUS(st)));
  else printf("%s=ok\n", n);
}

static long x32_getpid(void) { return syscall(0x40000000 | SYS_getpid); }

static long i386_getpid(void) {
  long r = 20; /* getpid on i386 */
  __asm__ volatile("int $0x80" : "+a"(r) : : "memory");
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

static long cl(unsigned long flags) {
  long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, 0, 0);
  return r;
}

static void *thread_fn(void *arg) { return arg; }

/* glibc tries clone3 first and falls back to clone on ENOSYS. */
static long thread(void) {
  pthread_t th;
  int e = pthread_create(&th, NULL, thread_fn, NULL);
  if (e) {
    errno = e;
    return -1;
  }
  return pthread_join(th, NULL);
}

static long spawn(void) {
  pid_t pid;
  char *argv[] = {"true", NULL};
  int e = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
  if (e) {
    errno = e;
    return -1;
  }
  int st;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  errno = ECHILD;
  return -1;
}

static long trace_child(void) {
  pid_t c = fork();
  if (c == 0) {
    pause();
    _exit(0);
  }
  long r = ptrace(PTRACE_SEIZE, c, 0, 0);
  int e = errno;
  kill(c, SIGKILL);
  waitpid(c, 0, 0);
  errno = e;
  return r;
}

static long vm_read(void) {
  char src[8] = "shoal", dst[8] = "";
  struct iovec l = {dst, sizeof dst}, r = {src, sizeof src};
  long n = syscall(SYS_process_vm_readv, getpid(), &l, 1, &r, 1, 0);
  if (n < 0) return -1;
  if (n == (long)sizeof src && !strcmp(dst, "shoal")) return 0;
  errno = EIO;
  return -1;
}

static long closing(long r) {
  if (r >= 0) close((int)r);
  return r;
}

static long sock(long family, int type) { return closing(syscall(SYS_socket, family, type, 0)); }

int main(void) {
  t("getpid", syscall(SYS_getpid));
  t("fork", cl(0));
  t("thread", thread());
  t("posix_spawn", spawn());
  t("ptrace_child", trace_child());
  t("process_vm_readv", vm_read());
  t("socket_inet", sock(AF_INET, SOCK_STREAM));
  t("socket_unix", sock(AF_UNIX, SOCK_STREAM));
  t("socket_netlink", sock(AF_NETLINK, SOCK_RAW));
  t("personality_linux32", personality(PER_LINUX32));
  personality(PER_LINUX);
  t("personality_query", personality(0xffffffff));
  struct timex tx = {.modes = 0};
  t("adjtimex_read", adjtimex(&tx));
  t("memfd_create", closing(syscall(SYS_memfd_create, "probe", 0)));
  t("chroot_missing", chroot("/nonexistent"));
  t("landlock_abi", syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */));
  t("cachestat", syscall(451, -1, NULL, NULL, 0));
  t("futex_waitv", syscall(SYS_futex_waitv, NULL, 0, 0, NULL, 0));
  t("socket_nfc", sock(39, SOCK_SEQPACKET));
  t("socket_kcm", sock(41, SOCK_DGRAM));

  t("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
  t("add_key", syscall(SYS_add_key, "user", "shoal-probe", "v", 1, -2 /* process keyring */));
  t("request_key", syscall(SYS_request_key, "user", "shoal-probe-none", NULL, -2));
  t("userfaultfd", closing(syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */ | O_CLOEXEC)));
  t("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
  t("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0x8000 /* unknown flag */));
  t("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0x8000));
  t("pivot_root", syscall(SYS_pivot_root, "/nonexistent", "/nonexistent"));
  t("swapon", syscall(SYS_swapon, NULL, 0));
  t("move_pages", syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0));
  t("migrate_pages", syscall(SYS_migrate_pages, 0, 0, NULL, NULL));
  t("file_setattr_469", syscall(469, -1, "", NULL, 0, 0));
  t("nr_471", syscall(471, 0, 0, 0));
  t("nr_1000", syscall(1000, 0, 0, 0));
  t("nr_minus_1", syscall(-1));
  t("socket_alg", sock(38, SOCK_SEQPACKET));
  t("socket_vsock", sock(40, SOCK_STREAM));
  t("socket_vsock_high_bits", sock(0x100000000L | 40, SOCK_STREAM));
  t("personality_addr_no_randomize", personality(ADDR_NO_RANDOMIZE));
  child("x32_getpid", x32_getpid);
  child("i386_getpid", i386_getpid);

  t("clone3", syscall(SYS_clone3, NULL, 0));
  t("clone_newuser", cl(CLONE_NEWUSER));
  t("clone_newnet", cl(CLONE_NEWNET));
  t("unshare", unshare(CLONE_NEWNS));
  t("setns", syscall(SYS_setns, 0, 0));
  t("mount", mount("shoal", "/mnt", "tmpfs", 0, 0));
  t("umount2", umount2("/nonexistent", 0));
  t("fanotify_init", closing(syscall(SYS_fanotify_init, 0x200 /* FAN_REPORT_FID */, O_RDONLY)));
  t("fsopen", closing(syscall(SYS_fsopen, "shoal-nofs", 0)));
  t("open_tree", closing(syscall(SYS_open_tree, -1, "/nonexistent", 0)));
  t("sethostname", syscall(SYS_sethostname, NULL, 65));
  t("setdomainname", syscall(SYS_setdomainname, NULL, 65));
  t("quotactl", syscall(SYS_quotactl, 0, NULL, 0, NULL));
  t("lsm_list_modules", syscall(461, NULL, NULL, 0));
  t("bpf", syscall(SYS_bpf, 0, NULL, 0));
  t("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
  t("syslog", syscall(SYS_syslog, 10 /* SIZE_BUFFER */, NULL, 0));
  t("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0));
  t("reboot", syscall(SYS_reboot, 0, 0, 0, 0)); /* bad magic */
  t("init_module", syscall(SYS_init_module, NULL, 0, ""));
  t("finit_module", syscall(SYS_finit_module, -1, "", 0));
  t("delete_module", syscall(SYS_delete_module, "shoal-probe-none", O_NONBLOCK));
  t("acct", syscall(SYS_acct, "/nonexistent/acct"));
  t("kcmp", syscall(SYS_kcmp, getpid(), getpid(), 1 /* KCMP_VM */, 0, 0));
  t("pidfd_getfd", syscall(SYS_pidfd_getfd, -1, 0, 0));
  t("process_madvise", syscall(SYS_process_madvise, -1, NULL, 0, 0, 0));
  t("iopl", syscall(SYS_iopl, 5)); /* above 3: EINVAL */
  t("ioperm", syscall(SYS_ioperm, 0x80, 1, 0)); /* turning a port off: no-op */
  t("settimeofday", syscall(SYS_settimeofday, NULL, NULL)); /* nothing to set */
  t("clock_settime", syscall(SYS_clock_settime, 0x7fff, NULL)); /* no such clock */
  t("vhangup", syscall(SYS_vhangup)); /* no controlling terminal */
  t("get_mempolicy", syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0));
  t("set_mempolicy", syscall(SYS_set_mempolicy, 0 /* MPOL_DEFAULT */, NULL, 0));
  t("mbind", syscall(SYS_mbind, NULL, 0, 0, NULL, 0, 0));
  return 0;
}
`;

/**
 * Includes seccomp.c, runs the program build_filter makes through a classic-BPF interpreter
 * for syscall numbers 0..1023 (and x32, -1, other arches), argument values around every
 * comparison, and capability sets (none, Docker's, Docker's plus each one, all), and compares
 * each verdict with the lists read directly; then a 600-interval tree, long enough to need
 * BPF_JA trampolines. Prints "ok insns=... max_path=... build_us=..." or the first mismatch.
 */
const CHECK_C = String.raw`
#include SECCOMP_C
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned run(const struct prog *p, const struct seccomp_data *d, unsigned *steps) {
  unsigned a = 0, pc = 0;
  *steps = 0;
  for (;;) {
    if (pc >= p->n) {
      printf("fell off the end at %u\n", pc);
      exit(1);
    }
    const struct sock_filter *f = &p->f[pc++];
    ++*steps;
    switch (f->code) {
    case BPF_LD | BPF_W | BPF_ABS:
      if (f->k > sizeof *d - 4 || f->k % 4) {
        printf("bad load %u\n", f->k);
        exit(1);
      }
      memcpy(&a, (const char *)d + f->k, 4);
      break;
    case BPF_JMP | BPF_JA: pc += f->k; break;
    case BPF_JMP | BPF_JEQ | BPF_K: pc += a == f->k ? f->jt : f->jf; break;
    case BPF_JMP | BPF_JGT | BPF_K: pc += a > f->k ? f->jt : f->jf; break;
    case BPF_JMP | BPF_JGE | BPF_K: pc += a >= f->k ? f->jt : f->jf; break;
    case BPF_JMP | BPF_JSET | BPF_K: pc += (a & f->k) ? f->jt : f->jf; break;
    case BPF_RET | BPF_K: return f->k;
    default:
      printf("unexpected opcode %#x at %u\n", f->code, pc - 1);
      exit(1);
    }
  }
}

/* The contract, read straight from the lists. */
static unsigned expect_verdict(unsigned long long caps, const struct seccomp_data *d) {
  unsigned nr = (unsigned)d->nr, a0 = (unsigned)d->args[0];
  if (d->arch != SHOAL_AUDIT_ARCH) return SECCOMP_RET_KILL_PROCESS;
#if defined(__x86_64__)
  if (nr >= X32_BIT && nr != 0xffffffffu) return SECCOMP_RET_KILL_PROCESS;
#endif
  int admin = (caps >> CAP_SYS_ADMIN) & 1;
  if (nr == SYS_socket) return (a0 == 38 || a0 == 40) ? RET_ERRNO(EPERM) : SECCOMP_RET_ALLOW;
  if (nr == SYS_personality) {
    for (unsigned i = 0; i < NPERS; i++)
      if (a0 == personas[i]) return SECCOMP_RET_ALLOW;
    return RET_ERRNO(EPERM);
  }
  if (nr == SYS_clone && !admin) return (a0 & NS_FLAGS) ? RET_ERRNO(EPERM) : SECCOMP_RET_ALLOW;
  if (nr == SYS_clone3 && !admin) return RET_ERRNO(ENOSYS);
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
    if (groups[g].cap >= 0 && !((caps >> groups[g].cap) & 1)) continue;
    for (unsigned i = 0; i < groups[g].n; i++)
      if (groups[g].nr[i] == nr) return SECCOMP_RET_ALLOW;
  }
  return RET_ERRNO(EPERM);
}

static const unsigned long long arg_values[] = {
    0, 1, 2, 8, 10, 16, 37, 38, 39, 40, 41, 42, 0x20000, 0x20008, 0x20001, 0x40000, 0xffffffffULL,
    0x100000026ULL, 0x100000028ULL, 0xffffffff00000000ULL, SIGCHLD, CLONE_VM | CLONE_THREAD | CLONE_SIGHAND,
    CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
    CLONE_NEWUSER | SIGCHLD, 0x80,
};
static const unsigned extra_nrs[] = {0x40000000u, 0x40000001u, 0x40000200u, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu};
#define NEXTRA (sizeof extra_nrs / sizeof extra_nrs[0])

int main(void) {
  static struct prog p;
  unsigned long long sets[64];
  unsigned nsets = 0;
  const unsigned long long docker = 0xa80425fbULL;
  sets[nsets++] = 0;
  sets[nsets++] = docker;
  for (int c = 0; c <= CAP_LAST_CAP; c++) sets[nsets++] = docker | (1ULL << c);
  sets[nsets++] = (1ULL << (CAP_LAST_CAP + 1)) - 1;
  unsigned max_path = 0, max_allow_path = 0, insns_docker = 0, insns_max = 0;
  for (unsigned s = 0; s < nsets; s++) {
    if (build_filter(sets[s], &p) < 0) {
      printf("build failed for caps %#llx: %s\n", sets[s], strerror(errno));
      return 1;
    }
    if (sets[s] == docker) insns_docker = p.n;
    if (p.n > insns_max) insns_max = p.n;
    for (unsigned i = 0; i < 1024 + NEXTRA; i++) {
      unsigned nr = i < 1024 ? i : extra_nrs[i - 1024];
      for (unsigned v = 0; v < sizeof arg_values / sizeof arg_values[0]; v++) {
        for (int arch = 0; arch < 2; arch++) {
          struct seccomp_data d;
          memset(&d, 0, sizeof d);
          d.nr = (int)nr;
          d.arch = arch ? SHOAL_AUDIT_ARCH : AUDIT_ARCH_I386;
          d.args[0] = arg_values[v];
          d.args[1] = ~0ULL;
          unsigned steps, got = run(&p, &d, &steps), want = expect_verdict(sets[s], &d);
          if (got != want) {
            printf("caps %#llx arch %#x nr %u arg0 %#llx: the filter says %#x, the lists %#x\n", sets[s], d.arch, nr, arg_values[v], got, want);
            return 1;
          }
          if (steps > max_path) max_path = steps;
          if (got == SECCOMP_RET_ALLOW && steps > max_allow_path) max_allow_path = steps;
        }
      }
    }
  }

  static struct interval iv[600];
  for (unsigned i = 0; i < 600; i++) iv[i] = (struct interval){i, (unsigned char)(i % 7 == 3 ? PERSONALITY : i % 2 ? ALLOW : DENY)};
  p.n = 0;
  p.overflow = 0;
  stmt(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  emit_tree(&p, iv, 0, 600);
  unsigned ja = 0;
  for (unsigned i = 0; i < p.n; i++) ja += p.f[i].code == (BPF_JMP | BPF_JA);
  if (p.overflow || ja == 0) {
    printf("600 intervals: overflow %d, %u trampolines\n", p.overflow, ja);
    return 1;
  }
  for (unsigned nr = 0; nr < 700; nr++) {
    for (unsigned v = 0; v < 2; v++) {
      struct seccomp_data d;
      memset(&d, 0, sizeof d);
      d.nr = (int)nr;
      d.args[0] = v ? 0x20008 : 0x1;
      unsigned steps, got = run(&p, &d, &steps);
      unsigned act = nr < 600 ? iv[nr].action : iv[599].action;
      unsigned want = act == ALLOW || (act == PERSONALITY && v) ? SECCOMP_RET_ALLOW : RET_ERRNO(EPERM);
      if (got != want) {
        printf("600 intervals: nr %u arg0 %#llx: %#x, want %#x\n", nr, (unsigned long long)d.args[0], got, want);
        return 1;
      }
    }
  }

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 1000; i++) build_filter(docker, &p);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1000 / 1000;
  printf("ok insns=%u insns_all_caps=%u max_path=%u allow_path=%u build_us=%.1f\n", insns_docker, insns_max, max_path, max_allow_path, us);
  return 0;
}
`;
