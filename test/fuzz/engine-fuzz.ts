/**
 * The engine API (one agent's UNIX-socket API) under fuzz: `buildEngineApp` over a real
 * ImageService (file content store and snapshots in a temp dir, a registry that holds nothing,
 * the real layer applier) and a real ContainerManager on the fake driver and cgroups, driven by
 * `app.inject()` and judged by check.ts (no store revision here). Requests: container creates
 * mutated from a valid one, every container route on the seeded containers and any name, exec
 * specs as JSON or `?spec=` base64, image pulls, pushes, tags, logins, removals, inspects and
 * imports (garbage and real tars), random routes and bodies.
 *
 * Not fuzzed, on purpose: `binds` (a missing bind source is created on the host, as Docker
 * does), `wait` on a running container and the streams (`follow`, `stream`), which answer only
 * once the container exits or the client goes. The fake kill ends a container on any signal,
 * so a stop never waits for a timeout, and a container reads whatever is attached to its stdin.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { pack } from 'tar-stream';
import { errors } from '../../pkg/api/index.js';
import { buildEngineApp } from '../../pkg/agent/index.js';
import {
  applyLayer, ContainerManager, FakeCgroupManager, FakeDriver, FileContentStore, ImageService, MemoryCredentialStore, type Registry,
} from '../../pkg/runtime/index.js';
import { sendAndCheck } from './check.js';
import { anyBody, CONTENT_TYPES, enc, queryValue, segment, streamless, type FuzzRequest } from './controller-requests.js';
import { edgeString, mutatedManifest, type Manifest } from './manifests.js';
import { runFuzz, type FuzzReport, type FuzzTarget, type RunOptions } from './run.js';

export const IMAGE = 'fuzz:1';

/** A registry that holds nothing: every pull or push fails at once, with no network. */
const NO_REGISTRY = new Proxy({}, {
  get: () => () => Promise.reject(errors.notFound('manifest unknown: the fuzz registry holds nothing')),
}) as Registry;

/** A tiny root filesystem as a tar: /etc/passwd, /etc/group, /bin/sh (not runnable: the driver is a fake). */
export async function smallRootfsTar(): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (d: unknown) => {
    chunks.push(d as Buffer);
  });
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const d of ['bin/', 'etc/', 'tmp/']) p.entry({ name: d, type: 'directory', mode: 0o755 });
  p.entry({ name: 'etc/passwd', mode: 0o644 }, 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n');
  p.entry({ name: 'etc/group', mode: 0o644 }, 'root:x:0:\nwww:x:33:\n');
  p.entry({ name: 'bin/sh', mode: 0o755 }, '#!fake\n');
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface EngineTarget extends FuzzTarget {
  app: FastifyInstance;
}

export async function engineTarget(): Promise<EngineTarget> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-fuzz-engine-'));
  await writeFile(join(dir, 'resolv.conf'), 'nameserver 10.0.0.1\n');
  const content = await FileContentStore.create(join(dir, 'content'));
  const images = await ImageService.create({
    dataDir: dir,
    registry: NO_REGISTRY,
    credentials: new MemoryCredentialStore(),
    content,
    applyLayer: async (target, blob, o) => {
      await applyLayer(target, blob, { expectedDiffId: o.expectedDiffId, maxUncompressedBytes: 8 << 20, whiteoutMode: 'delete', ...(o.signal ? { signal: o.signal } : {}) });
    },
    maxLayerSize: 8 << 20,
    platform: { os: 'linux', architecture: 'amd64' },
  });
  const driver = new FakeDriver();
  // The fake's stdin is a PassThrough nobody reads: an attach would wait for a reader forever
  // (backpressure, as with a real container that does not read). Here the container reads.
  driver.attachStdin = () => Promise.resolve(new Writable({ write: (_chunk, _enc, cb) => cb() }));
  await mkdir(join(dir, 'run'), { recursive: true });
  const containers = await ContainerManager.create({
    dataDir: dir,
    runDir: join(dir, 'run'),
    driver,
    cgroups: new FakeCgroupManager(),
    images,
    // Never process.kill: the fake's PIDs are not ours. Any signal ends a fake container.
    kill: (pid) => driver.kill(pid, 'SIGKILL'),
    hostResolvConf: join(dir, 'resolv.conf'),
  });
  images.setImageInUseHook((id) => containers.usesImage(id));
  const app = await buildEngineApp({ images, containers, version: { Version: 'fuzz', ApiVersion: 'v1' } });
  const tar = await smallRootfsTar();
  const reseed = async (): Promise<void> => {
    for (const c of containers.list({ all: true })) await containers.remove(c.Id, { force: true }).catch(() => undefined);
    await images.importTar(Readable.from([tar]), IMAGE);
    const web = await containers.create({ image: IMAGE, name: 'web', cmd: ['sh'], openStdin: true });
    await containers.start(web.Id);
    await containers.create({ image: IMAGE, name: 'idle', cmd: ['sh'] });
  };
  await reseed();
  return {
    app,
    reseed,
    send: (req) => sendAndCheck(app, req),
    close: async () => {
      await app.close();
      await containers.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const CREATE: Manifest = {
  source: 'builtin:ContainerCreateRequest',
  value: {
    image: IMAGE, name: 'c1', cmd: ['sh', '-c', 'echo hi'], entrypoint: ['/bin/sh'], env: ['A=1', 'PATH=/bin'], workingDir: '/tmp', user: 'www', labels: { app: 'x' },
    hostname: 'h1', stopSignal: 'SIGTERM', stopTimeout: 5, openStdin: false, stdinOnce: false, memory: '64m', cpus: '0.5', cpuShares: 512, pidsLimit: 100,
    networkMode: 'none', init: true, autoRemove: false, ports: [], networkAliases: [],
  },
};
const EXEC: Manifest = { source: 'builtin:ExecSpec', value: { cmd: ['sh', '-c', 'echo x'], env: ['B=2'], user: 'root', workdir: '/' } };
const IMAGE_BODIES: Manifest[] = [
  { source: 'builtin:pull', value: { ref: 'registry.local:5000/team/app:1.0' } },
  { source: 'builtin:tag', value: { source: IMAGE, target: 'fuzz:2' } },
  { source: 'builtin:auth', value: { registry: 'registry.local:5000', username: 'u', password: 'p' } },
];

/** A body with `binds` taken out (see the file header). */
function withoutBinds(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) delete (v as Record<string, unknown>)['binds'];
  return v;
}

const id = fc.oneof(fc.constantFrom('web', 'idle', '/web', 'c1', 'nothere', 'a', '0', 'f'.repeat(64), '%2Fweb'), segment);
const ref = fc.oneof(fc.constantFrom(IMAGE, 'fuzz', 'fuzz:2', 'busybox', 'registry.local:5000/team/app:1.0', `fuzz@sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`), edgeString, fc.string({ maxLength: 40 }));
const query = fc.array(fc.tuple(fc.constantFrom('name', 'all', 't', 'signal', 'force', 'tail', 'since', 'follow', 'stream', 'spec', 'ref', 'x'), queryValue), { maxLength: 3 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${enc(v)}`).join('&')}`));

const creates = fc.tuple(mutatedManifest([CREATE]), fc.option(fc.oneof(fc.constantFrom('c1', 'web', '/x', 'bad name!'), edgeString), { freq: 3 }), fc.constantFrom('application/json', 'application/json', 'text/plain', ''))
  .map(([m, name, type]): FuzzRequest => ({
    gen: 'engine-create', method: 'POST', url: `/v1/containers${name !== null ? `?name=${enc(name)}` : ''}`,
    headers: type === '' ? {} : { 'content-type': type }, payload: JSON.stringify(withoutBinds(m.value)) ?? 'null',
  }));

const CONTAINER_ROUTES: [string, string][] = [
  ['GET', '/v1/containers'], ['GET', '/v1/containers/{id}/json'], ['POST', '/v1/containers/{id}/start'], ['POST', '/v1/containers/{id}/stop'],
  ['POST', '/v1/containers/{id}/restart'], ['POST', '/v1/containers/{id}/kill'], ['POST', '/v1/containers/{id}/pause'], ['POST', '/v1/containers/{id}/unpause'],
  ['DELETE', '/v1/containers/{id}'], ['GET', '/v1/containers/{id}/logs'], ['GET', '/v1/containers/{id}/stats'], ['POST', '/v1/containers/{id}/attach'],
  ['GET', '/_ping'], ['GET', '/v1/version'], ['GET', '/v1/images'], ['GET', '/v1/networks'],
];
const lifecycle = fc.tuple(fc.constantFrom(...CONTAINER_ROUTES), id, query, fc.option(anyBody, { freq: 2 }), fc.constantFrom(...CONTENT_TYPES))
  .map(([[method, path], cid, q, body, type]): FuzzRequest => ({
    gen: 'engine-container', method, url: path.replace('{id}', cid) + q, headers: type === '' ? {} : { 'content-type': type }, ...(body !== null && method !== 'GET' ? { payload: body } : {}),
  }));

const execs = fc.tuple(id, mutatedManifest([EXEC]), fc.constantFrom('json', 'query', 'header', 'garbage'), fc.string({ maxLength: 30 }))
  .map(([cid, m, how, junk]): FuzzRequest => {
    const json = JSON.stringify(m.value) ?? 'null';
    const b64 = Buffer.from(json).toString('base64');
    const url = `/v1/containers/${cid}/exec`;
    if (how === 'json') return { gen: 'engine-exec', method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: json };
    if (how === 'query') return { gen: 'engine-exec', method: 'POST', url: `${url}?spec=${enc(b64)}`, headers: { 'content-type': 'application/vnd.shoal.stream' }, payload: junk };
    if (how === 'header') return { gen: 'engine-exec', method: 'POST', url, headers: { 'x-shoal-exec': b64, 'content-type': 'application/vnd.shoal.stream' }, payload: junk };
    return { gen: 'engine-exec', method: 'POST', url: `${url}?spec=${enc(junk)}`, headers: { 'content-type': 'application/vnd.shoal.stream' }, payload: junk };
  });

const imageOps = fc.oneof(
  fc.tuple(mutatedManifest(IMAGE_BODIES), fc.constantFrom('pull', 'push', 'tag', 'auth'))
    .map(([m, op]): FuzzRequest => ({ gen: 'engine-image', method: 'POST', url: op === 'auth' ? '/v1/auth' : `/v1/images/${op}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(m.value) ?? 'null' })),
  fc.tuple(ref, fc.constantFrom('DELETE', 'GET'), fc.constantFrom('', '?force=1', '?force=maybe'))
    .map(([r, method, q]): FuzzRequest => ({ gen: 'engine-image', method, url: `/v1/images/${enc(r)}${method === 'GET' ? '/json' : q}`, headers: {} })),
);

/** Imports: garbage bodies, or a real tar (whole or cut short), under odd refs and content types. */
function imports(tar: Buffer) {
  return fc.tuple(ref, fc.constantFrom('application/x-tar', 'application/gzip', 'application/octet-stream', 'application/json', 'text/plain'), fc.oneof(anyBody, fc.nat({ max: tar.length }).map((n) => tar.subarray(0, n).toString('latin1'))))
    .map(([r, type, body]): FuzzRequest => ({ gen: 'engine-import', method: 'POST', url: `/v1/images/import?ref=${enc(r)}`, headers: { 'content-type': type }, payload: body }));
}

/** Every kind of engine request, with streams made plain. */
export function engineRequest(tar: Buffer): fc.Arbitrary<FuzzRequest> {
  return fc
    .oneof({ weight: 5, arbitrary: creates }, { weight: 5, arbitrary: lifecycle }, { weight: 2, arbitrary: execs }, { weight: 2, arbitrary: imageOps }, { weight: 1, arbitrary: imports(tar) })
    .map((r) => ({ ...r, url: streamless(r.url, ['follow', 'stream']) }));
}

/** The engine API fuzzed: every case of engineRequest, the figures back. */
export async function runEngineFuzz(opts: RunOptions): Promise<FuzzReport> {
  const target = await engineTarget();
  try {
    return await runFuzz(target, engineRequest(await smallRootfsTar()), opts);
  } finally {
    await target.close();
  }
}
