/**
 * Starts a real `etcd` for tests on free loopback ports. Usable by any test:
 *
 *   const etcd = await startEtcd();      // etcd.endpoints = ['http://127.0.0.1:PORT']
 *   ...
 *   await etcd.stop();                   // SIGTERM, removes its temp data dir
 *
 * `kill()` SIGKILLs it (data kept); `start()` starts it again on the same ports and data dir.
 *
 *   const cluster = await startEtcdCluster(3);   // 3 members on loopback, one temp dir
 *   cluster.endpoints                            // every member's client URL
 *   await cluster.leader()                       // the member the others follow (by Status)
 *   await cluster.members[0].kill(); ... .start();
 *   await cluster.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from './ports.js';

export interface EtcdOptions {
  /** Data directory; default a fresh temp dir, removed by stop(). */
  dataDir?: string;
  clientPort?: number;
  peerPort?: number;
  /** Extra etcd flags. */
  args?: string[];
  /** Member name (default `shoal-test-<clientPort>`). */
  name?: string;
  /** `--initial-cluster` (default: this member alone). */
  initialCluster?: string;
  /** Where etcd's log goes (default: the temp dir when the data dir is one, else the OS temp dir). */
  logDir?: string;
  /** Do not wait for /health at start (members of a new cluster are healthy only once a quorum runs). */
  noWait?: boolean;
}

export interface TestEtcd {
  endpoints: string[];
  clientUrl: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  logPath: string;
  /** The child's pid (changes after start()). */
  readonly pid: number | undefined;
  /** The child has not exited. */
  readonly running: boolean;
  /** SIGKILL (data dir kept). */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data dir after kill(). */
  start(): Promise<void>;
  /** SIGTERM, wait, and remove the data dir when it was a temp dir. */
  stop(): Promise<void>;
}

export function etcdAvailable(): boolean {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
}


export async function waitHealthy(clientUrl: string, timeoutMs = 20_000, child?: ChildProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    if (child && child.exitCode !== null) throw new Error(`etcd exited with code ${child.exitCode} before becoming healthy`);
    try {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return;
      last = JSON.stringify(body);
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd at ${clientUrl} not healthy after ${timeoutMs} ms: ${last}`);
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<TestEtcd> {
  const ownDir = opts.dataDir === undefined;
  const base = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'shoal-etcd-')));
  const dataDir = ownDir ? join(base, 'data') : base;
  const clientPort = opts.clientPort ?? (await freeLoopbackPort());
  let peerPort = opts.peerPort ?? (await freeLoopbackPort());
  while (peerPort === clientPort) peerPort = await freeLoopbackPort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const name = opts.name ?? `shoal-test-${clientPort}`;
  const args = [
    `--name=${name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${opts.initialCluster ?? `${name}=${peerUrl}`}`,
    '--logger=zap',
    '--log-outputs=stderr',
    '--max-txn-ops=10000',
    '--max-request-bytes=10485760',
    ...(opts.args ?? []),
  ];
  let child: ChildProcess | undefined;
  const logPath = join(opts.logDir ?? (ownDir ? base : tmpdir()), `etcd-${clientPort}.log`);

  const launch = async (wait = true): Promise<void> => {
    const log = createWriteStream(logPath, { flags: 'a' });
    const c = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout?.pipe(log);
    c.stderr?.pipe(log);
    child = c;
    if (!wait) return;
    try {
      await waitHealthy(clientUrl, 20_000, c);
    } catch (err) {
      c.kill('SIGKILL');
      throw new Error(`${String(err)} (log: ${logPath})`);
    }
  };

  const waitExit = (c: ChildProcess, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve(true);
      const t = setTimeout(() => resolve(false), ms);
      c.once('exit', () => {
        clearTimeout(t);
        resolve(true);
      });
    });

  await launch(opts.noWait !== true);
  return {
    endpoints: [clientUrl],
    clientUrl,
    dataDir,
    clientPort,
    peerPort,
    logPath,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async kill() {
      const c = child;
      if (!c) return;
      c.kill('SIGKILL');
      await waitExit(c, 5000);
    },
    async start() {
      await launch(opts.noWait !== true);
    },
    async stop() {
      const c = child;
      if (c) {
        c.kill('SIGTERM');
        if (!(await waitExit(c, 5000))) {
          c.kill('SIGKILL');
          await waitExit(c, 5000);
        }
      }
      if (ownDir) await rm(base, { recursive: true, force: true });
    },
  };
}

export interface EtcdMemberStatus {
  endpoint: string;
  memberId: string;
  /** The leader this member follows (undefined: it has none). */
  leaderId: string | undefined;
}

export interface TestEtcdCluster {
  members: TestEtcd[];
  /** Every member's client URL, in member order. */
  endpoints: string[];
  /** Each member's Status (undefined for a member that does not answer). */
  status(): Promise<(EtcdMemberStatus | undefined)[]>;
  /** The index of the member every answering member follows; waits for one to be elected. */
  leader(timeoutMs?: number): Promise<number>;
  /** Waits until every running member is healthy (has a leader and serves reads). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** SIGTERM every member and remove the data. */
  stop(): Promise<void>;
}

/**
 * `n` etcd members on loopback forming one cluster, data under one temp dir. Members are
 * started at once (none is healthy before a quorum runs), then the cluster is waited for.
 * `members[i].kill()` SIGKILLs one, `members[i].start()` starts it again on its data dir
 * without waiting (it may need another member to reach a quorum): use `waitHealthy()`.
 */
export async function startEtcdCluster(n: number, opts: { args?: string[] } = {}): Promise<TestEtcdCluster> {
  const base = await mkdtemp(join(tmpdir(), 'shoal-etcd-cluster-'));
  const ports: { client: number; peer: number }[] = [];
  const taken = new Set<number>();
  const pick = async (): Promise<number> => {
    let p = await freeLoopbackPort();
    while (taken.has(p)) p = await freeLoopbackPort();
    taken.add(p);
    return p;
  };
  for (let i = 0; i < n; i++) ports.push({ client: await pick(), peer: await pick() });
  const initialCluster = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(',');
  const token = `shoal-test-${process.pid}-${ports[0]?.client ?? 0}`;
  const members: TestEtcd[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const p = ports[i] as { client: number; peer: number };
      members.push(await startEtcd({
        name: `m${i}`, dataDir: join(base, `m${i}`), logDir: base, clientPort: p.client, peerPort: p.peer, initialCluster, noWait: true,
        args: ['--initial-cluster-state=new', `--initial-cluster-token=${token}`, ...(opts.args ?? [])],
      }));
    }
  } catch (err) {
    await Promise.all(members.map((m) => m.stop()));
    await rm(base, { recursive: true, force: true });
    throw err;
  }
  const endpoints = members.map((m) => m.clientUrl);
  const status = (): Promise<(EtcdMemberStatus | undefined)[]> => Promise.all(endpoints.map((e) => memberStatus(e)));
  const cluster: TestEtcdCluster = {
    members,
    endpoints,
    status,
    async leader(timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const all = await status();
        const answering = all.filter((s): s is EtcdMemberStatus => s !== undefined);
        const lead = answering[0]?.leaderId;
        const idx = all.findIndex((s) => s !== undefined && s.memberId === lead);
        if (lead !== undefined && idx >= 0 && answering.every((s) => s.leaderId === lead)) return idx;
        if (Date.now() > end) throw new Error(`no etcd leader after ${timeoutMs} ms: ${JSON.stringify(all)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async waitHealthy(timeoutMs = 30_000) {
      await Promise.all(members.filter((m) => m.running).map((m) => waitHealthy(m.clientUrl, timeoutMs)));
    },
    async stop() {
      await Promise.all(members.map((m) => m.stop()));
      await rm(base, { recursive: true, force: true });
    },
  };
  try {
    await cluster.waitHealthy();
  } catch (err) {
    await cluster.stop();
    throw new Error(`${String(err)} (logs under ${base})`);
  }
  return cluster;
}

/** One member's Status through etcd's JSON gateway; undefined when it does not answer. */
export async function memberStatus(endpoint: string): Promise<EtcdMemberStatus | undefined> {
  try {
    const res = await fetch(`${endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
    const memberId = body.header?.member_id;
    if (memberId === undefined) return undefined;
    return { endpoint, memberId, leaderId: body.leader !== undefined && body.leader !== '0' ? body.leader : undefined };
  } catch {
    return undefined;
  }
}
