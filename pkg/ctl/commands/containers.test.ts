import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Command } from 'commander';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ShoalError, httpStatusOf, toShoalError, toStatus } from '../../api/index.js';
import { containerRoutes } from '../../agent/index.js';
import { ContainerManager, FakeCgroupManager, FakeDriver } from '../../runtime/index.js';
import type { CtlContext } from '../context.js';
import { buildProgram } from '../program.js';
import { captureStream, runCtl, type CtlRun } from '../test-helpers.js';
import { containerCreateRequest, declareExecOptions, declareRunOptions, execSpec, type RunOptions } from './docker-options.js';

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

function ctl(...args: string[]): Promise<CtlRun> {
  return runCtl(args, { env: { SHOAL_HOST: `unix://${sock}` }, home: tmp });
}

/** What commander makes of `run ARGS` or `exec ARGS` (the options as declared for shoalctl). */
function parse(declare: (c: Command) => Command, argv: string[]): { opts: Record<string, unknown>; args: string[] } {
  const cmd = declare(new Command('x')).exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  cmd.parse(argv, { from: 'user' });
  return { opts: cmd.opts(), args: cmd.args };
}

describe('docker-style argument parsing', () => {
  it('stops at the first positional and keeps the command verbatim', () => {
    const p = parse(declareRunOptions, ['-d', '--name=x', '-e', 'A=1', '-e', 'B=2', '-it', 'busybox', 'sh', '-c', 'echo -e hi']);
    expect(p.opts).toEqual({ detach: true, name: 'x', env: ['A=1', 'B=2'], interactive: true, tty: true });
    expect(p.args).toEqual(['busybox', 'sh', '-c', 'echo -e hi']);
    expect(() => parse(declareRunOptions, ['--bogus', 'x'])).toThrow(/unknown option '--bogus'/);
  });

  it("takes docker's spellings: short forms, -c and -h, --net, repeats, = values, combined booleans", () => {
    const p = parse(declareRunOptions, [
      '-di', '-c', '512', '-h', 'box', '--net', 'host', '-m', '64m', '-u', '1000:1000', '-w', '/srv', '-v', './data:/data', '-v', '/etc:/e:ro',
      '-p', '8080:80', '--publish=127.0.0.1:53:53/udp', '-l', 'a=b', '--label', 'c', '--env-file', 'one.env', '--env-file=two.env',
      '--network-alias', 'web', '--network-alias', 'www', '--pids-limit', '-1', '--entrypoint', '', '--stop-timeout', '3', 'busybox',
    ]);
    expect(p.opts).toEqual({
      detach: true, interactive: true, cpuShares: '512', hostname: 'box', network: 'host', memory: '64m', user: '1000:1000', workdir: '/srv',
      volume: ['./data:/data', '/etc:/e:ro'], publish: ['8080:80', '127.0.0.1:53:53/udp'], label: ['a=b', 'c'], envFile: ['one.env', 'two.env'],
      networkAlias: ['web', 'www'], pidsLimit: '-1', entrypoint: '', stopTimeout: '3',
    });
    expect(p.args).toEqual(['busybox']);
    expect(parse(declareRunOptions, ['--network=none', 'img']).opts).toEqual({ network: 'none' });
  });

  it('ends the options at --, and leaves flags after the image to the command', () => {
    expect(parse(declareRunOptions, ['--rm', '--', 'img', '-d', '--help']).args).toEqual(['img', '-d', '--help']);
    const p = parse(declareRunOptions, ['img', '-d', '--rm', '-h']);
    expect([p.opts, p.args]).toEqual([{}, ['img', '-d', '--rm', '-h']]);
  });

  it('exec: -i and friends before the container, the command verbatim after it', () => {
    let p = parse(declareExecOptions, ['-i', 'web', 'sh', '-c', 'echo hi']);
    expect([p.opts, p.args]).toEqual([{ interactive: true }, ['web', 'sh', '-c', 'echo hi']]);
    p = parse(declareExecOptions, ['-it', '-e', 'A=1', '-u', 'nobody', '-w', '/', '--namespace', 'ns', 'task/web.1', '--', 'cat', '-n']);
    expect([p.opts, p.args]).toEqual([{ interactive: true, tty: true, env: ['A=1'], user: 'nobody', workdir: '/', namespace: 'ns' }, ['task/web.1', '--', 'cat', '-n']]);
  });

  it('turns the options into the engine request', () => {
    const o = parse(declareRunOptions, ['-i', '-c', '512', '-h', 'box', '--pids-limit', '-1', '-e', 'HOME', '-e', 'GONE', '-e', 'A=1', '-v', './d:/d:ro', '-l', 'k=v=w', '-l', 'bare', '--entrypoint', '', 'img', 'sh', '-c', 'x']);
    const body = containerCreateRequest(o.opts as RunOptions, o.args[0], o.args.slice(1), { env: { HOME: '/root' }, cwd: '/work' });
    expect(body).toEqual({
      image: 'img', cmd: ['sh', '-c', 'x'], env: ['HOME=/root', 'A=1'], hostname: 'box', entrypoint: [], pidsLimit: 0, cpuShares: 512,
      openStdin: true, stdinOnce: true, binds: ['/work/d:/d:ro'], labels: { k: 'v=w', bare: '' },
    });
    expect(() => containerCreateRequest({ stopTimeout: 'soon' }, 'img', [], { env: {}, cwd: '/' })).toThrow(/invalid --stop-timeout "soon": want an integer/);
    expect(() => containerCreateRequest({}, undefined, [], { env: {}, cwd: '/' })).toThrow(/an image is required/);
    expect(execSpec({ env: ['A=1'], user: 'u' }, 'web', ['ls'], {})).toEqual({ target: 'web', spec: { cmd: ['ls'], env: ['A=1'], user: 'u' } });
    expect(() => execSpec({}, 'web', [], {})).toThrow(/usage: shoalctl exec/);
  });
});

describe('help', () => {
  it('run and create list their options; -h is --hostname there, so help is --help', async () => {
    for (const name of ['run', 'create']) {
      const r = await ctl(name, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: shoalctl ${name} [OPTIONS] IMAGE [COMMAND] [ARG...]`);
      expect(r.out).toMatch(/-c, --cpu-shares <n>/);
      expect(r.out).toMatch(/-h, --hostname <name>/);
      expect(r.out).toMatch(/-e, --env <K=V>/);
      expect(r.out).toMatch(/--net, --network <mode>/);
      expect(r.out).toMatch(/^ {2}--help\s+display help for command$/m);
      expect(r.out).not.toMatch(/--host </);
    }
  });

  it('exec lists its options and takes -h for help; the root lists every command', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await ctl('exec', flag);
      expect(r.code).toBe(0);
      expect(r.out).toContain('Usage: shoalctl exec [OPTIONS] CONTAINER COMMAND [ARG...]');
      expect(r.out).toMatch(/-i, --interactive/);
      expect(r.out).toMatch(/--namespace <ns>/);
    }
    const root = await ctl('--help');
    expect(root.out).toMatch(/-H, --host <url>/);
    for (const c of ['run', 'create', 'exec', 'ps', 'logs', 'apply', 'get', 'network']) expect(root.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    // Every command takes the root's options too, hidden: `[options]` still means options of its own.
    expect(root.out).toMatch(/^ {2}tag <source> <target> /m);
    expect(root.out).toMatch(/^ {2}run \[options\] \[image\] \[cmd\.\.\.\] /m);
    expect((await ctl('help', 'run')).out).toContain('-h, --hostname <name>');
  });

  it('global options go before the sub-command, and after it too', async () => {
    const env = { SHOAL_HOST: `unix://${tmp}/nothing.sock` };
    const good = `unix://${sock}`;
    expect((await runCtl(['--host', good, 'ps', '-q'], { env, home: tmp })).code).toBe(0);
    expect((await runCtl(['-H', good, 'ps'], { env, home: tmp })).code).toBe(0);
    expect((await runCtl(['ps', '--host', good], { env, home: tmp })).code).toBe(0);
    const net = await runCtl(['network', 'ls', '-H', good], { env, home: tmp });
    expect(net.err).not.toMatch(/unknown option|nothing\.sock/);
    const bad = await runCtl(['exec', 'nope', 'ls'], { env, home: tmp });
    expect(bad.err).toMatch(/cannot connect to the Shoal engine/);
    const c = await runCtl(['--host', good, 'create', '--name', 'made', 'busybox', 'true'], { env, home: tmp });
    expect(c.out).toMatch(/^[0-9a-f]{64}\n$/);
    expect((await runCtl(['rm', '--host', good, 'made'], { env, home: tmp })).out).toBe('made\n');
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
    const pid = await vi.waitFor(() => {
      const [running] = driver.running();
      if (running === undefined) throw new Error('the container has not started');
      return running;
    }, { timeout: 1000, interval: 10 });
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
    const stdout = captureStream();
    const stderr = captureStream();
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
