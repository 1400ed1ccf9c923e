/**
 * Heartbeats over mTLS (issue 13; not a test). Run through `bench/heartbeats`:
 *   bench/heartbeats [--nodes 5000] [--period-ms 5000] [--seconds 30]
 * Starts a real `dist/shoal-controller.js` (embedded etcd, `--node-timeout 3s`), joins N
 * simulated nodes through the join API (each its own P-256 key, CSR and certificate), registers
 * their Node objects with their certificates, then sends every node's heartbeat once per
 * period for the given time, each node over its own keep-alive TLS connection with its own
 * client certificate, as N agents would. Prints the controller's CPU (user+system of its
 * process, etcd apart) per second of wall time while beating, its RSS, the heartbeat latency
 * p50/p99 and the failures; then the same load without client certificates is not possible
 * (the API is HTTPS only), so the figure stands on its own with the TLS handshakes counted
 * once per node.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { parse } from 'yaml';
import { createCsr } from '../pkg/pki/index.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const NODES = arg('nodes', 5000);
const PERIOD = arg('period-ms', 5000);
const SECONDS = arg('seconds', 30);
const REPO = resolve(process.cwd());
// --plain DIR: a checkout from before issue 13 (plain HTTP, no credentials), for the same load without TLS.
const PLAIN = process.argv.includes('--plain') ? resolve(process.argv[process.argv.indexOf('--plain') + 1] ?? '') : undefined;
const CONTROLLER = join(PLAIN ?? REPO, 'dist/shoal-controller.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function main(): Promise<void> {
  if (!existsSync(CONTROLLER)) throw new Error('dist/shoal-controller.js is not built (make build)');
  const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-hb-'));
  const port = await freePort();
  const server = `${PLAIN ? 'http' : 'https'}://127.0.0.1:${port}`;
  // Agents beat every third of the node timeout: the period given, times three.
  const prof = process.env['HB_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['HB_PROF']}`] : [];
  const ctl = spawn(process.execPath, [...prof, CONTROLLER, '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--node-timeout', `${Math.round((PERIOD * 3) / 1000)}s`, '--cluster-cidr', '10.128.0.0/9'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  ctl.stderr.on('data', (d: Buffer) => (logs = (logs + d.toString()).slice(-4000)));
  const agents: Agent[] = [];
  try {
    const cfg = join(dir, 'admin.config');
    for (let i = 0; i < 300 && !PLAIN && !existsSync(cfg); i++) await sleep(100);
    const c = PLAIN
      ? { certificateAuthority: '', clientCertificate: '', clientKey: '' }
      : (parse(readFileSync(cfg, 'utf8')) as { contexts: { certificateAuthority: string; clientCertificate: string; clientKey: string }[] }).contexts[0]!;
    const admin = new Agent({ ...(PLAIN ? {} : { connect: { ca: c.certificateAuthority, cert: c.clientCertificate, key: c.clientKey } }), connections: 4 });
    agents.push(admin);
    for (let i = 0; i < 100; i++) {
      const r = await request(`${server}/readyz`, { dispatcher: admin }).catch(() => undefined);
      if (r?.statusCode === 200) break;
      await r?.body.dump();
      await sleep(100);
    }
    const token = PLAIN ? '' : ((await (await request(`${server}/apis/shoal/v1/cluster/join-tokens/worker`, { dispatcher: admin })).body.json()) as { token: string }).token;
    const anon = new Agent({ connect: { ca: c.certificateAuthority }, connections: 8 });
    agents.push(anon);

    // Join and register N nodes, 32 at a time.
    let t0 = performance.now();
    const nodes: { name: string; agent: Agent }[] = [];
    for (let base = 0; base < NODES; base += 32) {
      await Promise.all(Array.from({ length: Math.min(32, NODES - base) }, async (_, j) => {
        const name = `hb-${base + j}`;
        if (PLAIN) {
          const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
          agents.push(agent);
          const node = { apiVersion: 'shoal/v1', kind: 'Node', metadata: { name }, spec: {}, status: { state: 'ready', capacity: { cpu: '4', memory: '8Gi', pods: 110 } } };
          const reg = await request(`${server}/apis/shoal/v1/nodes`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify(node) });
          if (reg.statusCode !== 201) throw new Error(`register ${name}: ${reg.statusCode} ${await reg.body.text()}`);
          await reg.body.dump();
          nodes.push({ name, agent });
          return;
        }
        const csr = await createCsr({ cn: name, o: 'shoal:node' });
        const r = await request(`${server}/apis/shoal/v1/cluster/join`, { method: 'POST', dispatcher: anon, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, csr: csr.csrPem }) });
        if (r.statusCode !== 200) throw new Error(`join ${name}: ${r.statusCode} ${await r.body.text()}`);
        const cert = ((await r.body.json()) as { certificate: string }).certificate;
        const agent = new Agent({ connect: { ca: c.certificateAuthority, cert, key: csr.keyPem }, connections: 1, keepAliveTimeout: 60_000 });
        agents.push(agent);
        const node = { apiVersion: 'shoal/v1', kind: 'Node', metadata: { name }, spec: {}, status: { state: 'ready', capacity: { cpu: '4', memory: '8Gi', pods: 110 } } };
        const reg = await request(`${server}/apis/shoal/v1/nodes`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify(node) });
        if (reg.statusCode !== 201) throw new Error(`register ${name}: ${reg.statusCode} ${await reg.body.text()}`);
        await reg.body.dump();
        nodes.push({ name, agent });
      }));
    }
    console.log(`heartbeats: joined and registered ${NODES} nodes (a key, CSR, certificate and Node each) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Warm-up: every node's first beat opens its TLS connection (a full handshake); not measured.
    t0 = performance.now();
    for (let base = 0; base < NODES; base += 100) {
      await Promise.all(nodes.slice(base, base + 100).map(async (n) => {
        const r = await request(`${server}/apis/shoal/v1/nodes/${n.name}/heartbeat`, { method: 'POST', dispatcher: n.agent });
        await r.body.dump();
      }));
    }
    console.log(`heartbeats: first beat of every node (a TLS handshake each) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Beat: each node once per period, spread evenly over the period.
    const lat: number[] = [];
    let failed = 0;
    const reasons = new Map<string, number>();
    const why = (r: string): void => void reasons.set(r, (reasons.get(r) ?? 0) + 1);
    const pid = ctl.pid!;
    const cpu0 = cpuSeconds(pid);
    t0 = performance.now();
    const end = t0 + SECONDS * 1000;
    const gap = PERIOD / NODES;
    const inflight = new Set<Promise<void>>();
    let rssMax = 0;
    for (let k = 0; performance.now() < end; k++) {
      const n = nodes[k % NODES]!;
      const due = t0 + k * gap;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const s = performance.now();
      const p = request(`${server}/apis/shoal/v1/nodes/${n.name}/heartbeat`, { method: 'POST', dispatcher: n.agent })
        .then(async (r) => {
          await r.body.dump();
          if (r.statusCode === 200) lat.push(performance.now() - s);
          else {
            failed++;
            why(`HTTP ${r.statusCode}`);
          }
        }, (err: unknown) => {
          failed++;
          why((err as { code?: string }).code ?? String(err));
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
      if (k % NODES === 0) rssMax = Math.max(rssMax, rssMb(pid));
    }
    await Promise.all(inflight);
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(pid) - cpu0;
    console.log(`heartbeats: ${NODES} nodes x 1 per ${PERIOD} ms for ${wall.toFixed(0)} s over ${PLAIN ? 'plain HTTP (before issue 13)' : 'mTLS'}: ${lat.length} ok, ${failed} failed`);
    console.log(`  controller CPU: ${(cpu / wall).toFixed(2)} cores (${cpu.toFixed(1)} s in ${wall.toFixed(1)} s), RSS max ${rssMax.toFixed(0)} MB`);
    if (reasons.size > 0) console.log(`  failures: ${[...reasons].map(([r, n]) => `${r} x${n}`).join(', ')}`);
    console.log(`  heartbeat latency: p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms`);
  } catch (err) {
    console.error(`heartbeats: failed: ${String(err)}\n${logs}`);
    process.exitCode = 1;
  } finally {
    ctl.kill('SIGTERM');
    await new Promise((r) => ctl.once('exit', r));
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
