import { describe, expect, it } from 'vitest';
import { isShoalError, type ImageRuntimeConfig } from '../../api/index.js';
import { DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './defaults.js';
import { mergeConfig } from './merge.js';
import {
  buildContainerSpec, buildLaunchSpec, cgroupLimits, checkCreateOptions, createWarnings, networkPeer, networkRequest, parseBinds,
  type SpecInput,
} from './spec.js';
import type { CreateOptions, ResolvedImage } from './types.js';
import type { ResolvedUser } from './user.js';

const ID = '0123456789ab'.padEnd(64, 'c');
const DIR = `/data/containers/${ID}`;
const image = (config: ImageRuntimeConfig = { Cmd: ['sh'], Env: ['PATH=/bin', 'A=1'] }): ResolvedImage => ({
  id: 'sha256:' + 'aa'.repeat(32),
  ref: 'docker.io/library/busybox:latest',
  config,
  lowerDirs: ['/snap/2/fs', '/snap/1/fs'],
});
const root: ResolvedUser = { uid: 0, gid: 0, additionalGids: [], home: '/root' };

function input(opts: Partial<CreateOptions> = {}, img = image(), user = root): SpecInput {
  const o: CreateOptions = { image: 'busybox', ...opts };
  return { id: ID, name: 'web', created: '2026-12-01T10:00:00.000Z', dir: DIR, opts: o, image: img, merged: mergeConfig(img.config, o), user, mounts: parseBinds(o.binds ?? []) };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isShoalError(err) ? err.code : 'not a ShoalError';
  }
  return undefined;
}

describe('parseBinds', () => {
  it('parses bind mounts', () => {
    expect(parseBinds(['/a:/b', '/c/:/d:ro'])).toEqual([
      { Type: 'bind', Source: '/a', Destination: '/b', Mode: '', RW: true },
      { Type: 'bind', Source: '/c/', Destination: '/d', Mode: 'ro', RW: false },
    ]);
    expect(() => parseBinds(['/a:/b:xx'])).toThrow(/unknown mode/);
    expect(() => parseBinds(['/a:/'])).toThrow(/destination/);
  });
});

describe('checkCreateOptions and createWarnings', () => {
  it('refuses a bad name, a network request without bridge networking, and bad binds', () => {
    expect(codeOf(() => checkCreateOptions({ image: 'x', name: '-bad' }, true))).toBe('Invalid');
    expect(codeOf(() => checkCreateOptions({ image: 'x', name: '/ok' }, true))).toBeUndefined();
    for (const req of [{ ports: ['80'] }, { network: 'front' }, { networkAliases: ['a'] }]) {
      expect(codeOf(() => checkCreateOptions({ image: 'x', ...req }, false))).toBe('FailedPrecondition');
      expect(codeOf(() => checkCreateOptions({ image: 'x', ...req }, true))).toBeUndefined();
      expect(codeOf(() => checkCreateOptions({ image: 'x', networkMode: 'host', ...req }, false))).toBeUndefined();
    }
    expect(codeOf(() => checkCreateOptions({ image: 'x', binds: ['rel:/x'] }, true))).toBe('Invalid');
    expect(checkCreateOptions({ image: 'x', binds: ['/a:/b:ro'] }, true).mounts).toEqual(parseBinds(['/a:/b:ro']));
  });
  it('warns about an explicit bridge without bridge networking and ignored ports', () => {
    expect(createWarnings({ image: 'x' }, false)).toEqual([]);
    expect(createWarnings({ image: 'x', networkMode: 'bridge' }, false)).toEqual([expect.stringMatching(/bridge networking is not enabled/)]);
    expect(createWarnings({ image: 'x', networkMode: 'bridge' }, true)).toEqual([]);
    expect(createWarnings({ image: 'x', networkMode: 'none', ports: ['80'] }, true)).toEqual([expect.stringMatching(/ignored in network mode none/)]);
  });
});

describe('buildContainerSpec', () => {
  it('fills Docker defaults from the image and the request', () => {
    const s = buildContainerSpec(input({ env: ['B=2'] }));
    expect(s).toEqual({
      Id: ID,
      Name: '/web',
      Created: '2026-12-01T10:00:00.000Z',
      Image: image().id,
      ImageRef: image().ref,
      Config: {
        Hostname: '0123456789ab',
        User: '',
        Env: ['PATH=/bin', 'A=1', 'B=2', 'HOSTNAME=0123456789ab', 'HOME=/root'],
        Cmd: ['sh'],
        Entrypoint: [],
        WorkingDir: '/',
        Image: image().ref,
        Labels: {},
        StopSignal: 'SIGTERM',
        StopTimeout: 10,
        OpenStdin: false,
      },
      HostConfig: { Memory: 0, NanoCpus: 0, CpuShares: 0, PidsLimit: 0, Binds: [], NetworkMode: 'bridge', Init: false, AutoRemove: false },
      Mounts: [],
      LowerDirs: ['/snap/2/fs', '/snap/1/fs'],
      ProcessUser: { uid: 0, gid: 0, additionalGids: [] },
      Path: 'sh',
      Args: [],
      LogPath: `${DIR}/${ID}-json.log`,
    });
  });
  it('keeps the request: hostname, env over HOSTNAME/HOME, limits, stdin, network of bridge mode only', () => {
    const s = buildContainerSpec(
      input(
        {
          hostname: 'h', env: ['HOME=/mine'], entrypoint: ['/e'], cmd: ['a', 'b'], stopTimeout: -1, openStdin: true, stdinOnce: true,
          memory: 1, nanoCpus: 2, cpuShares: 3, pidsLimit: 4, binds: ['/a:/b'], network: 'front', ports: ['80'], networkAliases: ['x'],
          init: true, autoRemove: true,
        },
        image(),
        { uid: 33, gid: 33, additionalGids: [29], home: '' },
      ),
    );
    expect(s.Config).toMatchObject({ Hostname: 'h', StopTimeout: -1, OpenStdin: true, StdinOnce: true, Entrypoint: ['/e'], Cmd: ['a', 'b'] });
    expect(s.Config.Env).toEqual(['PATH=/bin', 'A=1', 'HOME=/mine', 'HOSTNAME=h']);
    expect([s.Path, ...s.Args]).toEqual(['/e', 'a', 'b']);
    expect(s.HostConfig).toEqual({
      Memory: 1, NanoCpus: 2, CpuShares: 3, PidsLimit: 4, Binds: ['/a:/b'], NetworkMode: 'bridge', Network: 'front', PortBindings: ['80'],
      NetworkAliases: ['x'], Init: true, AutoRemove: true,
    });
    expect(s.Mounts).toEqual(parseBinds(['/a:/b']));
    expect(s.ProcessUser).toEqual({ uid: 33, gid: 33, additionalGids: [29] });
    expect(buildContainerSpec(input({ openStdin: false, stdinOnce: true })).Config.StdinOnce).toBeUndefined();
    expect(buildContainerSpec(input({ hostname: 'h', env: [] }, image(), { ...root, home: '' })).Config.Env).toContain('HOME=/');
    const host = buildContainerSpec(input({ networkMode: 'host', network: 'front', ports: ['80'], networkAliases: ['x'] })).HostConfig;
    expect(host).toEqual(expect.objectContaining({ NetworkMode: 'host' }));
    expect(host).not.toHaveProperty('Network');
    expect(host).not.toHaveProperty('PortBindings');
    expect(host).not.toHaveProperty('NetworkAliases');
  });
});

describe('cgroupLimits, network request and peer', () => {
  it('leaves zero out and turns --cpus into a quota per 100 ms', () => {
    expect(cgroupLimits(buildContainerSpec(input()))).toEqual({});
    expect(cgroupLimits(buildContainerSpec(input({ memory: 64 << 20, nanoCpus: 500_000_000, cpuShares: 512, pidsLimit: 50 })))).toEqual({
      memoryBytes: 64 << 20, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, cpuShares: 512, pidsLimit: 50,
    });
  });
  it('asks the network for what the host config holds', () => {
    const s = buildContainerSpec(input({ network: 'front', ports: ['8080:80'], networkAliases: ['w'] }));
    expect(networkRequest(s)).toEqual({ network: 'front', ports: ['8080:80'], aliases: ['w'] });
    expect(networkRequest(buildContainerSpec(input()))).toEqual({});
    expect(networkPeer(s)).toEqual({ id: ID, name: 'web', networkMode: 'bridge' });
  });
});

describe('buildLaunchSpec', () => {
  const ctx = { dataDir: DIR, stateDir: `/run/containers/${ID}`, logMaxBytes: 100, logMaxFiles: 2, seccomp: 'default' as const, cgroupProcsFiles: ['/cg/cgroup.procs'] };
  it('launches the spec with Docker security defaults', () => {
    const s = buildContainerSpec(input({ binds: ['/a:/b:ro'], init: true, openStdin: true }));
    expect(buildLaunchSpec(s, ctx)).toEqual({
      id: ID,
      stateDir: `/run/containers/${ID}`,
      logPath: `${DIR}/${ID}-json.log`,
      logMaxBytes: 100,
      logMaxFiles: 2,
      rootfs: { lowerDirs: ['/snap/2/fs', '/snap/1/fs'], upperDir: `${DIR}/rootfs/upper`, workDir: `${DIR}/rootfs/work` },
      hostname: '0123456789ab',
      process: {
        args: ['sh'],
        env: s.Config.Env,
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [] },
        noNewPrivileges: true,
        capabilities: DEFAULT_CAPABILITIES,
        rlimits: [],
        openStdin: true,
      },
      mounts: [{ source: '/a', destination: '/b', readOnly: true }],
      etcFiles: { hosts: `${DIR}/hosts`, hostname: `${DIR}/hostname`, resolvConf: `${DIR}/resolv.conf` },
      network: 'new',
      oomScoreAdj: 0,
      cgroupProcsFiles: ['/cg/cgroup.procs'],
      seccomp: 'default',
      init: true,
      maskedPaths: DEFAULT_MASKED_PATHS,
      readonlyPaths: DEFAULT_READONLY_PATHS,
    });
  });
  it('maps the network mode', () => {
    expect(buildLaunchSpec(buildContainerSpec(input({ networkMode: 'host' })), ctx).network).toBe('host');
    expect(buildLaunchSpec(buildContainerSpec(input({ networkMode: 'none' })), ctx).network).toBe('none');
  });
});
