import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError, ShoalError, type TerminalSize } from '../../api/index.js';
import { FakeCgroupManager } from '../cgroups/index.js';
import { FakeDriver } from './fake-driver.js';
import { ContainerManager } from './manager.js';

let tmp: string;
let driver: FakeDriver;
let m: ContainerManager;

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cm-tty-'));
  const lower = join(tmp, 'lower');
  await mkdir(join(lower, 'etc'), { recursive: true });
  await writeFile(join(lower, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(tmp, 'resolv.conf'), 'nameserver 10.0.0.1\n');
  driver = new FakeDriver();
  m = await ContainerManager.create({
    dataDir: join(tmp, 'data'),
    runDir: join(tmp, 'run'),
    driver,
    cgroups: new FakeCgroupManager(),
    kill: driver.kill,
    hostResolvConf: join(tmp, 'resolv.conf'),
    images: { resolveForRun: (ref) => Promise.resolve({ id: 'sha256:' + 'aa'.repeat(64), ref, config: { Cmd: ['sh'] }, lowerDirs: [lower] }) },
  });
});

afterEach(async () => {
  await m.close();
  await rm(tmp, { recursive: true, force: true });
});

const pidOf = (name: string): number => m.inspect(name).State.Pid;

describe('terminal containers', () => {
  it('start on a terminal of the given size and can be attached to before they start', async () => {
    await m.create({ image: 'img', name: 'tt', tty: true, openStdin: true, consoleSize: [30, 100] });
    expect(m.inspect('tt').Config.Tty).toBe(true);
    const pending = m.attachTerminal('tt');
    await m.start('tt');
    const { terminal, exit } = await pending;
    const [t] = driver.terminals;
    expect(t).toBeDefined();
    expect(driver.procs.get(pidOf('tt'))?.spec.process).toMatchObject({ terminal: true, consoleSize: { rows: 30, cols: 100 } });
    terminal.write(Buffer.from('ls\r'));
    terminal.resize({ rows: 40, cols: 120 });
    expect(t?.typed).toEqual([Buffer.from('ls\r')]);
    expect(t?.sizes).toEqual([{ rows: 40, cols: 120 }]);
    driver.exit(pidOf('tt'), 3);
    expect(await exit).toEqual({ StatusCode: 3, OOMKilled: false });
  });

  it('a client that leaves before the start is withdrawn; a failed start fails the waiting ones', async () => {
    await m.create({ image: 'img', name: 'ww', tty: true });
    const ac = new AbortController();
    const gone = m.attachTerminal('ww', ac.signal);
    ac.abort();
    await expect(gone).rejects.toSatisfy((e) => isShoalError(e, 'Canceled'));
    const waiting = m.attachTerminal('ww').catch((err: unknown) => err);
    driver.failNextStart = new ShoalError('InvalidArgument', 'exec: "sh": executable file not found in $PATH');
    await expect(m.start('ww')).rejects.toThrow(/executable file not found/);
    expect(await waiting).toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/executable file not found/) });
    expect(driver.terminals).toEqual([]);
    // Removed while a client waits for its start: the client is told.
    const orphan = m.attachTerminal('ww').catch((err: unknown) => err);
    await m.remove('ww');
    expect(await orphan).toMatchObject({ code: 'NotFound' });
  });

  it('a running one is attached at once; others are refused before any answer', async () => {
    await m.create({ image: 'img', name: 'rr', tty: true });
    await m.create({ image: 'img', name: 'plain' });
    await m.start('rr');
    const { exit } = await m.attachTerminal('rr');
    await m.resizeTerminal('rr', { rows: 5, cols: 6 });
    expect(driver.terminals.map((t) => t.sizes)).toEqual([[], [{ rows: 5, cols: 6 }]]);
    expect(() => m.attachTerminal('plain')).toThrow(/has no terminal/);
    driver.exit(pidOf('rr'), 0);
    expect((await exit).StatusCode).toBe(0);
    expect(() => m.attachTerminal('rr')).toThrow(/is not running/);
    await expect(m.resizeTerminal('rr', { rows: 1, cols: 1 })).rejects.toSatisfy((e) => isShoalError(e, 'FailedPrecondition'));
  });

  it('exec passes its terminal (size and resizes) to the driver', async () => {
    await m.create({ image: 'img', name: 'ee' });
    await m.start('ee');
    const resizes = new EventEmitter<{ resize: [TerminalSize] }>();
    await m.exec('ee', { cmd: ['sh'], stdout: new PassThrough(), stderr: new PassThrough(), tty: { size: { rows: 2, cols: 3 }, resizes } });
    expect(driver.execs[0]?.exec.tty).toEqual({ size: { rows: 2, cols: 3 }, resizes });
  });
});
