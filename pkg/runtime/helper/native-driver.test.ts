/**
 * NativeDriver without root: the start protocol against a scripted stand-in for shoal-runtime,
 * and waitExit/readExit/attachStdin against state dirs written by the test.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError, type TerminalSize } from '../../api/index.js';
import { UNKNOWN_EXIT_CODE, type LaunchSpec } from './driver.js';
import { defaultBinaryPath, findPackageRoot, NativeDriver } from './native-driver.js';

const spec: LaunchSpec = {
  id: 'c1',
  stateDir: '/nonexistent',
  logPath: '/nonexistent/log',
  logMaxBytes: 0,
  logMaxFiles: 1,
  rootfs: { lowerDirs: ['/l'], upperDir: '/u', workDir: '/w' },
  hostname: 'c1',
  process: {
    args: ['true'],
    env: [],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    noNewPrivileges: true,
    capabilities: [],
    rlimits: [],
    openStdin: false,
  },
  mounts: [],
  etcFiles: {},
  network: 'none',
  cgroupProcsFiles: [],
  seccomp: 'default',
  init: false,
  maskedPaths: [],
  readonlyPaths: [],
};

describe('NativeDriver', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-nd-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A stand-in helper: reads the framed config from fd 3, then plays `script` (bash). */
  async function fakeHelper(script: string): Promise<string> {
    const path = join(dir, 'fake-runtime');
    await writeFile(
      path,
      `#!/bin/bash\nread -r len <&3\nhead -c "$len" <&3 >"${dir}/config.bin"\n${script}\n`,
    );
    await chmod(path, 0o755);
    return path;
  }

  it('finds the package root and complains clearly when the binary is missing', async () => {
    expect(findPackageRoot()).toMatch(/\S/);
    const d = new NativeDriver({ binaryPath: join(dir, 'missing') });
    await expect(d.start(spec)).rejects.toSatisfy((e) => isShoalError(e, 'FailedPrecondition'));
  });

  it('runs onCreated between created and go, and resolves on started', async () => {
    const bin = await fakeHelper('echo "created 4242" >&3\nread -r go <&3\n[ "$go" = go ] || exit 1\necho "started 4242 777 4241" >&3');
    const seen: number[] = [];
    const d = new NativeDriver({ binaryPath: bin });
    const st = await d.start(spec, { onCreated: async (pid) => void seen.push(pid) });
    expect(seen).toEqual([4242]);
    expect(st).toEqual({ pid: 4242, pidStartTime: '777', monitorPid: 4241 });
  });

  it('turns helper errors into ShoalErrors with the helper message', async () => {
    const bin = await fakeHelper('echo "created 5" >&3\nread -r go <&3\necho "error InvalidArgument exec: \\"nope\\": executable file not found in \\$PATH" >&3');
    const d = new NativeDriver({ binaryPath: bin });
    const err: unknown = await d.start(spec).catch((e: unknown) => e);
    expect(isShoalError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toContain('executable file not found');
  });

  it('aborts the start when onCreated rejects: the helper sees its channel close', async () => {
    const bin = await fakeHelper(`echo "created 6" >&3\nif read -r go <&3; then echo got >"${dir}/got"; else echo eof >"${dir}/eof"; fi`);
    const d = new NativeDriver({ binaryPath: bin });
    await expect(d.start(spec, { onCreated: () => Promise.reject(new Error('veth failed')) })).rejects.toThrow(/veth failed/);
    for (let i = 0; i < 100; i++) {
      if (existsSync(join(dir, 'eof')) || existsSync(join(dir, 'got'))) break;
      await sleep(20);
    }
    expect(existsSync(join(dir, 'eof'))).toBe(true);
  });

  it('reports a helper that dies without an answer, with its stderr', async () => {
    const bin = await fakeHelper('echo "boom on stderr" >&2\nexit 1');
    const d = new NativeDriver({ binaryPath: bin });
    await expect(d.start(spec)).rejects.toSatisfy((e) => isShoalError(e, 'Internal') && /boom on stderr/.test((e as Error).message));
  });

  it('cancels a start that has not been committed', async () => {
    const bin = await fakeHelper('sleep 5');
    const d = new NativeDriver({ binaryPath: bin });
    const ac = new AbortController();
    const p = d.start(spec, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toSatisfy((e) => isShoalError(e, 'Canceled'));
  });

  // The real helper, no root needed: the monitor's set-up fails before it clones anything.
  it.skipIf(!existsSync(defaultBinaryPath()))('the real monitor reports a set-up failure as an error line, with what failed', async () => {
    const state = join(dir, 'state');
    await mkdir(state);
    const d = new NativeDriver();
    const err: unknown = await d.start({ ...spec, stateDir: state, logPath: join(dir, 'no-such-dir', 'log') }).catch((e: unknown) => e);
    expect(isShoalError(err, 'Internal')).toBe(true);
    expect((err as Error).message).toMatch(/open log .*no-such-dir\/log: No such file or directory/);
  });

  it('waitExit sees an exit.json written later (as the monitor of an earlier agent would)', async () => {
    const state = join(dir, 'state');
    await mkdir(state);
    await writeFile(join(state, 'pid.json'), JSON.stringify({ pid: process.pid, pidStartTime: '', monitorPid: process.pid, monitorStartTime: '' }));
    const d = new NativeDriver({ pollIntervalMs: 1000 });
    expect(await d.readExit(state)).toBeUndefined();
    const t0 = Date.now();
    const waiting = d.waitExit(state);
    await sleep(50);
    await writeFile(join(state, 'exit.json.tmp'), '{"exitCode":3,"finishedAt":"t"}');
    await rename(join(state, 'exit.json.tmp'), join(state, 'exit.json'));
    expect(await waiting).toEqual({ exitCode: 3, finishedAt: 't' });
    expect(Date.now() - t0).toBeLessThan(900); // woken by the file event, not the 1 s poll
    expect(await d.readExit(state)).toEqual({ exitCode: 3, finishedAt: 't' });
  });

  it('waitExit records an unknown exit when monitor and container are both gone', async () => {
    const state = join(dir, 'state');
    await mkdir(state);
    await writeFile(join(state, 'pid.json'), JSON.stringify({ pid: 2 ** 22 + 1, pidStartTime: '1', monitorPid: 2 ** 22 + 2, monitorStartTime: '1' }));
    const d = new NativeDriver({ pollIntervalMs: 20, now: () => new Date('2026-11-22T07:00:00Z') });
    const st = await d.waitExit(state, AbortSignal.timeout(5000));
    expect(st).toEqual({ exitCode: UNKNOWN_EXIT_CODE, finishedAt: '2026-11-22T07:00:00.000Z' });
    expect(await d.readExit(state)).toEqual(st);
  });

  it('waitExit: NotFound without a state dir, Canceled on abort', async () => {
    const d = new NativeDriver({ pollIntervalMs: 20 });
    await expect(d.waitExit(join(dir, 'nope'))).rejects.toSatisfy((e) => isShoalError(e, 'NotFound'));
    const state = join(dir, 'state');
    await mkdir(state);
    await expect(d.waitExit(state, AbortSignal.timeout(50))).rejects.toSatisfy((e) => isShoalError(e, 'Canceled'));
  });

  it('attachStdin: FailedPrecondition without a stdin FIFO', async () => {
    const d = new NativeDriver();
    await expect(d.attachStdin(dir)).rejects.toSatisfy((e) => isShoalError(e, 'FailedPrecondition'));
  });

  it('a tty exec sends window sizes down fd 3 after the config, also one that came before it', async () => {
    const bin = await fakeHelper('read -r line <&3; echo "$line"');
    const d = new NativeDriver({ binaryPath: bin });
    const resizes = new EventEmitter<{ resize: [TerminalSize] }>();
    const out = new PassThrough();
    let text = '';
    out.on('data', (b: Buffer) => (text += b.toString()));
    // With a score to set, the config goes out only after an await: the resize comes first.
    const oomScoreAdj = Number((await readFile('/proc/self/oom_score_adj', 'utf8')).trim());
    const running = d.exec({ ...spec, oomScoreAdj }, { pid: 42, pidStartTime: '4200' }, { args: ['sh'], env: [], cwd: '/', user: spec.process.user, stdout: out, stderr: new PassThrough(), tty: { size: { rows: 2, cols: 3 }, resizes } });
    resizes.emit('resize', { rows: 5, cols: 6 });
    expect(await running).toEqual({ exitCode: 0 });
    expect(text).toBe('resize 5 6\n');
    const config = await readFile(join(dir, 'config.bin'), 'utf8');
    expect(config).toContain('tty\u00001\u0000console_size\u00002 3\u0000');
  });

  it('isRunning compares the start time', async () => {
    const d = new NativeDriver();
    expect(await d.isRunning(process.pid, '')).toBe(true);
    expect(await d.isRunning(process.pid, 'not-a-start-time')).toBe(false);
  });
});
