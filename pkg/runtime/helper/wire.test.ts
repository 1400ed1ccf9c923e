import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { DEFAULT_DEVICE_RULES } from '../cgroups/devices.js';
import type { LaunchSpec } from './driver.js';
import { capabilityMask, encodeExecConfig, encodeStartConfig, parseHelperLine, resizeLine } from './wire.js';

const DOCKER_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

function spec(over: Partial<LaunchSpec> = {}): LaunchSpec {
  return {
    id: 'abc',
    stateDir: '/run/shoal/abc',
    logPath: '/var/lib/shoal/containers/abc/abc-json.log',
    logMaxBytes: 1000,
    logMaxFiles: 3,
    rootfs: { lowerDirs: ['/l2', '/l1'], upperDir: '/u', workDir: '/w' },
    hostname: 'abc',
    process: {
      args: ['sh', '-c', 'echo "a b"'],
      env: ['PATH=/bin', 'X=y=z'],
      cwd: '/',
      user: { uid: 1000, gid: 1000, additionalGids: [10, 20] },
      noNewPrivileges: true,
      capabilities: DOCKER_CAPS,
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: -1 }],
      openStdin: false,
    },
    mounts: [{ source: '/data', destination: '/mnt/data', readOnly: true }],
    etcFiles: { hosts: '/run/shoal/abc/hosts' },
    network: 'none',
    cgroupProcsFiles: ['/sys/fs/cgroup/memory/x/cgroup.procs'],
    seccomp: 'default',
    init: false,
    maskedPaths: ['/proc/kcore'],
    readonlyPaths: ['/proc/sys'],
    ...over,
  };
}

/** Decodes a frame the way the C helper does. */
function decode(frame: Buffer): Array<[string, string]> {
  const nl = frame.indexOf(10);
  const len = Number(frame.subarray(0, nl).toString());
  const body = frame.subarray(nl + 1);
  expect(body.length).toBe(len);
  const parts = body.toString('utf8').split('\0');
  expect(parts.pop()).toBe('');
  const out: Array<[string, string]> = [];
  for (let i = 0; i < parts.length; i += 2) out.push([parts[i] ?? '', parts[i + 1] ?? '']);
  return out;
}

describe('wire', () => {
  it("maps Docker's default capabilities to mask 0xa80425fb", () => {
    expect(capabilityMask(DOCKER_CAPS).toString(16)).toBe('a80425fb');
    expect(capabilityMask(['chown', 'CAP_SYS_ADMIN'])).toBe((1n << 21n) | 1n);
    expect(() => capabilityMask(['CAP_BOGUS'])).toThrow(/unknown capability/);
  });

  it('encodes the start config as framed key/value strings, lists repeated in order', () => {
    const kv = decode(encodeStartConfig(spec()));
    const get = (k: string) => kv.filter(([key]) => key === k).map(([, v]) => v);
    expect(get('lower')).toEqual(['/l2', '/l1']);
    expect(get('arg')).toEqual(['sh', '-c', 'echo "a b"']);
    expect(get('env')).toEqual(['PATH=/bin', 'X=y=z']);
    expect(get('gids')).toEqual(['10', '20']);
    expect(get('cap').map(Number).reduce((m, n) => m | (1n << BigInt(n)), 0n).toString(16)).toBe('a80425fb');
    expect(get('rlimit')).toEqual(['7 1024 -1']);
    expect(get('bind')).toEqual(['r/data']);
    expect(get('bind_dst')).toEqual(['/mnt/data']);
    expect(get('etc_hosts')).toEqual(['/run/shoal/abc/hosts']);
    expect(get('network')).toEqual(['none']);
    expect(get('seccomp')).toEqual(['default']);
    expect(get('nnp')).toEqual(['1']);
    expect(get('mask')).toEqual(['/proc/kcore']);
    expect(get('ro_path')).toEqual(['/proc/sys']);
    // bind_dst directly follows its bind
    const i = kv.findIndex(([k]) => k === 'bind');
    expect(kv[i + 1]?.[0]).toBe('bind_dst');
  });

  it('frames by bytes, not characters', () => {
    const frame = encodeStartConfig(spec({ hostname: 'hôst-ü' }));
    expect(decode(frame).find(([k]) => k === 'hostname')?.[1]).toBe('hôst-ü');
  });

  it('refuses what the helper could not represent or run', () => {
    const bad = (s: LaunchSpec) => {
      try {
        encodeStartConfig(s);
      } catch (e) {
        return isShoalError(e, 'InvalidArgument');
      }
      return false;
    };
    expect(bad(spec({ hostname: 'a\0b' }))).toBe(true);
    expect(bad(spec({ rootfs: { lowerDirs: [], upperDir: '/u', workDir: '/w' } }))).toBe(true);
    expect(bad(spec({ rootfs: { lowerDirs: ['/a:b'], upperDir: '/u', workDir: '/w' } }))).toBe(true);
    expect(bad(spec({ process: { ...spec().process, args: [] } }))).toBe(true);
    expect(bad(spec({ process: { ...spec().process, cwd: 'relative' } }))).toBe(true);
    expect(bad(spec({ process: { ...spec().process, user: { uid: -1, gid: 0, additionalGids: [] } } }))).toBe(true);
    expect(bad(spec({ process: { ...spec().process, rlimits: [{ type: 'RLIMIT_NOPE', soft: 1, hard: 1 }] } }))).toBe(true);
    expect(bad(spec({ process: { ...spec().process, rlimits: [{ type: 'nofile', soft: 1.5, hard: 1 }] } }))).toBe(true);
    expect(bad(spec({ mounts: [{ source: '/a', destination: 'rel', readOnly: false }] }))).toBe(true);
  });

  it('encodes the exec config with the container security settings and the exec process', () => {
    const kv = decode(encodeExecConfig(spec(), { pid: 4242, pidStartTime: '987654' }, { args: ['id'], env: [], cwd: '/tmp', user: { uid: 0, gid: 0, additionalGids: [] } }));
    expect(kv).toContainEqual(['pid', '4242']);
    expect(kv).toContainEqual(['pid_start', '987654']); // the helper refuses the pid unless it still started then
    expect(kv).toContainEqual(['arg', 'id']);
    expect(kv).toContainEqual(['cwd', '/tmp']);
    expect(kv).toContainEqual(['cgroup', '/sys/fs/cgroup/memory/x/cgroup.procs']);
    expect(kv.filter(([k]) => k === 'cap')).toHaveLength(14);
    expect(kv.some(([k]) => k === 'lower')).toBe(false);
    expect(kv.some(([k]) => k === 'device')).toBe(false); // the container's cgroup already holds them
    const user = { uid: 0, gid: 0, additionalGids: [] };
    expect(() => encodeExecConfig(spec(), { pid: 0, pidStartTime: '1' }, { args: ['id'], env: [], cwd: '/', user })).toThrow();
    for (const pidStartTime of ['', '12x', ' 12', '-1']) {
      expect(() => encodeExecConfig(spec(), { pid: 7, pidStartTime }, { args: ['id'], env: [], cwd: '/', user })).toThrow(/invalid start time/);
    }
  });

  it("sends the device rules with the start config: Docker's by default, the spec's when it has its own", () => {
    const rules = (s: LaunchSpec) => decode(encodeStartConfig(s)).filter(([k]) => k === 'device').map(([, v]) => v);
    expect(rules(spec())).toEqual([...DEFAULT_DEVICE_RULES]);
    expect(rules(spec())).toContain('c 136:* rwm');
    expect(rules(spec({ deviceRules: ['c 1:3 rwm', 'c 10:200 rw'] }))).toEqual(['c 1:3 rwm', 'c 10:200 rw']);
  });

  it('parses the helper messages', () => {
    expect(parseHelperLine('created 12')).toEqual({ type: 'created', pid: 12 });
    expect(parseHelperLine('started 12 3456 11')).toEqual({ type: 'started', pid: 12, pidStartTime: '3456', monitorPid: 11 });
    expect(parseHelperLine('error InvalidArgument exec: "x": executable file not found in $PATH')).toEqual({
      type: 'error',
      code: 'InvalidArgument',
      message: 'exec: "x": executable file not found in $PATH',
    });
    expect(parseHelperLine('error Bogus something')).toMatchObject({ type: 'error', code: 'Internal', message: 'Bogus something' });
    expect(parseHelperLine('hello')).toMatchObject({ type: 'error', code: 'Internal' });
    expect(parseHelperLine('created x')).toMatchObject({ type: 'error', code: 'Internal' });
  });

  it('asks for a terminal only when there is one (the config of other containers does not change)', () => {
    const keys = (kv: Array<[string, string]>) => kv.filter(([k]) => k === 'tty' || k === 'console_size');
    expect(keys(decode(encodeStartConfig(spec())))).toEqual([]);
    const tty = spec();
    tty.process = { ...tty.process, terminal: true, consoleSize: { rows: 24, cols: 80 } };
    expect(keys(decode(encodeStartConfig(tty)))).toEqual([['tty', '1'], ['console_size', '24 80']]);
    tty.process = { ...tty.process, consoleSize: { rows: 0, cols: 0 } };
    expect(keys(decode(encodeStartConfig(tty)))).toEqual([['tty', '1']]);
    const user = { uid: 0, gid: 0, additionalGids: [] };
    expect(keys(decode(encodeExecConfig(spec(), { pid: 7, pidStartTime: '70' }, { args: ['sh'], env: [], cwd: '/', user, tty: { size: { rows: 3, cols: 4 } } })))).toEqual([['tty', '1'], ['console_size', '3 4']]);
    expect(() => encodeExecConfig(spec(), { pid: 7, pidStartTime: '70' }, { args: ['sh'], env: [], cwd: '/', user, tty: { size: { rows: 1e6, cols: 4 } } })).toThrow(/invalid console size/);
    expect(resizeLine({ rows: 40, cols: 132 })).toBe('resize 40 132\n');
  });
});
