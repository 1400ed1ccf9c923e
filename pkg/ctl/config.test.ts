import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, resolveServer, saveConfig } from './config.js';

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'cfg-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('config', () => {
  it('flag, then env, then the current context', async () => {
    await saveConfig(home, { currentContext: 'b', contexts: [{ name: 'a', server: 'http://a:1' }, { name: 'b', server: 'http://b:2/' }] });
    expect(await resolveServer(undefined, {}, home)).toBe('http://b:2');
    expect(await resolveServer(undefined, { SHOAL_SERVER: 'http://env:3' }, home)).toBe('http://env:3');
    expect(await resolveServer('https://flag:4', { SHOAL_SERVER: 'http://env:3' }, home)).toBe('https://flag:4');
    await expect(resolveServer('ftp://x', {}, home)).rejects.toThrow(/use http/);
    await expect(resolveServer('not a url', {}, home)).rejects.toThrow(/invalid server URL/);
  });
  it('missing file and missing context', async () => {
    expect(await loadConfig(home)).toEqual({ contexts: [] });
    await expect(resolveServer(undefined, {}, home)).rejects.toThrow(/no controller given/);
  });
  it('rejects malformed files', async () => {
    await mkdir(join(home, '.shoal'));
    await writeFile(join(home, '.shoal', 'config'), 'contexts: [{name: a}]\n');
    await expect(loadConfig(home)).rejects.toThrow(/contexts\[0\] needs a name and a server/);
    await writeFile(join(home, '.shoal', 'config'), '[1, 2]\n');
    await expect(loadConfig(home)).rejects.toThrow(/must be a YAML mapping/);
  });
});
