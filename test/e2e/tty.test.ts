/**
 * Terminals, end to end (root): shoalctl driven through a real pseudo-terminal (python3's pty
 * module, harness/pty.ts) against a real agent. `run -it IMAGE sh` gets a shell on
 * /dev/pts/0 of the container's devpts, `stty size` follows a resize of our window, Ctrl-C
 * interrupts a `sleep` without ending the shell, Ctrl-P Ctrl-Q detaches (the container runs on,
 * our terminal is restored), `attach` re-attaches and `exit 3` is the exit code; `exec -it` into
 * a running container; and through the controller, `exec -it task/NAME -- sh`.
 * Everything (ptys, containers, agents, controller, etcd, registry, mounts, temp dirs) is
 * removed in afterAll, also after a failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBusyboxRootfs } from './helpers-rootfs.js';
import {
  adminEnv, clusterKeyFile, CONTROLLER_JS, CTL_JS, ensureBuilt, etcdAvailable, freeLoopbackPort, joinToken, registryAvailable, startEtcd, startNode,
  startRegistry, startTestAgent, stopProc, TempDirs, trustCluster, unmountUnder, until, AGENT_JS, run, type Proc, type TestAgent, type TestEtcd, type TestRegistry,
} from './harness/index.js';
import { ptyAvailable, spawnInPty, type PtyProcess } from './harness/pty.js';

const isRoot = process.getuid?.() === 0;
const HELPER = join(import.meta.dirname, '../../native/build/shoal-runtime');
const skip = !isRoot
  ? 'needs root'
  : !existsSync('/bin/busybox')
    ? 'needs /bin/busybox (busybox-static)'
    : !existsSync(HELPER) || !existsSync(CTL_JS) || !existsSync(AGENT_JS)
      ? 'not built (make build)'
      : !ptyAvailable()
        ? 'needs python3 with the pty module'
        : undefined;
const suffix = `${process.pid}-${Date.now().toString(36)}`;
const IMAGE = 'busybox:tty-e2e';
/** busybox sh's prompt, then its cursor position query. */
const PROMPT = /# (\x1b\[6n)?$/;
/** Ctrl-P Ctrl-Q. */
const DETACH = '\x10\x11';

/** Our terminal's mode after shoalctl ended: `stty -a` prints `icanon` and `echo` once it is cooked again. */
const COOKED = /rc=(\d+)[\s\S]*[^-]icanon[\s\S]*[^-]echo\b/;

describe.skipIf(skip !== undefined)(`terminals through shoalctl and a real pty${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const tmp = new TempDirs();
  const ptys: PtyProcess[] = [];
  let agent: TestAgent | undefined;
  let base = '';

  const ctlArgs = (): string[] => [process.execPath, CTL_JS, '--host', `unix://${agent?.socket ?? ''}`];
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, HOME: base, TERM: 'xterm' });
  /** shoalctl ARGS on a pty, followed by its exit code and our terminal's mode (see COOKED). */
  const onPty = (args: string[], rows = 24, cols = 80): PtyProcess => {
    const cmd = [...ctlArgs(), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const p = spawnInPty(['sh', '-c', `${cmd}; echo "rc=$?"; stty -a`], { rows, cols, env: env() });
    ptys.push(p);
    return p;
  };
  const ctl = async (args: string[]) => {
    if (!agent) throw new Error('no agent');
    return agent.ctl(args);
  };
  const inspect = async (name: string): Promise<{ State: { Running: boolean; ExitCode: number }; Config: { Tty?: boolean } }> => {
    const r = await ctl(['inspect', name]);
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as unknown;
    return (Array.isArray(v) ? v[0] : v) as { State: { Running: boolean; ExitCode: number }; Config: { Tty?: boolean } };
  };

  /** Our own data and run dirs, so an agent can be restarted on them. */
  const agentDirs = (): { dataDir: string; runDir: string } => ({ dataDir: join(base, 'data'), runDir: join(base, 'run') });

  beforeAll(async () => {
    base = await tmp.make('shoal-tty-');
    agent = await startTestAgent(agentDirs());
    const root = makeBusyboxRootfs(join(base, 'rootfs'));
    const tar = join(base, 'rootfs.tar');
    expect(spawnSync('tar', ['-C', root, '-cf', tar, '.']).status).toBe(0);
    const imp = await ctl(['import', tar, IMAGE]);
    expect(imp.code, imp.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    for (const p of ptys) p.kill();
    if (agent) {
      const list = await agent.ctl(['ps', '-a', '-q']).catch(() => undefined);
      for (const id of list?.stdout.split('\n').filter(Boolean) ?? []) await agent.ctl(['rm', '-f', id]).catch(() => undefined);
      const runDir = agent.runDir;
      await agent.stop();
      unmountUnder(runDir);
    }
    unmountUnder(base);
    await tmp.cleanup();
  }, 60_000);

  it('run -it: a shell on /dev/pts/0 that resizes, takes Ctrl-C, detaches, re-attaches and exits with its code', async () => {
    const name = `tty-${suffix}`;
    const p = onPty(['run', '-it', '--name', name, IMAGE, 'sh'], 24, 80);
    let at = await p.expect(PROMPT);
    p.write('tty\r');
    at = await p.expect(/\/dev\/pts\/0\r\n/, { from: at });
    p.write('stty size\r');
    at = await p.expect(/24 80\r\n/, { from: at });
    p.resize(40, 132);
    await new Promise((r) => setTimeout(r, 300)); // SIGWINCH → shoalctl → resize frame → TIOCSWINSZ
    p.write('stty size\r');
    at = await p.expect(/40 132\r\n/, { from: at });

    // Ctrl-C reaches the foreground `sleep` through the container's line discipline; the shell lives on.
    const t0 = Date.now();
    p.write('sleep 30\r');
    await new Promise((r) => setTimeout(r, 500));
    p.write('\x03');
    at = await p.expect(/\^C/, { from: at });
    p.write('echo alive-$((6*7))\r');
    at = await p.expect(/alive-42\r\n/, { from: at });
    expect(Date.now() - t0).toBeLessThan(10_000);

    // Ctrl-P Ctrl-Q: shoalctl exits 0, prints nothing of its own, our terminal is cooked again.
    p.write(DETACH);
    const m = await p.match(COOKED, { from: at });
    expect(m[1]).toBe('0');
    expect(await p.exited).toBe(0);
    expect(p.output().slice(at, m.index)).not.toMatch(/error|escape/i);
    const st = await inspect(name);
    expect(st.State.Running).toBe(true);
    expect(st.Config.Tty).toBe(true);

    // The terminal is the monitor's: a restarted agent attaches to it as before.
    await agent?.stop();
    agent = await startTestAgent(agentDirs());

    // attach: the same shell, still 40x132; `exit 3` ends the container and the attach with 3.
    const a = onPty(['attach', name], 40, 132);
    a.write('stty size; echo again-$((1+1))\r');
    let at2 = await a.expect(/40 132\r\n/);
    at2 = await a.expect(/again-2\r\n/, { from: at2 });
    a.write('exit 3\r');
    const m2 = await a.match(COOKED, { from: at2 });
    expect(m2[1]).toBe('3');
    expect((await inspect(name)).State).toMatchObject({ Running: false, ExitCode: 3 });

    // The terminal's output was logged as stdout, as Docker does for tty containers.
    const logs = await ctl(['logs', name]);
    expect(logs.stdout).toContain('alive-42');
    expect(logs.stdout).toContain('again-2');
    expect((await ctl(['rm', name])).code).toBe(0);
  }, 60_000);

  it('exec -it into a running container gets its own pty, resizes, takes Ctrl-C and passes the exit code', async () => {
    const name = `exec-${suffix}`;
    expect((await ctl(['run', '-d', '--name', name, IMAGE, 'sleep', '1000'])).code).toBe(0);
    const p = onPty(['exec', '-it', name, 'sh'], 30, 100);
    let at = await p.expect(PROMPT);
    p.write('tty; stty size\r');
    at = await p.expect(/\/dev\/pts\/0\r\n30 100\r\n/, { from: at });
    p.resize(33, 99);
    await new Promise((r) => setTimeout(r, 300));
    p.write('stty size\r');
    at = await p.expect(/33 99\r\n/, { from: at });
    p.write('sleep 30\r');
    await new Promise((r) => setTimeout(r, 500));
    p.write('\x03');
    p.write('echo still-$((2*3))\r');
    at = await p.expect(/still-6\r\n/, { from: at });
    p.write('exit 5\r');
    const m = await p.match(COOKED, { from: at });
    expect(m[1]).toBe('5');
    expect((await inspect(name)).State.Running).toBe(true);
    expect((await ctl(['rm', '-f', name])).code).toBe(0);
  }, 60_000);

  it('run -t without -i prints through the terminal (also under --init); -it without a terminal is refused as docker does', async () => {
    const r = await ctl(['run', '--rm', '-t', IMAGE, 'sh', '-c', 'tty; exit 4']);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('/dev/pts/0\r\n');
    // --init: the entrypoint's process group is the terminal's foreground group (fields 5 and 8 of /proc/PID/stat).
    const fg = 'read -r _ _ _ _ pgrp _ _ tpgid _ </proc/$$/stat; [ "$pgrp" = "$tpgid" ] && echo foreground; exit 7';
    for (const extra of [[], ['--init']]) {
      const r2 = await ctl(['run', '--rm', '-t', ...extra, IMAGE, 'sh', '-c', fg]);
      expect([r2.code, r2.stdout]).toEqual([7, 'foreground\r\n']);
    }
    const refused = await ctl(['run', '--rm', '-it', IMAGE, 'sh']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/not a TTY/);
  }, 30_000);
});

// ── through the controller ────────────────────────────────────────────────────────────────

const clusterSkip = skip ?? (!etcdAvailable() ? 'etcd is not installed' : !registryAvailable() ? 'docker-registry is not installed' : undefined);

describe.skipIf(clusterSkip !== undefined)(`exec -it task/NAME through the controller${clusterSkip ? ` (skipped: ${clusterSkip})` : ''}`, () => {
  const tmp = new TempDirs();
  const ptys: PtyProcess[] = [];
  const node = `tty-node-${process.pid}`;
  const cgroupParent = `shoal-e2e-tty-${process.pid}`;
  let etcd: TestEtcd | undefined;
  let reg: TestRegistry | undefined;
  let controller: Proc | undefined;
  let agent: Proc | undefined;
  let server = '';
  let base = '';
  const socket = (): string => join(base, 'run/agent.sock');
  const ctl = (args: string[]): ReturnType<typeof run> => run(process.execPath, [CTL_JS, '--server', server, ...args], { env: { ...process.env, HOME: base, ...adminEnv() } });

  beforeAll(async () => {
    ensureBuilt();
    base = await tmp.make('shoal-tty-cluster-');
    etcd = await startEtcd();
    reg = await startRegistry();
    const root = makeBusyboxRootfs(join(base, 'rootfs'));
    const tar = join(base, 'rootfs.tar');
    expect(spawnSync('tar', ['-C', root, '-cf', tar, '.']).status).toBe(0);
    const image = `${reg.host}/e2e/busybox-tty:1`;
    const pusher = await startTestAgent();
    try {
      expect((await pusher.ctl(['import', tar, image])).code).toBe(0);
      const push = await pusher.ctl(['push', image]);
      expect(push.code, push.stderr).toBe(0);
    } finally {
      await pusher.stop();
    }
    const port = await freeLoopbackPort();
    server = `https://127.0.0.1:${port}`;
    controller = startNode('controller', [
      CONTROLLER_JS, '--listen', `127.0.0.1:${port}`, '--data-dir', join(base, 'controller'), '--etcd', etcd.endpoints.join(','), '--cluster-key-file', await clusterKeyFile(base),
    ]);
    const c = controller;
    await trustCluster(join(base, 'controller'), () => c.alive());
    await until('the controller', async () => (await fetch(`${server}/readyz`)).ok);
    const token = await joinToken(server);
    await mkdir(join(base, 'run'), { recursive: true });
    agent = startNode('agent', [
      AGENT_JS, '--join-token', token, '--bridge', 'none', '--socket', socket(), '--data-dir', join(base, 'data'), '--run-dir', join(base, 'run'),
      '--credentials', join(base, 'credentials.json'), '--cgroup-parent', cgroupParent, '--controller', server, '--node-name', node,
      '--advertise-addr', '127.0.0.1', '--insecure-registry', reg.host,
    ]);
    const manifest = join(base, 'shell.yaml');
    await writeFile(manifest, [
      'apiVersion: shoal/v1', 'kind: Service', 'metadata:', '  name: shell', 'spec:', '  replicas: 1', '  template:', '    spec:',
      '      containers:', '        - name: main', `          image: ${image}`, '          command: ["sleep", "1000"]', '          init: true', '',
    ].join('\n'));
    await until('the node', async () => ((await ctl(['get', 'nodes', node])).code === 0 ? true : undefined), 30_000);
    const apply = await ctl(['apply', '-f', manifest, '--wait']);
    expect(apply.code, apply.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    for (const p of ptys) p.kill();
    await ctl(['delete', 'service', 'shell']).catch(() => undefined);
    if (base && existsSync(socket())) {
      const list = await run(process.execPath, [CTL_JS, '--host', `unix://${socket()}`, 'ps', '-a', '-q'], { env: { ...process.env, HOME: base } }).catch(() => undefined);
      for (const id of list?.stdout.split('\n').filter(Boolean) ?? []) {
        await run(process.execPath, [CTL_JS, '--host', `unix://${socket()}`, 'rm', '-f', id], { env: { ...process.env, HOME: base } }).catch(() => undefined);
      }
    }
    await stopProc(agent);
    await stopProc(controller);
    await etcd?.stop();
    await reg?.stop();
    spawnSync('sh', ['-c', `for d in /sys/fs/cgroup/*/${cgroupParent}; do rmdir "$d" 2>/dev/null; done`]);
    if (base) unmountUnder(base);
    await tmp.cleanup();
  }, 60_000);

  it('gets a shell on a pty of the task container, with resize, Ctrl-C and the exit code', async () => {
    const tasks = await ctl(['get', 'tasks', '-o', 'json']);
    const task = (JSON.parse(tasks.stdout) as { items: Array<{ metadata: { name: string }; status: { state: string } }> }).items.find((t) => t.status.state === 'running');
    expect(task).toBeDefined();
    const args = [process.execPath, CTL_JS, '--server', server, 'exec', '-it', `task/${task?.metadata.name ?? ''}`, '--', 'sh'];
    const cmd = args.map((a) => `'${a}'`).join(' ');
    const p = spawnInPty(['sh', '-c', `${cmd}; echo "rc=$?"; stty -a`], { rows: 25, cols: 90, env: { ...process.env, HOME: base, TERM: 'xterm', ...adminEnv() } });
    ptys.push(p);
    let at = await p.expect(PROMPT);
    p.write('tty; stty size\r');
    at = await p.expect(/\/dev\/pts\/0\r\n25 90\r\n/, { from: at });
    p.resize(50, 160);
    await new Promise((r) => setTimeout(r, 300));
    p.write('stty size\r');
    at = await p.expect(/50 160\r\n/, { from: at });
    p.write('sleep 30\r');
    await new Promise((r) => setTimeout(r, 500));
    p.write('\x03');
    p.write('echo via-controller-$((3*3))\r');
    at = await p.expect(/via-controller-9\r\n/, { from: at });
    p.write('exit 6\r');
    const m = await p.match(COOKED, { from: at });
    expect(m[1]).toBe('6');
  }, 60_000);
});
