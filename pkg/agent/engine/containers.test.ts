import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeExecSpecParam, encodeTerminalFrame, ShoalError, httpStatusOf, STREAM_CONTENT_TYPE, toShoalError, toStatus } from '../../api/index.js';
import { ContainerManager, FakeCgroupManager, FakeDriver } from '../../runtime/index.js';
import { containerRoutes } from './containers.js';
import { parseCreateBody } from './create-body.js';

let tmp: string;
let app: FastifyInstance;
let driver: FakeDriver;
let manager: ContainerManager;

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'eng-'));
  await mkdir(join(tmp, 'lower/etc'), { recursive: true });
  await writeFile(join(tmp, 'lower/etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  driver = new FakeDriver();
  manager = await ContainerManager.create({
    dataDir: join(tmp, 'data'),
    runDir: join(tmp, 'run'),
    driver,
    cgroups: new FakeCgroupManager(),
    kill: driver.kill,
    images: {
      resolveForRun: (ref) =>
        ref === 'busybox'
          ? Promise.resolve({ id: 'sha256:' + 'b'.repeat(64), ref: 'busybox:latest', config: { Cmd: ['sh'] }, lowerDirs: [join(tmp, 'lower')] })
          : Promise.reject(new ShoalError('NotFound', `no such image: ${ref}`)),
    },
  });
  app = Fastify();
  app.setErrorHandler((err, _req, reply) => {
    const e = toShoalError(err);
    void reply.code(httpStatusOf(e.code)).send(toStatus(e));
  });
  containerRoutes(app, { containers: manager });
  await app.ready();
});

afterEach(async () => {
  await app.close();
  await manager.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('engine container routes', () => {
  it('create validates the body and names every bad field', async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/containers', payload: { memory: '12q', cpus: 'x', networkMode: 'not a name!', bogus: 1 } });
    expect(r.statusCode).toBe(422);
    const fields = (r.json() as { details: { causes: Array<{ field: string }> } }).details.causes.map((c) => c.field).sort();
    expect(fields).toEqual(['bogus', 'cpus', 'image', 'memory', 'networkMode']);
    // Ports and aliases are validated with field causes; a network name selects a user network.
    expect(() => parseCreateBody({ image: 'x', ports: ['8080:80', '99999:1'], networkAliases: ['ok', 'bad alias'] })).toThrow(/ports\[1\].*networkAliases\[1\]/);
    expect(parseCreateBody({ image: 'x', networkMode: 'front', ports: ['80'] })).toMatchObject({ networkMode: 'bridge', network: 'front', ports: ['80'] });
    const nf = await app.inject({ method: 'POST', url: '/v1/containers', payload: { image: 'nothere' } });
    expect(nf.statusCode).toBe(404);
    const notJson = await app.inject({ method: 'POST', url: '/v1/containers', payload: '[1]', headers: { 'content-type': 'application/json' } });
    expect(notJson.statusCode).toBe(400);
  });

  it('parses sizes and cpus in the body', () => {
    expect(parseCreateBody({ image: 'x', memory: '64m', cpus: 0.5, networkMode: 'none' })).toEqual({
      image: 'x',
      memory: 64 << 20,
      nanoCpus: 500_000_000,
      networkMode: 'none',
    });
  });

  it('runs the lifecycle: create, start, list, inspect, stop, wait, rm', async () => {
    const c = await app.inject({ method: 'POST', url: '/v1/containers?name=web', payload: { image: 'busybox', cmd: ['sleep', '9'] } });
    expect(c.statusCode).toBe(201);
    const id = (c.json() as { Id: string }).Id;
    expect((await app.inject({ method: 'POST', url: '/v1/containers/web/start' })).statusCode).toBe(204);
    const list = (await app.inject({ method: 'GET', url: '/v1/containers' })).json() as Array<{ Id: string; State: string }>;
    expect(list.map((x) => [x.Id, x.State])).toEqual([[id, 'running']]);
    const ins = (await app.inject({ method: 'GET', url: `/v1/containers/${id.slice(0, 8)}/json` })).json() as { Name: string; State: { Running: boolean } };
    expect(ins).toMatchObject({ Name: '/web', State: { Running: true } });
    const del = await app.inject({ method: 'DELETE', url: '/v1/containers/web' });
    expect(del.statusCode).toBe(409);
    expect((await app.inject({ method: 'POST', url: '/v1/containers/web/kill?signal=BAD' })).statusCode).toBe(422);
    expect((await app.inject({ method: 'POST', url: '/v1/containers/web/stop?t=abc' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/v1/containers/web/stop?t=1' })).statusCode).toBe(204);
    const w = await app.inject({ method: 'POST', url: '/v1/containers/web/wait' });
    expect(w.json()).toEqual({ StatusCode: 143, OOMKilled: false });
    expect((await app.inject({ method: 'GET', url: '/v1/containers' })).json()).toEqual([]);
    expect(((await app.inject({ method: 'GET', url: '/v1/containers?all=1' })).json() as unknown[]).length).toBe(1);
    expect((await app.inject({ method: 'DELETE', url: '/v1/containers/web' })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/v1/containers/web/json' })).statusCode).toBe(404);
  });

  it('streams logs as NDJSON and exec frames then the exit code', async () => {
    const { Id } = (await app.inject({ method: 'POST', url: '/v1/containers', payload: { image: 'busybox' } })).json() as { Id: string };
    await app.inject({ method: 'POST', url: `/v1/containers/${Id}/start` });
    const logPath = manager.inspect(Id).LogPath;
    await writeFile(logPath, ['a', 'b', 'c'].map((l) => JSON.stringify({ log: `${l}\n`, stream: 'stdout', time: '2026-01-01T00:00:00Z' })).join('\n') + '\n');
    const logs = await app.inject({ method: 'GET', url: `/v1/containers/${Id}/logs?tail=2` });
    expect(logs.headers['content-type']).toContain('application/x-ndjson');
    expect(logs.body.trim().split('\n').map((l) => (JSON.parse(l) as { log: string }).log)).toEqual(['b\n', 'c\n']);
    driver.execExitCode = 3;
    const ex = await app.inject({ method: 'POST', url: `/v1/containers/${Id}/exec`, payload: { cmd: ['echo', 'hi'] } });
    const frames = ex.body.trim().split('\n').map((l) => JSON.parse(l) as { data?: string; exitCode?: number });
    expect(Buffer.from(frames[0]!.data!, 'base64').toString()).toBe('ran echo hi\n');
    expect(frames.at(-1)).toEqual({ exitCode: 3 });
    const bad = await app.inject({ method: 'POST', url: `/v1/containers/${Id}/exec`, payload: { cmd: [] } });
    expect(bad.statusCode).toBe(422);
    const stats = await app.inject({ method: 'GET', url: `/v1/containers/${Id}/stats?stream=0` });
    expect(stats.json()).toMatchObject({ id: Id, pids: 0, memoryBytes: 4096 });
  });

  it('serves a terminal container: frames in, NDJSON output out, then the exit code; resize; refusals', async () => {
    const bad = await app.inject({ method: 'POST', url: '/v1/containers', payload: { image: 'busybox', tty: 'yes', consoleSize: [24] } });
    expect(((bad.json() as { details: { causes: Array<{ field: string }> } }).details.causes.map((c) => c.field)).sort()).toEqual(['consoleSize', 'tty']);
    const { Id } = (await app.inject({ method: 'POST', url: '/v1/containers', payload: { image: 'busybox', tty: true, openStdin: true, consoleSize: [24, 80] } })).json() as { Id: string };
    expect(manager.inspect(Id)).toMatchObject({ Config: { Tty: true }, HostConfig: { ConsoleSize: [24, 80] } });
    expect((await app.inject({ method: 'POST', url: `/v1/containers/${Id}/resize?h=1&w=2` })).statusCode).toBe(409); // not running
    await app.inject({ method: 'POST', url: `/v1/containers/${Id}/start` });
    const body = Buffer.concat([encodeTerminalFrame({ type: 'input', data: Buffer.from('ls\r') }), encodeTerminalFrame({ type: 'resize', rows: 50, cols: 60 })]);
    const answer = app.inject({ method: 'POST', url: `/v1/containers/${Id}/attach`, payload: body, headers: { 'content-type': STREAM_CONTENT_TYPE } });
    while (driver.terminals.length === 0) await new Promise((r) => setTimeout(r, 5));
    const t = driver.terminals[0]!;
    t.output.end(Buffer.from('bin\r\n'));
    driver.exit(manager.inspect(Id).State.Pid, 3);
    const frames = (await answer).body.trim().split('\n').map((l) => JSON.parse(l) as { stream?: string; data?: string; exitCode?: number });
    expect(frames).toEqual([{ stream: 'stdout', data: Buffer.from('bin\r\n').toString('base64') }, { exitCode: 3 }]);
    expect(t.typed).toEqual([Buffer.from('ls\r')]);
    expect(t.sizes).toEqual([{ rows: 50, cols: 60 }]);
    const plain = (await app.inject({ method: 'POST', url: '/v1/containers', payload: { image: 'busybox' } })).json() as { Id: string };
    await app.inject({ method: 'POST', url: `/v1/containers/${plain.Id}/start` });
    expect((await app.inject({ method: 'POST', url: `/v1/containers/${plain.Id}/resize?h=1&w=2` })).statusCode).toBe(409);
    expect((await app.inject({ method: 'POST', url: `/v1/containers/${plain.Id}/resize?h=1` })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: `/v1/containers/${plain.Id}/resize?h=1&w=70000` })).statusCode).toBe(400);
    // exec with a terminal: the body is frames too, the spec says how big the terminal starts.
    const spec = encodeExecSpecParam({ cmd: ['sh'], tty: true, consoleSize: [7, 9] });
    const ex = await app.inject({ method: 'POST', url: `/v1/containers/${plain.Id}/exec?spec=${encodeURIComponent(spec)}`, payload: body, headers: { 'content-type': STREAM_CONTENT_TYPE } });
    expect(ex.statusCode).toBe(200);
    expect(driver.execs.at(-1)?.exec.tty?.size).toEqual({ rows: 7, cols: 9 });
  });
});
