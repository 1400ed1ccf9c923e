import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ZERO_TIME } from './defaults.js';
import { readRecords } from './records.js';
import { restoreVerdict } from './restore.js';
import type { ContainerSpec, ContainerState } from './types.js';

const ID = 'ab'.repeat(32);
const spec = { Id: ID, Name: '/c' } as ContainerSpec;
const state = (Status: ContainerState['Status']): ContainerState => ({
  Status, Pid: 0, MonitorPid: 0, PidStartTime: '', ExitCode: 0, OOMKilled: false, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME, RestartCount: 0,
});

describe('restoreVerdict', () => {
  it('discards what is half-made or half-removed, even when another record of it is damaged', () => {
    expect(restoreVerdict(undefined, state('running'))).toBe('discard');
    expect(restoreVerdict(spec, undefined)).toBe('discard');
    expect(restoreVerdict(spec, state('creating'))).toBe('discard');
    expect(restoreVerdict(spec, state('removing'))).toBe('discard');
    expect(restoreVerdict(undefined, state('creating'), true)).toBe('discard');
  });
  it('skips a container with a damaged record instead of deleting it', () => {
    expect(restoreVerdict(undefined, state('running'), true)).toBe('skip');
    expect(restoreVerdict(spec, undefined, true)).toBe('skip');
    expect(restoreVerdict(undefined, undefined, true)).toBe('skip');
  });
  it('keeps stopped containers and watches live ones', () => {
    expect(restoreVerdict(spec, state('created'))).toBe('stopped');
    expect(restoreVerdict(spec, state('exited'))).toBe('stopped');
    expect(restoreVerdict(spec, state('running'))).toBe('live');
    expect(restoreVerdict(spec, state('paused'))).toBe('live');
  });
});

describe('readRecords', () => {
  let dir: string;
  const goodSpec = { Id: ID, Name: '/c', Created: ZERO_TIME, Image: 'sha256:x', Config: { Labels: {}, Env: [] }, HostConfig: {}, LowerDirs: [], LogPath: '/l' };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'records-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const put = (file: string, text: string) => writeFile(join(dir, file), text);

  it('reads whole records, and missing ones as undefined', async () => {
    expect(await readRecords(dir, ID)).toEqual({ spec: undefined, state: undefined, damaged: [] });
    await put('config.json', JSON.stringify(goodSpec));
    await put('state.json', JSON.stringify(state('running')));
    const r = await readRecords(dir, ID);
    expect(r.damaged).toEqual([]);
    expect(r.spec?.Id).toBe(ID);
    expect(r.state?.Status).toBe('running');
  });

  it('names each damaged file: truncated, empty, not an object, wrong shape, another container', async () => {
    const cases: [string, string, RegExp][] = [
      ['state.json', JSON.stringify(state('running')).slice(0, 40), /state\.json is not valid JSON/],
      ['state.json', '', /state\.json is not valid JSON/],
      ['state.json', 'null', /state\.json does not hold a container state/],
      ['state.json', JSON.stringify({ ...state('running'), Pid: '12' }), /state\.json does not hold a container state: bad or missing Pid/],
      ['state.json', JSON.stringify({ ...state('running'), Status: 'zombie' }), /state\.json holds no known container status/],
      ['config.json', '{"Id":', /config\.json is not valid JSON/],
      ['config.json', JSON.stringify({ ...goodSpec, Config: { Labels: {} } }), /config\.json does not hold a container config: bad or missing Config\.Env/],
      ['config.json', JSON.stringify({ ...goodSpec, Id: 'cd'.repeat(32) }), /config\.json holds the config of container cdcd/],
    ];
    for (const [file, text, want] of cases) {
      await put('config.json', JSON.stringify(goodSpec));
      await put('state.json', JSON.stringify(state('exited')));
      await put(file, text);
      const r = await readRecords(dir, ID);
      expect(r.damaged.map((e) => e.message)).toEqual([expect.stringMatching(want)]);
      expect(r.damaged[0]!.message).toContain(join(dir, file));
      expect(file === 'state.json' ? r.state : r.spec).toBeUndefined();
    }
  });

  it('takes a half-made state with only its Status', async () => {
    await put('state.json', '{"Status":"creating"}');
    expect((await readRecords(dir, ID)).state?.Status).toBe('creating');
  });
});
