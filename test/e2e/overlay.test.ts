/**
 * One network across the cluster (issue 12), end to end on three network-namespace hosts with
 * real agents and a controller: the VXLAN overlay, a service's virtual IP and DNS names,
 * networks that isolate, the routing mesh keeping the client's address, an agent restart that
 * keeps a connection through the VIP, and nothing left after delete.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoints, Node, Service, Task } from '../../pkg/api/index.js';
import { clusterSkipReason, sleepMs, startCluster, step, stopProc, until, type ClusterHost, type NetnsHost, type TestCluster } from './harness/index.js';

const skip = clusterSkipReason();
const NODE_TIMEOUT_MS = 5000;

let c: TestCluster | undefined;
let dir = '';
let outside: NetnsHost | undefined;

function cluster(): TestCluster {
  if (!c) throw new Error('no cluster');
  return c;
}

/** Runs a command in a host's network namespace (iptables-save, ip route, bridge fdb). */
function inHost(h: { netnsPath: string }, args: string[]): string {
  const r = spawnSync('nsenter', [`--net=${h.netnsPath}`, ...args], { encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')} in ${h.netnsPath}: ${r.stderr}`);
  return r.stdout;
}

async function apply(name: string, yaml: string[]): Promise<void> {
  const path = join(dir, `${name}.yaml`);
  await writeFile(path, yaml.join('\n'));
  const r = await cluster().ctl(['apply', '-f', path, '--wait', '--timeout', '60s']);
  if (r.code !== 0) throw new Error(`apply ${name}: ${r.stderr}${r.stdout}`);
}

function serviceYaml(name: string, o: { replicas: number; command: string; node?: string; perNode?: number; networks?: string[]; ports?: string[] }): string[] {
  const image = cluster().image;
  return [
    'apiVersion: shoal/v1', 'kind: Service', 'metadata:', `  name: ${name}`, 'spec:', `  replicas: ${o.replicas}`,
    ...(o.networks ? ['  networks:', ...o.networks.map((n) => `    - ${n}`)] : []),
    ...(o.ports ? ['  ports:', ...o.ports] : []),
    ...(o.node || o.perNode ? ['  placement:', ...(o.node ? ['    constraints:', `      - node.name==${o.node}`] : []), ...(o.perNode ? [`    maxReplicasPerNode: ${o.perNode}`] : [])] : []),
    '  template:', '    spec:', '      containers:', '        - name: main', `          image: ${image}`,
    `          command: ["sh", "-c", ${JSON.stringify(o.command)}]`, '          init: true', '          stopGracePeriodSeconds: 1',
  ];
}

const HTTPD = 'mkdir -p /www && busybox hostname > /www/index.html && exec busybox httpd -f -vv -p 80 -h /www';

async function runningTasks(svc: string): Promise<Task[]> {
  return (await cluster().tasks(svc)).filter((t) => t.spec.desiredState === 'running' && t.status.state === 'running');
}

/** The running container of a one-replica service on its node. */
async function containerOf(svc: string): Promise<{ h: ClusterHost; id: string }> {
  for (const h of cluster().hosts) {
    const r = (await cluster().containersOn(h, svc)).find((x) => x.state === 'running');
    if (r) return { h, id: r.id };
  }
  throw new Error(`no running container of ${svc}`);
}

/** Runs a shell command in a service's (one) container. */
async function sh(svc: string, script: string): Promise<{ code: number; out: string }> {
  const { h, id } = await containerOf(svc);
  const r = await cluster().engineCtl(h, ['exec', id, 'sh', '-c', script]);
  return { code: r.code, out: r.stdout + r.stderr };
}

/**
 * A shell snippet that GETs / from HOST:80 and prints the body (busybox's wget resolves through
 * glibc's NSS, which the static busybox cannot load in a bare image: it crashes; nc does not).
 */
function httpGet(host: string, port = 80): string {
  return `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox timeout 3 busybox nc -w 2 ${host} ${port} | busybox tail -n 1`;
}

/** `n` requests to `host` from the service's container; the answers (hostnames), one per line. */
async function fetchMany(svc: string, host: string, n: number): Promise<string[]> {
  const r = await sh(svc, `i=0; while [ $i -lt ${n} ]; do out=$(${httpGet(host)}); [ -n "$out" ] && echo "$out" || echo FAILED; i=$((i+1)); done`);
  return r.out.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

function nslookupAddresses(out: string): string[] {
  // busybox: "Server: ...\nAddress: gw:53\n\nName: tasks.web\nAddress: 10.244.1.2\n..."
  const after = out.split(/\nName:/).slice(1).join('\n');
  return [...after.matchAll(/Address(?: \d+)?:\s*(\d+\.\d+\.\d+\.\d+)(?!:)/g)].map((m) => m[1]!).sort();
}

/** busybox httpd's access log names the client as `[::ffff:A.B.C.D]:PORT` or `A.B.C.D:PORT`. */
function seenFrom(ip: string): RegExp {
  return new RegExp(`(^|\\[::ffff:|\\s)${ip.replace(/\./g, '\\.')}\\]?:\\d+`, 'm');
}

async function endpointsOf(svc: string): Promise<Endpoints | undefined> {
  const res = await fetch(`${cluster().server}/apis/shoal/v1/namespaces/default/endpoints/${svc}`, { signal: AbortSignal.timeout(5000) });
  return res.ok ? ((await res.json()) as Endpoints) : undefined;
}

async function serviceOf(svc: string): Promise<Service> {
  const res = await fetch(`${cluster().server}/apis/shoal/v1/namespaces/default/services/${svc}`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as Service;
}

describe.skipIf(skip !== undefined)('overlay, VIPs, DNS, isolation and the routing mesh across three hosts', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-overlay-'));
    c = await startCluster({ tag: 'overlay', nodeTimeoutMs: NODE_TIMEOUT_MS, hosts: 3 });
    outside = c.lan.addHost('out');
    await until('every node publishes its overlay endpoint', async () => (await c!.nodes()).every((n: Node) => n.status.overlay !== undefined && n.spec.podCIDR), 30_000, 200);
    await apply('web', serviceYaml('web', { replicas: 3, perNode: 1, command: HTTPD }));
    await apply('client', serviceYaml('client', { replicas: 1, node: 'h1', command: 'exec sleep 100000' }));
  }, 240_000);

  afterAll(async () => {
    await c?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  it('gives web a VIP and balances requests to web:80 from h1 over the replicas of all three hosts', async () => {
    await step(c, 'web', 'VIP and balance', async () => {
      const svc = await serviceOf('web');
      expect(svc.status?.virtualIP).toMatch(/^10\.96\.\d+\.\d+$/);
      await until('web has 3 endpoints', async () => (await endpointsOf('web'))?.spec.addresses.length === 3, 15_000, 100);
      const answers = await fetchMany('client', 'web', 30);
      expect(answers).not.toContain('FAILED');
      expect(new Set(answers).size).toBe(3);
    });
  }, 120_000);

  it('resolves tasks.web to the three task addresses and reaches the replica on h3 by its IP', async () => {
    await step(c, 'web', 'tasks.web and cross-host IP', async () => {
      const tasks = await runningTasks('web');
      const ips = tasks.map((t) => t.status.ip!).sort();
      const r = await sh('client', 'busybox nslookup tasks.web');
      expect(r.code, r.out).toBe(0);
      expect(nslookupAddresses(r.out)).toEqual(ips);
      const onH3 = tasks.find((t) => t.spec.nodeName === 'h3');
      expect(onH3?.status.ip).toBeDefined();
      const direct = await sh('client', httpGet(onH3!.status.ip!));
      expect(direct.out.trim(), direct.out).toMatch(/^[0-9a-f]{12}$/);
      // The replica saw the client's own address: no NAT between containers.
      const client = (await runningTasks('client'))[0]!;
      const logs = await cluster().engineCtl(cluster().host('h3'), ['logs', (await cluster().containersOn(cluster().host('h3'), 'web')).find((x) => x.state === 'running')!.id]);
      expect(logs.stdout + logs.stderr).toMatch(seenFrom(client.status.ip!));
    });
  }, 120_000);

  it('keeps a service on another network from resolving or reaching web', async () => {
    await step(c, 'lonely', 'isolation', async () => {
      const r = await cluster().ctl(['create', 'network', 'other']);
      expect(r.code, r.stderr).toBe(0);
      await apply('lonely', serviceYaml('lonely', { replicas: 1, node: 'h1', networks: ['other'], command: 'exec sleep 100000' }));
      const lookup = await sh('lonely', 'busybox nslookup web');
      expect(nslookupAddresses(lookup.out)).toEqual([]);
      const vip = (await serviceOf('web')).status!.virtualIP!;
      const ip = (await runningTasks('web')).find((t) => t.spec.nodeName === 'h2')!.status.ip!;
      for (const target of [vip, ip]) {
        const w = await sh('lonely', httpGet(target));
        expect(w.out, `${target}: ${w.out}`).not.toMatch(/^[0-9a-f]{12}$/m);
      }
      // A network in use cannot be deleted.
      const del = await cluster().ctl(['delete', 'network', 'other']);
      expect(del.code).not.toBe(0);
      expect(del.stderr).toContain('lonely');
    });
  }, 120_000);

  it('takes a replica out of the balancer within 2 s of scaling down, and a dead one as soon as it left running', async () => {
    await step(c, 'web', 'scale and kill', async () => {
      const r = await cluster().ctl(['scale', 'web', '--replicas', '1']);
      expect(r.code, r.stderr).toBe(0);
      await until('one running web task', async () => (await runningTasks('web')).length === 1 && (await cluster().runningEverywhere('web')).length === 1, 30_000, 50);
      const t0 = performance.now();
      const only = (await runningTasks('web'))[0]!;
      const { h, id } = await containerOf('web');
      const name = (await cluster().engineCtl(h, ['exec', id, 'busybox', 'hostname'])).stdout.trim();
      await until('only the remaining replica answers', async () => {
        const answers = await fetchMany('client', 'web', 6);
        return answers.every((a) => a === name);
      }, 10_000, 50);
      const ms = performance.now() - t0;
      console.log(`overlay: scale 3 -> 1, only the remaining replica answers ${Math.round(ms)} ms after the others left running`);
      expect(ms).toBeLessThan(2000);

      // Kill it: once its task has left running, no node keeps its address in the balancer.
      const dead = only.status.ip!;
      const k = await cluster().engineCtl(h, ['kill', id]);
      expect(k.code, k.stderr).toBe(0);
      await until('the killed task left running', async () => (await cluster().tasks('web')).find((t) => t.metadata.name === only.metadata.name)?.status.state !== 'running', 15_000, 20);
      const t1 = performance.now();
      await until('no node balances to the dead address', async () => cluster().hosts.every((x) => !inHost(x.host, ['iptables-save', '-t', 'nat']).includes(`${dead}`)), 5000, 20);
      console.log(`overlay: dead replica out of every node's rules ${Math.round(performance.now() - t1)} ms after its task left running`);
      expect(performance.now() - t1).toBeLessThan(1500);
    });
  }, 120_000);

  it('answers a published ingress port on a node without a replica and keeps the client address', async () => {
    await step(c, 'pub', 'routing mesh', async () => {
      await apply('pub', serviceYaml('pub', { replicas: 1, node: 'h2', command: HTTPD, ports: ['    - port: 8080', '      targetPort: 80'] }));
      const h1 = cluster().host('h1').host;
      await until('the mesh answers on h1', async () => {
        const r = spawnSync('nsenter', [`--net=${outside!.netnsPath}`, '/bin/busybox', 'nc', '-w', '2', h1.address, '8080'], { input: 'GET / HTTP/1.0\r\n\r\n', encoding: 'utf8', timeout: 10_000 });
        return /^[0-9a-f]{12}$/m.test(r.stdout);
      }, 20_000, 200);
      const { h, id } = await containerOf('pub');
      expect(h.node).toBe('h2');
      const logs = await cluster().engineCtl(h, ['logs', id]);
      expect(logs.stdout + logs.stderr).toMatch(seenFrom(outside!.address));
    });
  }, 120_000);

  it('keeps an open connection through the VIP alive across an agent restart on h1', async () => {
    await step(c, 'sink', 'agent restart', async () => {
      await apply('sink', serviceYaml('sink', { replicas: 1, node: 'h2', command: 'sleep 100000 | busybox nc -l -p 9000' }));
      await apply('talker', serviceYaml('talker', {
        replicas: 1, node: 'h1',
        command: 'sleep 1; i=0; while [ $i -lt 100000 ]; do echo line$i; i=$((i+1)); sleep 0.1; done | busybox nc sink 9000; echo talker-ended; sleep 100000',
      }));
      const sink = await containerOf('sink');
      const lines = async (): Promise<number> => {
        const l = await cluster().engineCtl(sink.h, ['logs', sink.id]);
        return (l.stdout.match(/^line\d+$/gm) ?? []).length;
      };
      await until('the sink receives lines', async () => (await lines()) > 5, 20_000, 200);
      const h1 = cluster().host('h1');
      await stopProc(h1.proc, 'SIGKILL');
      await sleepMs(500);
      await cluster().startAgent(h1);
      const after = await lines();
      await sleepMs(3000);
      expect(await lines()).toBeGreaterThan(after + 10);
      const talker = await containerOf('talker');
      expect((await cluster().engineCtl(talker.h, ['logs', talker.id])).stdout).not.toContain('talker-ended');
    });
  }, 120_000);

  it('leaves nothing behind after delete: no service rule, no route or FDB entry of a deleted node', async () => {
    await step(c, 'web', 'cleanup', async () => {
      const vips = await Promise.all(['web', 'pub', 'sink'].map(async (s) => (await serviceOf(s)).status?.virtualIP));
      for (const s of ['web', 'client', 'lonely', 'pub', 'sink', 'talker']) {
        const r = await cluster().ctl(['delete', 'service', s]);
        expect(r.code, r.stderr).toBe(0);
      }
      await until('no service address in any node rule', async () =>
        cluster().hosts.every((h) => {
          const rules = inHost(h.host, ['iptables-save']);
          return vips.every((v) => v === undefined || !rules.includes(v));
        }), 30_000, 200);
      // Node h3 leaves: h1 drops its route and FDB entry.
      const h3 = cluster().host('h3');
      const node = (await cluster().nodes()).find((n) => n.metadata.name === 'h3')!;
      await stopProc(h3.proc, 'SIGKILL');
      const del = await cluster().ctl(['delete', 'node', 'h3']);
      expect(del.code, del.stderr).toBe(0);
      const t0 = performance.now();
      const h1 = cluster().host('h1').host;
      await until('h1 forgets h3', async () =>
        !inHost(h1, ['ip', '-4', 'route', 'show']).includes(node.spec.podCIDR!) &&
        !inHost(h1, ['bridge', 'fdb', 'show']).includes(node.status.overlay!.vtepMAC), 10_000, 50);
      console.log(`overlay: a deleted node's route and FDB entry gone from h1 in ${Math.round(performance.now() - t0)} ms`);
      expect(performance.now() - t0).toBeLessThan(2000);
    });
  }, 120_000);
});
