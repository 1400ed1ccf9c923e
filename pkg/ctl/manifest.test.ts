import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadManifests, parseManifests } from './manifest.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'manifest-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('manifests', () => {
  it('splits multi-document YAML, skips empty documents, flattens lists', () => {
    const docs = parseManifests('kind: Service\nmetadata: {name: a}\n---\n---\n{"kind": "ServiceList", "items": [{"kind": "Service"}, {"kind": "Node"}]}\n', 'x.yaml');
    expect(docs.map((d) => d.source)).toEqual(['x.yaml#1', 'x.yaml#3 items[0]', 'x.yaml#3 items[1]']);
  });
  it('rejects non-objects and bad YAML with the source', () => {
    expect(() => parseManifests('- a\n- b\n', 'l.yaml')).toThrow(/l\.yaml: a manifest must be an object/);
    expect(() => parseManifests('a: [\n', 'b.yaml')).toThrow(/b\.yaml: not valid YAML/);
    expect(() => parseManifests('a: 1\na: 2\n', 'd.yaml')).toThrow(/d\.yaml/);
  });
  it('loads files, directories (sorted, yaml/yml/json only) and stdin', async () => {
    await writeFile(join(dir, 'b.yml'), 'kind: Service\nmetadata: {name: b}\n');
    await writeFile(join(dir, 'a.json'), '{"kind":"Service","metadata":{"name":"a"}}');
    await writeFile(join(dir, 'c.txt'), 'ignored');
    const docs = await loadManifests('.', { cwd: dir, stdin: Readable.from([]) });
    expect(docs.map((d) => (d.object['metadata'] as { name: string }).name)).toEqual(['a', 'b']);
    const one = await loadManifests(join(dir, 'b.yml'), { cwd: '/', stdin: Readable.from([]) });
    expect(one).toHaveLength(1);
    const stdin = await loadManifests('-', { cwd: dir, stdin: Readable.from(['kind: Node\n', 'metadata: {name: n}\n']) });
    expect(stdin[0]?.source).toBe('<stdin>');
    await expect(loadManifests('missing.yaml', { cwd: dir, stdin: Readable.from([]) })).rejects.toThrow(/no such file/);
  });
});
