/**
 * The speed figures of the cluster network (issue 12), run by `bench/overlay` (skipped in
 * `make test`): on three network-namespace hosts with real agents,
 *   - request latency to a task on another host through its service's VIP vs its own address
 *     (median and p99 of sequential small HTTP round trips from a task's network namespace);
 *   - TCP throughput (iperf3, 5 s) from one host to a task on another over the overlay, vs the
 *     same two hosts' underlay addresses;
 *   - the time to apply 1,000 services × 10 endpoints on one node (a fresh network namespace).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createClusterDataplane, RealNetHost, vtepMacOf, type ClusterNetworkSpec, type NetHost } from '../../pkg/network/index.js';
import { clusterSkipReason, startCluster, until, type TestCluster } from './harness/index.js';

const enabled = process.env['SHOAL_OVERLAY_BENCH'] === '1';
const skip = clusterSkipReason();

/** Runs a NetHost's commands inside a network namespace. */
class NsHost implements NetHost {
  private readonly real = new RealNetHost();
  constructor(private readonly ns: string) {}
  run(cmd: string, args: string[], input?: string): Promise<string> {
    return this.real.run('nsenter', [`--net=${this.ns}`, cmd, ...args], input);
  }
  async writeSysctl(key: string, value: string): Promise<boolean> {
    const r = spawnSync('nsenter', [`--net=${this.ns}`, 'sh', '-c', `echo ${value} > /proc/sys/${key.replace(/\./g, '/')}`]);
    return r.status === 0;
  }
  portFree(): Promise<boolean> {
    return Promise.resolve(true);
  }
  freePort(): Promise<number> {
    return Promise.resolve(0);
  }
}

const LATENCY_SCRIPT = `
const net = require('node:net');
const [host, n] = [process.argv[1], Number(process.argv[2])];
const one = () => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  const s = net.connect(80, host, () => s.write('GET / HTTP/1.0\\r\\n\\r\\n'));
  s.on('data', () => {});
  s.on('end', () => { resolve(Number(process.hrtime.bigint() - t0) / 1e6); s.destroy(); });
  s.on('error', reject);
});
(async () => {
  const ms = [];
  for (let i = 0; i < n; i++) ms.push(await one());
  ms.sort((a, b) => a - b);
  console.log(JSON.stringify({ median: ms[Math.floor(ms.length / 2)], p99: ms[Math.floor(ms.length * 0.99)] }));
})();
`;

function inNs(ns: string, args: string[], timeoutMs = 60_000): string {
  const r = spawnSync('nsenter', [`--net=${ns}`, ...args], { encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function pidOf(c: TestCluster, svc: string): Promise<{ pid: number; ip: string }> {
  for (const h of c.hosts) {
    const r = (await c.containersOn(h, svc)).find((x) => x.state === 'running');
    if (!r) continue;
    const ins = await h.engine.inspectContainer(r.id, AbortSignal.timeout(5000));
    return { pid: ins.State.Pid, ip: Object.values(ins.NetworkSettings.Networks)[0]?.IPAddress ?? '' };
  }
  throw new Error(`no running container of ${svc}`);
}

describe.skipIf(!enabled || skip !== undefined)('cluster network speed (bench/overlay)', () => {
  it('VIP vs task IP latency, overlay vs underlay throughput', async () => {
    const c = await startCluster({ tag: 'ovbench', nodeTimeoutMs: 5000, hosts: 3 });
    const dir = await mkdtemp(join(tmpdir(), 'shoal-ovbench-'));
    try {
      const svc = (name: string, node: string, cmd: string): string[] => [
        'apiVersion: shoal/v1', 'kind: Service', 'metadata:', `  name: ${name}`, 'spec:', '  replicas: 1', '  placement:', '    constraints:', `      - node.name==${node}`,
        '  template:', '    spec:', '      containers:', '        - name: main', `          image: ${c.image}`, `          command: ["sh", "-c", ${JSON.stringify(cmd)}]`, '          init: true',
      ];
      for (const [name, node, cmd] of [['web', 'h2', 'mkdir -p /www && echo hi > /www/index.html && exec busybox httpd -f -p 80 -h /www'], ['client', 'h1', 'exec sleep 100000']] as const) {
        await writeFile(join(dir, `${name}.yaml`), svc(name, node, cmd).join('\n'));
        const r = await c.ctl(['apply', '-f', join(dir, `${name}.yaml`), '--wait', '--timeout', '60s']);
        expect(r.code, r.stderr).toBe(0);
      }
      const vip = await until('web has a VIP in its endpoints', async () => {
        const res = await fetch(`${c.server}/apis/shoal/v1/namespaces/default/endpoints/web`);
        const ep = res.ok ? ((await res.json()) as { spec: { virtualIP?: string; addresses: unknown[] } }) : undefined;
        return ep?.spec.addresses.length === 1 ? ep.spec.virtualIP : undefined;
      }, 30_000, 100);
      const web = await pidOf(c, 'web');
      const client = await pidOf(c, 'client');
      const lat = (host: string): { median: number; p99: number } =>
        JSON.parse(spawnSync('nsenter', [`--net=/proc/${client.pid}/ns/net`, process.execPath, '-e', LATENCY_SCRIPT, host, '400'], { encoding: 'utf8', timeout: 60_000 }).stdout) as { median: number; p99: number };
      lat(web.ip);
      lat(vip!);
      const rounds: { ip: { median: number; p99: number }; vip: { median: number; p99: number } }[] = [];
      for (let i = 0; i < 3; i++) rounds.push({ ip: lat(web.ip), vip: lat(vip!) });
      const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const ipMed = med(rounds.map((r) => r.ip.median));
      const vipMed = med(rounds.map((r) => r.vip.median));
      console.log(`latency, 3 rounds of 400 sequential HTTP/1.0 requests from h1's task to h2's task:`);
      for (const r of rounds) console.log(`  task IP median ${r.ip.median.toFixed(3)} ms p99 ${r.ip.p99.toFixed(3)} ms | VIP median ${r.vip.median.toFixed(3)} ms p99 ${r.vip.p99.toFixed(3)} ms`);
      console.log(`  VIP - task IP at the median: ${(vipMed - ipMed).toFixed(3)} ms`);

      // Throughput: iperf3 server in the web task's namespace (overlay) and in h2's host namespace (underlay).
      const h1 = c.host('h1').host.netnsPath;
      const h2 = c.host('h2').host;
      const iperf = (serverNs: string, target: string): number => {
        const srv = spawnSync('nsenter', [`--net=${serverNs}`, 'iperf3', '-s', '-1', '-D', '-p', '5201']);
        if (srv.status !== 0) throw new Error(`iperf3 -s: ${srv.stderr.toString()}`);
        spawnSync('sleep', ['0.3']);
        const out = JSON.parse(inNs(h1, ['iperf3', '-c', target, '-p', '5201', '-t', '5', '-J'])) as { end: { sum_received: { bits_per_second: number } } };
        return out.end.sum_received.bits_per_second / 1e9;
      };
      const results: { overlay: number; underlay: number }[] = [];
      for (let i = 0; i < 2; i++) results.push({ underlay: iperf(h2.netnsPath, h2.address), overlay: iperf(`/proc/${web.pid}/ns/net`, web.ip) });
      console.log('throughput, iperf3 -t 5 from h1 (host namespace) to h2:');
      for (const r of results) console.log(`  underlay ${r.underlay.toFixed(2)} Gbit/s | overlay to the task ${r.overlay.toFixed(2)} Gbit/s | ratio ${(r.overlay / r.underlay).toFixed(2)}`);
    } finally {
      await c.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it('rule updates on every node after a task enters or leaves running (p50/p99)', async () => {
    const c = await startCluster({ tag: 'ovconv', nodeTimeoutMs: 5000, hosts: 3 });
    const dir = await mkdtemp(join(tmpdir(), 'shoal-ovconv-'));
    try {
      const yaml = (n: number): string => [
        'apiVersion: shoal/v1', 'kind: Service', 'metadata:', '  name: web', 'spec:', `  replicas: ${n}`,
        '  template:', '    spec:', '      containers:', '        - name: main', `          image: ${c.image}`, '          command: ["sleep", "100000"]', '          init: true', '          stopGracePeriodSeconds: 1',
      ].join('\n');
      const file = join(dir, 'web.yaml');
      await writeFile(file, yaml(1));
      expect((await c.ctl(['apply', '-f', file, '--wait', '--timeout', '60s'])).code).toBe(0);
      const natOf = (h: (typeof c.hosts)[number]): string => spawnSync('nsenter', [`--net=${h.host.netnsPath}`, 'iptables-save', '-t', 'nat'], { encoding: 'utf8' }).stdout;
      /** ms from `since` until every node's rules do (or do not) name `ip`, polled every 10 ms. */
      const until_ = async (ip: string, present: boolean, since: number): Promise<number> => {
        for (;;) {
          if (c.hosts.every((h) => natOf(h).includes(`--to-destination ${ip}`) === present)) return Date.now() - since;
          if (Date.now() - since > 10_000) throw new Error(`rules never ${present ? 'gained' : 'lost'} ${ip}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      const up: number[] = [];
      const down: number[] = [];
      for (let i = 0; i < 15; i++) {
        const r = await c.ctl(['scale', 'web', '--replicas', '2']);
        expect(r.code, r.stderr).toBe(0);
        const t = await until('a second running task', async () => (await c.tasks('web')).find((x) => x.spec.desiredState === 'running' && x.status.state === 'running' && x.spec.slot === 2), 30_000, 10);
        up.push(await until_(t.status.ip!, true, Date.parse(t.status.timestamp!)));
        expect((await c.ctl(['scale', 'web', '--replicas', '1'])).code).toBe(0);
        const gone = await until('the task to leave running', async () => {
          const x = (await c.tasks('web')).find((y) => y.metadata.name === t.metadata.name);
          return x === undefined || x.status.state !== 'running' ? x ?? t : undefined;
        }, 30_000, 10);
        down.push(await until_(t.status.ip!, false, gone === t ? Date.now() : Date.parse(gone.status.timestamp!)));
      }
      const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
      console.log(`rule updates on all 3 nodes, 15 scale-ups and 15 scale-downs, from the task's state change (status.timestamp):`);
      console.log(`  entering running: p50 ${q(up, 0.5)} ms, p99 ${q(up, 0.99)} ms, max ${Math.max(...up)} ms`);
      console.log(`  leaving running:  p50 ${q(down, 0.5)} ms, p99 ${q(down, 0.99)} ms, max ${Math.max(...down)} ms`);
    } finally {
      await c.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it('applies 1,000 services × 10 endpoints on one node', async () => {
    const ns = `shoal-ovb-${randomBytes(3).toString('hex')}`;
    spawnSync('ip', ['netns', 'add', ns]);
    const path = `/run/netns/${ns}`;
    try {
      inNs(path, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p']);
      inNs(path, ['ip', 'addr', 'add', '192.168.77.1/24', 'dev', 'eth0']);
      inNs(path, ['ip', 'link', 'set', 'eth0', 'up']);
      inNs(path, ['ip', 'link', 'add', 'shoal0', 'type', 'bridge']);
      const dp = createClusterDataplane({ host: new NsHost(path), chainPrefix: 'SHOALB', bridge: 'shoal0', vxlanDevice: 'shoalb-vx' });
      const peers = Array.from({ length: 20 }, (_, i) => ({ nodeName: `n${i + 2}`, podCIDR: `10.244.${i + 1}.0/24`, address: `192.168.77.${i + 2}`, vtepMAC: vtepMacOf(`n${i + 2}`), port: 4789 }));
      const services = Array.from({ length: 1000 }, (_, s) => ({
        key: `default/s${s}`, namespace: 'default', name: `s${s}`, endpointMode: 'vip' as const,
        virtualIP: `10.96.${Math.floor(s / 250)}.${(s % 250) + 1}`, networks: ['default/default'], ingress: [],
        endpoints: Array.from({ length: 10 }, (_, e) => ({ ip: `10.244.${(e % 20) + 1}.${(s % 250) + 2}`, taskName: `s${s}.${e}.x`, nodeName: `n${(e % 20) + 2}` })),
      }));
      const spec: ClusterNetworkSpec = { self: { nodeName: 'n1', podCIDR: '10.244.0.0/24', address: '192.168.77.1', vtepMAC: vtepMacOf('n1'), port: 4789 }, peers, services };
      const t0 = performance.now();
      await dp.apply(spec);
      const first = performance.now() - t0;
      services[0]!.endpoints.pop();
      const t1 = performance.now();
      await dp.apply(spec);
      const change = performance.now() - t1;
      console.log(`1,000 services x 10 endpoints, 20 peers: first apply ${first.toFixed(0)} ms (${dp.stats().rules} rules), one endpoint removed ${change.toFixed(0)} ms`);
      await dp.teardown();
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  }, 120_000);
});
