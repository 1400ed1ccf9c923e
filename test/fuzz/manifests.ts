/**
 * Manifests for fuzzing: the valid examples (pkg/api/testdata/valid/*.yaml, manifests/*.yaml,
 * plus a Node and a Task) and a fast-check arbitrary that mutates one of them: a field
 * deleted, replaced by a value of another type or an edge value, an unknown field added, an
 * array element duplicated or emptied, a number or string pushed to its edges. Shared by the
 * unit fuzz tests and bench/fuzz.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';

/** The repository root: the nearest directory up from here that holds the examples (also from a bundle). */
function repoRoot(): string {
  for (let d = import.meta.dirname; ; d = dirname(d)) {
    if (existsSync(join(d, 'pkg/api/testdata/valid'))) return d;
    if (dirname(d) === d) throw new Error(`no pkg/api/testdata/valid above ${import.meta.dirname}`);
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface Manifest {
  /** Where it came from (a file, or `builtin:<kind>`). */
  source: string;
  value: { [k: string]: Json };
}

const NODE: Manifest['value'] = {
  apiVersion: 'shoal/v1',
  kind: 'Node',
  metadata: { name: 'n1', labels: { zone: 'a' } },
  spec: { availability: 'active', labels: { zone: 'a' } },
  status: { state: 'ready', addresses: [{ type: 'InternalIP', address: '10.0.0.1' }], capacity: { cpu: '2', memory: '4Gi', pods: '110' } },
};

const TASK: Manifest['value'] = {
  apiVersion: 'shoal/v1',
  kind: 'Task',
  metadata: { name: 'web.1.abc', labels: { 'shoal.io/service': 'web' } },
  spec: {
    serviceName: 'web', serviceGeneration: 1, slot: 1, nodeName: 'n1', desiredState: 'running',
    template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } },
  },
  status: { state: 'assigned', message: 'assigned to n1' },
};

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));
}

/** Every valid example, once. REGISTRY (replaced by `make up`) becomes a registry host. */
export function loadManifests(): Manifest[] {
  const REPO = repoRoot();
  const out: Manifest[] = [];
  for (const file of [...yamlFiles(join(REPO, 'pkg/api/testdata/valid')), ...yamlFiles(join(REPO, 'manifests'))]) {
    const text = readFileSync(file, 'utf8').replaceAll('REGISTRY/', 'registry.local:5000/');
    out.push({ source: file.slice(REPO.length + 1), value: parse(text) as Manifest['value'] });
  }
  out.push({ source: 'builtin:Node', value: NODE }, { source: 'builtin:Task', value: TASK });
  return out;
}

/** Strings that break naive validators: empty, blank, long, odd characters, numbers, durations. */
export const edgeString = fc.constantFrom(
  '', ' ', '\t', 'a'.repeat(64), 'a'.repeat(254), 'x'.repeat(70_000), 'UPPER', '-x', 'x-', 'a..b', 'a/b', '../../etc/passwd', '\u0000', 'é', '☃',
  '\ud800', '0', '-1', '1e400', 'Infinity', 'NaN', '10s', '-5s', '1h1h', '0.5', '100Mi', '1.5Gi', '-1Gi', '9999999999999999999Ei', 'true', 'null',
  '__proto__', 'constructor', 'toString', 'node.labels.zone==', '==a', 'a!=', '* * * * *', '61 * * * *', '@every', 'tcp', 'TCP', 'udp', 'sha256:zz',
  'busybox@sha256:', 'Registry:5000/x', 'host:99999/x', 'a:b:c', 'x'.repeat(300) + ':1',
);

/** Numbers at the edges of what fields accept. */
export const edgeNumber = fc.constantFrom(0, -1, 1, 1.5, -0, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 53 + 2, -(2 ** 53), 1e308, 5e-324, 65535, 65536, 100_000, 1_000_001);

/** `{"a":{"a":...}}` `depth` levels deep (64 is the body limit: a little under and over it). */
export function nested(depth: number, leaf: Json = 1): Json {
  let v: Json = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? { a: v } : [v];
  return v;
}

/** Any value a field should not hold. */
export const weirdValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, [], {}, [null], [[]], { '': 1 }, JSON.parse('{"__proto__":{"polluted":true}}') as Json, { constructor: { prototype: { x: 1 } } }),
  edgeString,
  edgeNumber,
  fc.constantFrom(60, 66).map((d) => nested(d)),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  fc.array(edgeString, { maxLength: 4 }),
  fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), edgeString), fc.oneof(edgeString, edgeNumber), { maxKeys: 4 }),
);

/** The paths of every value in `v` (objects' keys, arrays' indexes), the root first. */
export function pathsOf(v: Json, max = 400): (string | number)[][] {
  const out: (string | number)[][] = [];
  const stack: [(string | number)[], Json][] = [[[], v]];
  while (stack.length > 0 && out.length < max) {
    const [p, cur] = stack.pop()!;
    out.push(p);
    if (Array.isArray(cur)) cur.forEach((c, i) => stack.push([[...p, i], c]));
    else if (cur !== null && typeof cur === 'object') for (const [k, c] of Object.entries(cur)) stack.push([[...p, k], c]);
  }
  return out;
}

export type MutationOp = 'delete' | 'replace' | 'add' | 'duplicate' | 'empty' | 'retype' | 'edge';

export interface Mutation {
  /** Index into pathsOf (modulo its length). */
  at: number;
  op: MutationOp;
  value: Json;
  key: string;
}

export const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom<MutationOp>('delete', 'replace', 'add', 'duplicate', 'empty', 'retype', 'edge', 'replace', 'delete'),
  value: weirdValue,
  key: fc.oneof(fc.constantFrom('unknownField', 'apiVersion', 'kind', 'name', 'replicas', 'status', 'spec', 'image', 'x'.repeat(300), ''), fc.string({ maxLength: 12 })),
});

function retype(v: Json): Json {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return Number.isNaN(Number(v)) ? [v] : Number(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length > 0 ? (v[0] ?? null) : {};
  if (v !== null && typeof v === 'object') return Object.values(v);
  return 0;
}

function edge(v: Json, m: Mutation): Json {
  if (typeof v === 'number') return typeof m.value === 'number' ? m.value : -v - 1;
  if (typeof v === 'string') return typeof m.value === 'string' ? m.value : `${v}${v}`.toUpperCase();
  return m.value;
}

/** Applies `m` to `root` (mutated in place); the root itself is only replaced by `replace`. */
export function applyMutation(root: Json, m: Mutation): Json {
  const paths = pathsOf(root);
  const path = paths[m.at % paths.length]!;
  if (path.length === 0) return m.op === 'replace' ? m.value : root;
  let parent = root as Record<string | number, Json>;
  for (const seg of path.slice(0, -1)) parent = parent[seg] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  const cur = parent[last] as Json;
  const isArr = Array.isArray(parent);
  switch (m.op) {
    case 'delete':
      if (isArr) (parent as unknown as Json[]).splice(last as number, 1);
      else delete parent[last];
      break;
    case 'replace':
      parent[last] = m.value;
      break;
    case 'add':
      if (Array.isArray(cur)) cur.push(m.value);
      else if (cur !== null && typeof cur === 'object') cur[m.key] = m.value;
      else if (!isArr) parent[m.key] = m.value;
      break;
    case 'duplicate':
      if (Array.isArray(cur) && cur.length > 0) cur.push(structuredClone(cur[0]!));
      else if (isArr) (parent as unknown as Json[]).push(structuredClone(cur));
      break;
    case 'empty':
      parent[last] = Array.isArray(cur) ? [] : cur !== null && typeof cur === 'object' ? {} : '';
      break;
    case 'retype':
      parent[last] = retype(cur);
      break;
    case 'edge':
      parent[last] = edge(cur, m);
      break;
  }
  return root;
}

/** A valid example with 1 to 4 mutations applied, and which example it was. */
export function mutatedManifest(manifests: readonly Manifest[]): fc.Arbitrary<{ source: string; value: Json }> {
  return fc.tuple(fc.nat({ max: manifests.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([i, ms]) => {
    const m = manifests[i]!;
    let v: Json = structuredClone(m.value);
    // Values are cloned: constants of the arbitraries are shared between cases.
    for (const mu of ms) v = applyMutation(v, { ...mu, value: structuredClone(mu.value) });
    return { source: m.source, value: v };
  });
}
