/**
 * One agent in a cluster, end to end (root): real etcd, the real controller, a registry with
 * a busybox image, and a real `shoal-agent --controller`. A 3-replica service applied with
 * shoalctl runs as 3 containers; scale to 1 removes 2; SIGKILL + restart of the agent keeps
 * the same containers; deleting the service leaves none.
 */
import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, rmdir, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminEnv, AGENT_JS, clusterKeyFile, CONTROLLER_JS, CTL_JS, ensureBuilt, joinToken, trustCluster, etcdAvailable, freeLoopbackPort, registryAvailable, run, startEtcd, startNode, startRegistry, startTestAgent, stopProc, TempDirs, until, type Proc, type TestEtcd, type TestRegistry,
} from './harness/index.js';

const isRoot = process.getuid?.() === 0;
const canRun = isRoot && etcdAvailable() && registryAvailable() && existsSync('/bin/busybox');
const why = !isRoot ? 'needs root' : !etcdAvailable() ? 'etcd is not installed' : !registryAvailable() ? 'docker-registry is not installed' : 'needs /bin/busybox';
if (!canRun) console.warn(`cluster e2e skipped: ${why}`);

interface TaskJson {
  metadata: { name: string };
  spec: { desiredState: string };
  status: { state: string; containerId?: string; message?: string };
}

describe.skipIf(!canRun)('an agent in a cluster', () => {
  const tmp = new TempDirs();
  const node = `e2e-node-${process.pid}`;
  const cgroupParent = `shoal-e2e-cluster-${process.pid}`;
  let etcd: TestEtcd | undefined;
  let reg: TestRegistry | undefined;
  let controller: Proc | undefined;
  let agent: Proc | undefined;
  let server = '';
  let base = '';
  let image = '';
  let manifest = '';

  let token = '';
  const agentArgs = (): string[] => [
    AGENT_JS, '--join-token', token, '--bridge', 'none', '--socket', join(base, 'run/agent.sock'), '--data-dir', join(base, 'data'), '--run-dir', join(base, 'run'),
    '--credentials', join(base, 'credentials.json'), '--cgroup-parent', cgroupParent, '--controller', server, '--node-name', node,
    '--advertise-addr', '127.0.0.1', '--label', 'zone=e2e', '--insecure-registry', reg?.host ?? '',
  ];
  const ctl = (args: string[]): ReturnType<typeof run> =>
    run(process.execPath, [CTL_JS, '--server', server, ...args], { env: { ...process.env, HOME: base, ...adminEnv() } });
  const ps = async (): Promise<{ Id: string; State: string; Labels: Record<string, string> }[]> => {
    const r = await run(process.execPath, [CTL_JS, '--host', `unix://${join(base, 'run/agent.sock')}`, 'ps', '-a', '-o', 'json'], { env: { ...process.env, HOME: base } });
    if (r.code !== 0) throw new Error(r.stderr);
    const parsed = JSON.parse(r.stdout) as unknown;
    return (Array.isArray(parsed) ? parsed : (parsed as { items: [] }).items) as { Id: string; State: string; Labels: Record<string, string> }[];
  };
  const tasks = async (): Promise<TaskJson[]> => {
    const r = await ctl(['get', 'tasks', '-o', 'json']);
    if (r.code !== 0) throw new Error(r.stderr);
    return (JSON.parse(r.stdout) as { items: TaskJson[] }).items;
  };
  const running = async (n: number): Promise<TaskJson[] | undefined> => {
    const live = (await tasks()).filter((t) => t.spec.desiredState === 'running');
    const ok = live.filter((t) => t.status.state === 'running' && t.status.containerId);
    return live.length === n && ok.length === n ? ok : undefined;
  };
  const startAgentProc = async (): Promise<void> => {
    agent = startNode('agent', agentArgs());
    await until('the agent socket', async () => existsSync(join(base, 'run/agent.sock')) && (await ps()) !== undefined);
  };

  beforeAll(async () => {
    ensureBuilt();
    base = await tmp.make('shoal-cluster-');
    etcd = await startEtcd();
    reg = await startRegistry();
    // The image: a busybox root filesystem, imported and pushed by a standalone agent.
    const root = join(base, 'rootfs');
    await mkdir(join(root, 'bin'), { recursive: true });
    await mkdir(join(root, 'etc'), { recursive: true });
    await copyFile('/bin/busybox', join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    for (const a of ['sh', 'sleep']) await symlink('busybox', join(root, 'bin', a));
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    const tar = join(base, 'rootfs.tar');
    spawnSync('tar', ['-C', root, '-cf', tar, '.']);
    image = `${reg.host}/e2e/busybox:1`;
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
      CONTROLLER_JS, '--listen', `127.0.0.1:${port}`, '--data-dir', join(base, 'controller'), '--etcd', etcd.endpoints.join(','), '--node-timeout', '5s',
      '--cluster-key-file', await clusterKeyFile(base),
    ]);
    const c = controller;
    await trustCluster(join(base, 'controller'), () => c.alive());
    await until('the controller', async () => (await fetch(`${server}/readyz`)).ok);
    token = await joinToken(server);
    await startAgentProc();

    manifest = join(base, 'web.yaml');
    await writeFile(manifest, [
      'apiVersion: shoal/v1', 'kind: Service', 'metadata:', '  name: web', 'spec:', '  replicas: 3', '  template:', '    spec:',
      '      containers:', '        - name: main', `          image: ${image}`, '          command: ["sleep", "1000"]', '          init: true',
      '          stopGracePeriodSeconds: 2', '          resources:', '            limits: {memory: 64Mi, cpu: 500m}', '',
    ].join('\n'));
  }, 60_000);

  afterAll(async () => {
    // Containers first (through the agent), then the processes, cgroups and dirs.
    try {
      for (const c of await ps()) {
        await run(process.execPath, [CTL_JS, '--host', `unix://${join(base, 'run/agent.sock')}`, 'rm', '-f', c.Id]);
      }
    } catch {
      // the agent is gone: nothing to remove through it
    }
    await stopProc(agent);
    await stopProc(controller);
    await etcd?.stop();
    await reg?.stop();
    for (const ctrl of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
      await rmdir(join('/sys/fs/cgroup', ctrl, cgroupParent)).catch(() => undefined);
    }
    await tmp.cleanup();
  }, 60_000);

  it('registers the node with its capacity, labels and address', async () => {
    const r = await until('the node', async () => {
      const g = await ctl(['get', 'nodes', node, '-o', 'json']);
      if (g.code !== 0) return undefined;
      const n = JSON.parse(g.stdout) as { spec: { labels?: Record<string, string> }; status: { state: string; capacity?: { cpu: string }; addresses?: { address: string }[]; info?: { kernel?: string } } };
      return n.status.state === 'ready' ? n : undefined;
    });
    expect(r.spec.labels?.['zone']).toBe('e2e');
    expect(r.status.capacity?.cpu).toBeDefined();
    expect(r.status.addresses?.map((a) => a.address)).toContain('127.0.0.1');
    expect(r.status.info?.kernel).toBeTruthy();
  });

  it('runs, scales, survives an agent restart and removes a deleted service', async () => {
    const apply = await ctl(['apply', '-f', manifest]);
    expect(apply.code, apply.stderr).toBe(0);
    const three = await until('3 running tasks', () => running(3), 30_000);
    const ids = three.map((t) => t.status.containerId).sort();
    const mine = (await ps()).filter((c) => c.Labels['shoal.service'] === 'web' && c.State === 'running');
    expect(mine.map((c) => c.Id).sort()).toEqual(ids);

    const scale = await ctl(['scale', 'service/web', '--replicas', '1']);
    expect(scale.code, scale.stderr).toBe(0);
    await until('2 containers removed', async () => ((await ps()).filter((c) => c.Labels['shoal.service'] === 'web').length === 1 ? true : undefined), 20_000);
    const [kept] = await until('1 running task', () => running(1));
    expect(ids).toContain(kept?.status.containerId);

    // SIGKILL the agent: the container keeps running, the new agent adopts it.
    await stopProc(agent, 'SIGKILL');
    await startAgentProc();
    await new Promise((r) => setTimeout(r, 2500)); // a few heartbeats and a resync
    const after = await until('1 running task after the restart', () => running(1));
    expect(after[0]?.status.containerId).toBe(kept?.status.containerId);
    const left = (await ps()).filter((c) => c.Labels['shoal.service'] === 'web');
    expect(left.map((c) => [c.Id, c.State])).toEqual([[kept?.status.containerId, 'running']]);

    const del = await ctl(['delete', 'service', 'web']);
    expect(del.code, del.stderr).toBe(0);
    await until('no container left', async () => ((await ps()).length === 0 ? true : undefined), 20_000);
  }, 60_000);

  it('apply --wait fails fast, naming the task and the reason, when the image cannot be pulled', async () => {
    const bad = join(base, 'bad.yaml');
    await writeFile(bad, [
      'apiVersion: shoal/v1', 'kind: Service', 'metadata:', '  name: nopull', 'spec:', '  replicas: 1', '  template:', '    spec:',
      '      containers:', '        - name: main', `          image: ${reg?.host ?? ''}/e2e/missing:1`, '',
    ].join('\n'));
    const started = Date.now();
    const r = await ctl(['apply', '-f', bad, '--wait', '--timeout', '60s']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/service\/nopull: task nopull\.1\.\S+ rejected on \S+: pulling .*missing:1/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await ctl(['delete', 'service', 'nopull'])).code).toBe(0);
  }, 60_000);

  it('keeps a failed replica\'s container so logs task/NAME still shows what it printed', async () => {
    const crash = join(base, 'crash.yaml');
    await writeFile(crash, [
      'apiVersion: shoal/v1', 'kind: Service', 'metadata:', '  name: crash', 'spec:', '  replicas: 1', '  restart: {condition: none}', '  template:', '    spec:',
      '      containers:', '        - name: main', `          image: ${image}`, '          command: ["sh", "-c", "echo boom before exit; exit 3"]', '',
    ].join('\n'));
    expect((await ctl(['apply', '-f', crash])).code).toBe(0);
    const failed = await until('the failed task', async () => (await tasks()).find((t) => t.metadata.name.startsWith('crash.') && t.status.state === 'failed'), 30_000);
    const logs = await ctl(['logs', `task/${failed.metadata.name}`]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('boom before exit');
    expect((await ctl(['delete', 'service', 'crash'])).code).toBe(0);
    await until('its container removed with the task', async () => ((await ps()).some((c) => c.Id === failed.status.containerId) ? undefined : true), 20_000);
  }, 60_000);
});
