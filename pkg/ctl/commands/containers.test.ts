import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShoalError, httpStatusOf, toShoalError, toStatus } from '../../api/index.js';
import { containerRoutes } from '../../agent/index.js';
import { ContainerManager, FakeCgroupManager, FakeDriver } from '../../runtime/index.js';
import type { CtlContext } from '../context.js';
import { buildProgram } from '../program.js';
import { parseDockerArgs } from './containers.js';

let tmp: string;
let sock: string;
let app: FastifyInstance;
let driver: FakeDriver;
let manager: ContainerManager;
let pulls = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ctl-'));
  sock = join(tmp, 'agent.sock');
  await mkdir(join(tmp, 'lower/etc'), { recursive: true });
  await writeFile(join(tmp, 'lower/etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  driver = new FakeDriver();
  let pulled = false;
  manager = await ContainerManager.create({
    dataDir: join(tmp, 'data'),
    runDir: join(tmp, 'run'),
    driver,
    cgroups: new FakeCgroupManager(),
    kill: driver.kill,
    images: {
      resolveForRun: (ref) =>
        ref === 'busybox' || (ref === 'late' && pulled)
          ? Promise.resolve({ id: 'sha256:' + 'b'.repeat(64), ref, config: { Cmd: ['sh'] }, lowerDirs: [join(tmp, 'lower')] })
          : Promise.reject(new ShoalError('NotFound', `no such image: ${ref}`)),
    },
  });
  app = Fastify();
  app.setErrorHandler((err, _req, reply) => {
    const e = toShoalError(err);
    void reply.code(httpStatusOf(e.code)).send(toStatus(e));
  });
  containerRoutes(app, { containers: manager });
  app.post('/v1/images/pull', async (_req, reply) => {
    pulls++;
    pulled = true;
    return reply.header('content-type', 'application/x-ndjson').send('{"status":"done","digest":"sha256:abc"}\n');
  });
  await app.listen({ path: sock });
});

afterAll(async () => {
  await app.close();
  await manager.close();
  await rm(tmp, { recursive: true, force: true });
});

function sink(): PassThrough & { text: () => string } {
  const chunks: Buffer[] = [];
  const s = new PassThrough() as PassThrough & { text: () => string };
  s.on('data', (c: Buffer) => chunks.push(c));
  s.text = () => Buffer.concat(chunks).toString();
  return s;
}

async function ctl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = sink();
  const stderr = sink();
  let code = 0;
  const ctx: CtlContext = {
    env: { SHOAL_HOST: `unix://${sock}` },
    stdout,
    stderr,
    stdin: Readable.from([]),
    home: tmp,
    cwd: tmp,
    signal: new AbortController().signal,
    setExitCode: (c) => (code = c),
  };
  try {
    await buildProgram(ctx).parseAsync(['node', 'shoalctl', ...args]);
  } catch (err) {
    stderr.write(`error: ${toShoalError(err).code}: ${toShoalError(err).message}\n`);
    code ||= 1;
  }
  await new Promise((r) => setImmediate(r));
  return { code, out: stdout.text(), err: stderr.text() };
}

describe('docker-style argument parsing', () => {
  it('stops at the first positional and keeps the command verbatim', () => {
    const p = parseDockerArgs(['-d', '--name=x', '-e', 'A=1', '-e', 'B=2', '-it', 'busybox', 'sh', '-c', 'echo -e hi'], [
      { names: ['-d'], key: 'detach', value: false },
      { names: ['-i'], key: 'i', value: false },
      { names: ['-t'], key: 't', value: false },
      { names: ['--name'], key: 'name', value: true },
      { names: ['-e'], key: 'env', value: true, repeat: true },
    ]);
    expect(p.opts).toEqual({ detach: true, name: 'x', env: ['A=1', 'B=2'], i: true, t: true });
    expect(p.positionals).toEqual(['busybox', 'sh', '-c', 'echo -e hi']);
    expect(() => parseDockerArgs(['--bogus', 'x'], [])).toThrow(/unknown flag/);
  });
});

describe('shoalctl container commands against an engine with a fake runtime', () => {
  it('run -d, ps, inspect, stop, rm', async () => {
    const r = await ctl('run', '-d', '--name', 'web', '--memory', '64m', '--cpus', '0.5', '--network', 'none', 'busybox', 'sleep', '100');
    expect(r.code).toBe(0);
    const id = r.out.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const ps = await ctl('ps');
    expect(ps.out).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);
    expect(ps.out).toContain(id.slice(0, 12));
    expect(ps.out).toMatch(/"sleep 100"/);
    expect(ps.out).toMatch(/Up (Less than a second|\d+ seconds?)/);
    expect((await ctl('ps', '-q')).out).toBe(`${id.slice(0, 12)}\n`);
    const ins = JSON.parse((await ctl('inspect', 'web')).out) as Array<{ HostConfig: { Memory: number; NanoCpus: number } }>;
    expect(ins[0]!.HostConfig).toMatchObject({ Memory: 64 << 20, NanoCpus: 500_000_000 });
    const rm1 = await ctl('rm', 'web');
    expect(rm1.code).toBe(1);
    expect(rm1.err).toMatch(/FailedPrecondition/);
    expect((await ctl('stop', '-t', '1', 'web')).out).toBe('web\n');
    expect((await ctl('ps', '-a', '-o', 'json')).out).toContain('Exited (143)');
    expect((await ctl('rm', 'web')).code).toBe(0);
    expect((await ctl('inspect', 'web')).code).toBe(1);
  });

  it('run without -d prints the output and passes the exit code through; --rm removes', async () => {
    const p = ctl('run', '--rm', 'busybox', 'sh', '-c', 'exit 3');
    // the fake process: write its log and exit once started
    for (let i = 0; i < 100 && driver.running().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const pid = driver.running()[0]!;
    const spec = driver.procs.get(pid)!.spec;
    expect(spec.process.args).toEqual(['sh', '-c', 'exit 3']);
    await writeFile(spec.logPath, JSON.stringify({ log: 'out\n', stream: 'stdout', time: 't' }) + '\n' + JSON.stringify({ log: 'oops\n', stream: 'stderr', time: 't' }) + '\n');
    driver.exit(pid, 3);
    const r = await p;
    expect(r.code).toBe(3);
    expect(r.out).toBe('out\n');
    expect(r.err).toBe('oops\n');
    expect(manager.list({ all: true })).toHaveLength(0);
  });

  it('pulls a missing image, then exec passes its exit code through', async () => {
    const r = await ctl('run', '-d', 'late');
    expect(r.code).toBe(0);
    expect(pulls).toBe(1);
    expect(r.err).toContain("Unable to find image 'late' locally");
    driver.execExitCode = 4;
    const ex = await ctl('exec', r.out.trim().slice(0, 10), 'ls', '-l', '/');
    expect(ex.code).toBe(4);
    expect(ex.out).toBe('ran ls -l /\n');
    const w = ctl('wait', r.out.trim());
    await ctl('kill', '-s', 'TERM', r.out.trim());
    expect((await w).out).toBe('143\n');
    expect((await ctl('rm', '-f', r.out.trim())).code).toBe(0);
  });

  it('reports a missing engine clearly', async () => {
    const stdout = sink();
    const stderr = sink();
    const ctx: CtlContext = {
      env: { SHOAL_HOST: `unix://${tmp}/nothing.sock` },
      stdout,
      stderr,
      stdin: Readable.from([]),
      home: tmp,
      cwd: tmp,
      signal: new AbortController().signal,
      setExitCode: () => undefined,
    };
    await expect(buildProgram(ctx).parseAsync(['node', 'shoalctl', 'ps'])).rejects.toMatchObject({ code: 'Unavailable' });
  });
});
