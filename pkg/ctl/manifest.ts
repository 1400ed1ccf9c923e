/**
 * Manifest loading for `apply -f` / `delete -f`: a file, a directory (its *.yaml, *.yml and
 * *.json files, sorted, not recursive) or `-` (stdin). YAML files may hold several documents;
 * `kind: List` (or any `...List`) is flattened into its items. Empty documents are skipped.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseAllDocuments } from 'yaml';
import { errors } from '../api/index.js';

export interface ManifestDoc {
  /** Where it came from: `file.yaml#2` (1-based document index). */
  source: string;
  object: Record<string, unknown>;
}

const EXTS = new Set(['.yaml', '.yml', '.json']);

async function readStdin(stdin: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses the documents of one text (YAML is a superset of JSON). */
export function parseManifests(text: string, source: string): ManifestDoc[] {
  const out: ManifestDoc[] = [];
  const docs = parseAllDocuments(text, { schema: 'core', uniqueKeys: true, prettyErrors: false });
  if (!Array.isArray(docs)) throw errors.invalidArgument(`${source}: not valid YAML`);
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `${source}#${i + 1}` : source;
    const err = doc.errors[0];
    if (err) throw errors.invalidArgument(`${where}: not valid YAML or JSON: ${err.message.split('\n')[0]}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) throw errors.invalidArgument(`${where}: a manifest must be an object with apiVersion, kind, metadata and spec`);
    const obj = value as Record<string, unknown>;
    if (typeof obj['kind'] === 'string' && obj['kind'].endsWith('List') && Array.isArray(obj['items'])) {
      (obj['items'] as unknown[]).forEach((item, j) => {
        if (item === null || typeof item !== 'object' || Array.isArray(item)) throw errors.invalidArgument(`${where}: items[${j}] is not an object`);
        out.push({ source: `${where} items[${j}]`, object: item as Record<string, unknown> });
      });
      return;
    }
    out.push({ source: where, object: obj });
  });
  return out;
}

/** Loads every manifest from FILE, DIR or `-`. */
export async function loadManifests(spec: string, opts: { cwd: string; stdin: Readable }): Promise<ManifestDoc[]> {
  if (spec === '-') return parseManifests(await readStdin(opts.stdin), '<stdin>');
  const path = resolve(opts.cwd, spec);
  let st;
  try {
    st = await stat(path);
  } catch {
    throw errors.notFound(`${spec}: no such file or directory`);
  }
  if (st.isDirectory()) {
    const names = (await readdir(path)).filter((n) => EXTS.has(extname(n))).sort();
    const out: ManifestDoc[] = [];
    for (const n of names) out.push(...parseManifests(await readFile(join(path, n), 'utf8'), join(spec, n)));
    return out;
  }
  return parseManifests(await readFile(path, 'utf8'), spec);
}
