/**
 * Backup and restore of the embedded etcd, end to end (root: a real agent runs the service).
 *
 * A controller on its embedded etcd runs a service of 2 replicas on one agent.
 * `shoalctl cluster backup FILE` saves a snapshot; a service created after it (`late`) is
 * not in it. The controller is stopped, its data dir moved away, and a new controller starts
 * on the same address with `--restore FILE --data-dir NEW`: the service and its tasks are
 * back, the agent reconciles to them without restarting a container (ids and StartedAt
 * unchanged past a node timeout), and `late`'s container goes since its task is gone.
 * `--restore` into a data dir that holds an etcd, or with `--etcd`, is refused.
 */
import { existsSync } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminEnv, CONTROLLER_JS, CTL_JS, ensureBuilt, etcdAvailable, freeLoopbackPort, run, stopProc, TempDirs, until, type Proc,
} from './harness/index.js';
import { Api, HostAgent, sleepService, startController, type ServiceContainer } from './ha-helpers.js';

const isRoot = process.getuid?.() === 0;
const hasEtcdctl = existsSync('/usr/bin/etcdctl') || existsSync('/usr/local/bin/etcdctl');
const canRun = isRoot && etcdAvailable() && hasEtcdctl && existsSync('/bin/busybox');
if (!canRun) console.warn(`backup e2e skipped: ${!isRoot ? 'needs root' : !etcdAvailable() ? 'etcd is not installed' : !hasEtcdctl ? 'etcdctl is not installed (etcd-client)' : 'needs /bin/busybox'}`);

const NODE_TIMEOUT_MS = 3000;
const IMAGE = 'e2e/backup-busybox:1';

describe.skipIf(!canRun)('cluster backup and restore of the embedded etcd', () => {
  const tmp = new TempDirs();
  let base = '';
  let port = 0;
  let controller: Proc | undefined;
  let agent: HostAgent | undefined;
  let api: Api;
  const node = `e2e-backup-${process.pid}`;

  const ctl = (args: string[]): ReturnType<typeof run> => run(process.execPath, [CTL_JS, '--server', api.server, ...args], { env: { ...process.env, HOME: base, ...adminEnv() } });
  const controllerArgs = (dataDir: string, extra: string[] = []): string[] => ['--data-dir', dataDir, '--node-timeout', `${NODE_TIMEOUT_MS}ms`, ...extra];

  beforeAll(async () => {
    ensureBuilt();
    base = await tmp.make('shoal-backup-');
    port = await freeLoopbackPort();
    api = new Api(`https://127.0.0.1:${port}`);
    controller = await startController(port, controllerArgs(join(base, 'c1')));
    agent = new HostAgent(join(base, 'agent'), node, api.server, `shoal-e2e-backup-${process.pid}`);
    await agent.start();
    await agent.importBusybox(IMAGE);
  }, 120_000);

  afterAll(async () => {
    await agent?.removeAll();
    await agent?.stop();
    await stopProc(controller);
    await agent?.removeCgroups();
    await tmp.cleanup();
  }, 60_000);

  it('restores the services and tasks; the agent keeps the containers that match', async () => {
    const a = agent as HostAgent;
    await api.json('POST', '/apis/shoal/v1/namespaces/default/services', sleepService('web', IMAGE, 2));
    const tasks = await until('2 running tasks', () => api.runningTasks('web', 2), 60_000, 250);
    const taskIds = tasks.map((t) => `${t.metadata.name}=${t.status.containerId ?? ''}`);
    const before: ServiceContainer[] = await a.containers('web');
    expect(before.map((c) => c.id).sort()).toEqual(tasks.map((t) => t.status.containerId).sort());

    const file = join(base, 'cluster.snapshot');
    const b = await ctl(['cluster', 'backup', file]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/^backup written to .*cluster\.snapshot \(\d+ bytes\)/);
    expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600');
    const status = await run('etcdctl', ['snapshot', 'status', file, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' } });
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { totalKey: number }).totalKey).toBeGreaterThan(3);

    // After the backup: a service the snapshot does not hold.
    await api.json('POST', '/apis/shoal/v1/namespaces/default/services', sleepService('late', IMAGE, 1));
    await until('the late task running', () => api.runningTasks('late', 1), 60_000, 250);
    expect(await a.containers('late')).toHaveLength(1);

    // Disaster: the controller goes and its data dir with it.
    await stopProc(controller);
    await rename(join(base, 'c1'), join(base, 'c1.lost'));
    const restoredAt = Date.now();
    controller = await startController(port, controllerArgs(join(base, 'c2'), ['--restore', file]));
    expect(controller.logs()).toContain('restored the embedded etcd');

    const back = await until('web\'s 2 tasks back and running', () => api.runningTasks('web', 2), 60_000, 250);
    expect(back.map((t) => `${t.metadata.name}=${t.status.containerId ?? ''}`)).toEqual(taskIds);
    await until('late\'s container removed', async () => ((await a.containers('late')).length === 0 ? true : undefined), 60_000, 250);
    console.log(`backup/restore: web back and late gone ${Date.now() - restoredAt} ms after the restored controller started`);
    expect(await api.req('GET', '/apis/shoal/v1/namespaces/default/services/late').then((r) => r.status)).toBe(404);

    // Past a node timeout and a few heartbeats: no container restarted, no task replaced.
    await until('a controller leading', async () => (await api.json<{ leader?: string }>('GET', '/apis/shoal/v1/cluster/info')).leader !== undefined, 30_000, 250);
    await new Promise((r) => setTimeout(r, NODE_TIMEOUT_MS + 3000));
    expect(await a.containers('web')).toEqual(before);
    expect((await api.tasks('web')).map((t) => `${t.metadata.name}=${t.status.containerId ?? ''}`).sort()).toEqual(taskIds);
    const n = await api.json<{ status: { state: string } }>('GET', `/apis/shoal/v1/nodes/${node}`);
    expect(n.status.state).toBe('ready');
  }, 240_000);

  it('refuses --restore into a data dir that holds an etcd, and with --etcd', async () => {
    const file = join(base, 'cluster.snapshot');
    const into = await run(process.execPath, [CONTROLLER_JS, '--listen', '127.0.0.1:0', '--data-dir', join(base, 'c1.lost'), '--restore', file]);
    expect(into.code).toBe(1);
    expect(into.stderr).toMatch(/already holds an etcd/);
    const withEtcd = await run(process.execPath, [CONTROLLER_JS, '--data-dir', join(base, 'c3'), '--etcd', 'http://127.0.0.1:2379', '--restore', file]);
    expect(withEtcd.code).toBe(2);
    expect(withEtcd.stderr).toMatch(/restore: .*cannot be used with --etcd/);
  }, 60_000);
});
