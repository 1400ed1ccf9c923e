import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { ImageStore, type ImageRecord } from './store.js';

const d = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
// A tiny stand-in for parseReference: enough to exercise familiar lookups.
const normalize = (r: string): string => {
  if (/\s|[A-Z]/.test(r)) throw new Error('invalid');
  const withTag = /:[^/]+$/.test(r) || r.includes('@') ? r : `${r}:latest`;
  return withTag.includes('/') ? withTag : `docker.io/library/${withTag}`;
};

function record(name: string, addedAt = '2024-01-01T00:00:00Z'): ImageRecord {
  return {
    id: d(`config-${name}`),
    manifestDigest: d(`manifest-${name}`),
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d(`config-${name}`), size: 10 },
    layers: [],
    diffIds: [],
    chainIds: [],
    platform: { os: 'linux', architecture: 'amd64' },
    size: 10,
    addedAt,
  };
}

describe('ImageStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-images-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves by full ref, familiar ref, id, id prefix and manifest digest; survives a reopen', async () => {
    const s = await ImageStore.open(dir, { normalize });
    const a = record('a');
    await s.put(a, 'busybox');
    expect(s.resolve('docker.io/library/busybox:latest').record.id).toBe(a.id);
    expect(s.resolve('busybox').record.id).toBe(a.id);
    expect(s.resolve('busybox:latest').refs).toEqual(['docker.io/library/busybox:latest']);
    expect(s.resolve(a.id).record.manifestDigest).toBe(a.manifestDigest);
    expect(s.resolve(a.id.slice(7, 19)).record.id).toBe(a.id);
    expect(s.resolve(a.manifestDigest).record.id).toBe(a.id);
    const s2 = await ImageStore.open(dir, { normalize });
    expect(s2.resolve('busybox').record).toEqual(a);
    const refs = JSON.parse(await readFile(join(dir, 'refs.json'), 'utf8'));
    expect(refs).toEqual({ version: 1, refs: { 'docker.io/library/busybox:latest': a.manifestDigest } });
  });

  it('answers NotFound for unknown images and prefixes shorter than 4', async () => {
    const s = await ImageStore.open(dir, { normalize });
    await s.put(record('a'), 'x');
    for (const q of ['nope', 'sha256:' + 'f'.repeat(64), record('a').id.slice(7, 10), 'Bad Ref']) {
      try {
        s.resolve(q);
        expect.unreachable(q);
      } catch (err) {
        expect(isShoalError(err, 'NotFound')).toBe(true);
      }
    }
  });

  it('tags, untags and deletes records with their refs', async () => {
    const s = await ImageStore.open(dir, { normalize });
    const a = record('a');
    await s.put(a, 'one');
    await s.tag('one', 'registry:5000/team/two:1.0');
    expect(s.refsOf(a.manifestDigest)).toEqual(['docker.io/library/one:latest', 'registry:5000/team/two:1.0']);
    await expect(s.tag('missing', 'x')).rejects.toMatchObject({ code: 'NotFound' });
    expect(await s.untag(['docker.io/library/one:latest', 'nothing'])).toEqual(['docker.io/library/one:latest']);
    expect(s.list().map((e) => e.refs)).toEqual([['registry:5000/team/two:1.0']]);
    await s.deleteRecord(a.manifestDigest);
    expect(s.list()).toEqual([]);
    expect(await readdir(join(dir, 'records'))).toEqual([]);
  });

  it('drops leftovers of a crash on open and ignores refs to missing records', async () => {
    const s = await ImageStore.open(dir, { normalize });
    await s.put(record('a'), 'a');
    // The temp file writeFileAtomic leaves when the agent dies between write and rename.
    await writeFile(join(dir, 'records', '.x.json.0123456789ab.tmp'), '{');
    await writeFile(join(dir, 'records', `${'e'.repeat(64)}.json`), '{not json');
    const s2 = await ImageStore.open(dir, { normalize });
    expect(s2.list()).toHaveLength(1);
    expect((await readdir(join(dir, 'records'))).length).toBe(1);
  });

  it('calls an ambiguous id prefix an InvalidArgument', async () => {
    const s = await ImageStore.open(dir, { normalize });
    // Find two names whose config digests share the first 4 hex characters.
    const seen = new Map<string, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const p = record(String(i)).id.slice(7, 11);
      const other = seen.get(p);
      if (other !== undefined) pair = [other, String(i)];
      else seen.set(p, String(i));
    }
    await s.put(record(pair[0]), 'p0');
    await s.put(record(pair[1]), 'p1');
    expect(() => s.resolve(record(pair[0]).id.slice(7, 11))).toThrow(/ambiguous/);
  });
});
