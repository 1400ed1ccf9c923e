/**
 * Random requests to the controller API, for fuzzing: every route with any method, names and
 * namespaces that exist and that cannot, query strings (selectors, resourceVersion, booleans),
 * content types, and bodies: mutated manifests as JSON or YAML (creates, replaces), merge
 * patches, status and scale writes, random JSON, garbage, truncated text, deep nesting, bodies
 * over the limit. Streaming requests (a truthy `watch` or `follow`, an agent's tunnel) are
 * turned into plain ones: they answer only when the client goes. Shared by
 * pkg/controller/api/fuzz.test.ts and bench/fuzz.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import { mutatedManifest, nested, weirdValue, type Manifest } from './manifests.js';

export const API = '/apis/shoal/v1';

export interface FuzzRequest {
  /** Which generator made it (for the figures). */
  gen: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

/** Objects the fuzz run creates first, so that reads, writes and deletes also find something. */
export const SEED_OBJECTS: { url: string; body: unknown }[] = [
  {
    url: `${API}/namespaces/default/services`,
    body: { apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'web' }, spec: { replicas: 2, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } },
  },
  { url: `${API}/nodes`, body: { apiVersion: 'shoal/v1', kind: 'Node', metadata: { name: 'n1' }, spec: {}, status: { state: 'ready' } } },
  {
    url: `${API}/namespaces/default/tasks`,
    body: {
      apiVersion: 'shoal/v1', kind: 'Task', metadata: { name: 'web.1.abc' },
      spec: { serviceName: 'web', serviceGeneration: 1, slot: 1, nodeName: 'n1', desiredState: 'running', template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
      status: { state: 'assigned' },
    },
  },
];

const NAMESPACED = ['services', 'tasks'];

/** Route templates: `{ns}`, `{name}`, `{id}` are filled in. */
export const ROUTES: [string, string][] = (() => {
  const r: [string, string][] = [];
  const objectRoutes = (base: string): void => {
    r.push(['GET', base], ['POST', base]);
    for (const m of ['GET', 'PUT', 'PATCH', 'DELETE']) r.push([m, `${base}/{name}`]);
    for (const m of ['GET', 'PUT', 'PATCH']) r.push([m, `${base}/{name}/status`]);
  };
  for (const plural of NAMESPACED) {
    objectRoutes(`${API}/namespaces/{ns}/${plural}`);
    r.push(['GET', `${API}/${plural}`]);
  }
  objectRoutes(`${API}/nodes`);
  for (const m of ['GET', 'PUT', 'PATCH']) r.push([m, `${API}/namespaces/{ns}/services/{name}/scale`]);
  r.push(['POST', `${API}/nodes/{name}/heartbeat`], ['POST', `${API}/nodes/{name}/tunnel/{id}`]);
  r.push(['GET', `${API}/namespaces/{ns}/tasks/{name}/log`], ['GET', `${API}/namespaces/{ns}/services/{name}/log`], ['POST', `${API}/namespaces/{ns}/tasks/{name}/exec`]);
  r.push(['GET', '/healthz'], ['GET', '/readyz'], ['GET', '/version'], ['GET', '/metrics'], ['GET', `${API}/cluster/info`], ['GET', `${API}`], ['GET', '/']);
  return r;
})();

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

export const CONTENT_TYPES = [
  'application/json', 'application/merge-patch+json', 'application/yaml', 'application/x-yaml', 'text/yaml', 'application/json; charset=utf-8',
  'application/json; charset=latin1', 'APPLICATION/JSON', 'text/plain', 'application/octet-stream', 'application/vnd.shoal.stream', 'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded', 'application/strategic-merge-patch+json', 'application/json-patch+json', '', ';', 'application/', 'x'.repeat(300),
];

export const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('default', 'web', 'n1', 'web.1.abc', 'team-a', 'kube-system') },
  { weight: 2, arbitrary: fc.constantFrom('%2F', '%00', '..', '.', 'a%20b', 'X'.repeat(300), 'x'.repeat(600), '%E0%A4%A', '~', 'WEB', '-web', 'web-', 'a.b', 'a_b', '%C3%A9', '%25', '%F0%9F%90%9F') },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map(enc) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map(enc) },
);

export const queryValue = fc.oneof(
  fc.constantFrom('', '1', '0', 'true', 'maybe', '-1', 'abc', '99999999999999999999', '1e3', 'a', 'a=b', 'a==b', 'a!=b', 'a in (x,y)', 'a notin (x)', '!a', 'a,b', '(((', 'a in ()',
    'metadata.name=web', 'spec.nodeName=n1', 'status.state=running', 'spec.nodeName%3Dn1', 'x'.repeat(2000), '%zz', '%00', 'a%20in%20()', 'spec.serviceName=web,status.state!=failed'),
  fc.string({ maxLength: 30 }),
);
const queryKey = fc.oneof(
  fc.constantFrom('watch', 'follow', 'labelSelector', 'fieldSelector', 'resourceVersion', 'tailLines', 'sinceTime', 'timestamps', 'spec', 'dryRun', 'force', 'reveal', 'limit', 'watch[]', 'a[b]', '__proto__', ''),
  fc.string({ maxLength: 10 }),
);
/** `?k=v&...` (0 to 3 pairs, sometimes raw, sometimes encoded, sometimes repeated). */
const queryString = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 4, arbitrary: fc.array(fc.tuple(queryKey, queryValue, fc.boolean()), { minLength: 1, maxLength: 3 }).map((pairs) =>
    `?${pairs.map(([k, v, raw]) => (raw ? `${k}=${v}` : `${enc(k)}=${enc(v)}`)).join('&')}`) },
  { weight: 1, arbitrary: fc.constantFrom('?', '?&&&', '?=', '?%zz', '?a&a&a', '?resourceVersion=1&resourceVersion=2', '?labelSelector=a&labelSelector=b') },
);

/** encodeURIComponent that takes any string (a lone surrogate becomes U+FFFD instead of throwing). */
export function enc(s: string): string {
  return encodeURIComponent(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));
}

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);

/** A request that would stream until the client goes (a truthy `watch`, `follow`, ...) is made plain. */
export function streamless(url: string, keys: readonly string[] = ['watch', 'follow']): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(url.slice(q + 1));
  } catch {
    return url;
  }
  for (const k of keys) if (params.getAll(k).some((v) => TRUE.has(v))) return url.slice(0, q);
  return url;
}

function fill(path: string, ns: string, name: string, id: string): string {
  return path.replace('{ns}', ns).replace('{name}', name).replace('{id}', id);
}

/** A random JSON-ish body: JSON values, strings, garbage, known-bad snippets. */
export const anyBody = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom(
    'null', '[]', '"x"', '1', 'true', '{}', '{{{{', '\u0000', '{"a":1,"a":2}', '{"__proto__":{"x":1}}', 'a: *b', '- - - - - [', '!!binary xyz', '&a [*a, *a]',
    '---\na: 1\n---\nb: 2\n', '%YAML 1.2\n---\na: 1', 'a: !!js/function "x"', '{"metadata":{"name":{"toString":1}}}', '{"spec":{"replicas":1e308}}',
    '{"metadata":{"resourceVersion":99999999999999999999}}', '{"preconditions":{"resourceVersion":5}}', '{"status":null}', '{"spec":null,"metadata":null}',
    '{"spec":{"replicas":"7"}}', '{"cmd":[]}', '{"cmd":["sh"],"tty":1}', 'x'.repeat(100_000),
  ),
  fc.constantFrom(63, 65).map((d) => JSON.stringify(nested(d))),
  fc.constantFrom(200, 5000, 100_000).map((d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`),
  fc.constantFrom(63, 65, 5000).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`),
);

/** One body over the 3 MiB limit (made once: building it per case would dominate the run). */
const OVERSIZED = `{"metadata":{"name":"big"},"data":"${'x'.repeat(3 * 1024 * 1024 + 16)}"}`;

type Serialized = { payload: string; type: string };

/** JSON mostly; YAML; or text cut short. */
function serialize(v: unknown, how: number, cut: number): Serialized {
  const json = JSON.stringify(v) ?? 'null';
  if (how < 6) return { payload: json, type: 'application/json' };
  if (how < 8) {
    let y: string;
    try {
      y = stringify(v, { aliasDuplicateObjects: false });
    } catch {
      y = json;
    }
    return { payload: y, type: 'application/yaml' };
  }
  if (how < 9) return { payload: json.slice(0, cut % Math.max(1, json.length)), type: 'application/json' };
  return { payload: json, type: 'application/merge-patch+json' };
}

function pluralOf(kind: unknown): string {
  return kind === 'Node' ? 'nodes' : kind === 'Task' ? 'tasks' : 'services';
}

function objectBase(plural: string, ns: string): string {
  return plural === 'nodes' ? `${API}/nodes` : `${API}/namespaces/${ns}/${plural}`;
}

/** Creates and replaces with a mutated valid manifest. */
function manifestWrites(manifests: readonly Manifest[]) {
  return fc
    .tuple(mutatedManifest(manifests), fc.constantFrom('POST', 'POST', 'PUT', 'PUT', 'PUT-status'), fc.nat({ max: 9 }), fc.nat(), segment, fc.boolean())
    .map(([m, how, ser, cut, otherNs, keepNs]): FuzzRequest => {
      const v = m.value as Record<string, unknown> | null;
      const meta = (v && typeof v === 'object' ? v['metadata'] : undefined) as Record<string, unknown> | undefined;
      const ns = keepNs ? (typeof meta?.['namespace'] === 'string' ? enc(meta['namespace']) : 'default') : otherNs;
      const name = typeof meta?.['name'] === 'string' && meta['name'] !== '' ? enc(meta['name']) : 'web';
      const base = objectBase(pluralOf(v && typeof v === 'object' ? v['kind'] : undefined), ns);
      const s = serialize(m.value, ser, cut);
      const url = how === 'POST' ? base : how === 'PUT' ? `${base}/${name}` : `${base}/${name}/status`;
      return { gen: `manifest-${how.toLowerCase()}`, method: how === 'POST' ? 'POST' : 'PUT', url, headers: { 'content-type': s.type }, payload: s.payload };
    });
}

/** Merge patches of objects that exist: a part of a mutated manifest, or one field set to anything. */
function mergePatches(manifests: readonly Manifest[]) {
  const patchBody = fc.oneof(
    mutatedManifest(manifests).chain((m) => {
      const o = (m.value && typeof m.value === 'object' && !Array.isArray(m.value) ? m.value : { spec: m.value }) as Record<string, unknown>;
      return fc.subarray(Object.keys(o)).map((keys) => Object.fromEntries(keys.map((k) => [k, o[k]])));
    }),
    fc.tuple(fc.constantFrom('spec.replicas', 'spec.mode', 'metadata.labels', 'metadata.name', 'metadata.resourceVersion', 'spec.template', 'spec.template.spec.containers', 'status', 'status.state', 'spec.availability', 'spec.desiredState', 'spec.nodeName', 'spec.ports', 'spec.schedule', 'metadata.annotations', 'spec.placement.constraints'), weirdValue)
      .map(([path, value]) => path.split('.').reduceRight<unknown>((acc, k) => ({ [k]: acc }), value)),
    weirdValue,
  );
  return fc
    .tuple(fc.constantFrom('services', 'tasks', 'nodes'), segment, fc.constantFrom('', '/status', '/scale'), patchBody, fc.constantFrom('application/merge-patch+json', 'application/merge-patch+json', 'application/json', 'application/yaml', 'application/json-patch+json'))
    .map(([plural, name, sub, body, type]): FuzzRequest => {
      const url = `${objectBase(plural, 'default')}/${name}${plural === 'services' || sub !== '/scale' ? sub : ''}`;
      const payload = type === 'application/yaml' ? stringify(body) : (JSON.stringify(body) ?? 'null');
      return { gen: 'merge-patch', method: 'PATCH', url, headers: { 'content-type': type }, payload };
    });
}

/** Any route, sometimes with another method, any names, query, body and content type. */
const anyRoute = fc
  .tuple(fc.constantFrom(...ROUTES), fc.option(fc.constantFrom(...METHODS), { freq: 8 }), segment, segment, segment, queryString, anyBody, fc.constantFrom(...CONTENT_TYPES))
  .map(([[method, path], other, ns, name, id, q, body, type]): FuzzRequest => {
    const m = other ?? method;
    const headers: Record<string, string> = type === '' ? {} : { 'content-type': type };
    return { gen: 'route', method: m, url: fill(path, ns, name, id) + q, headers, ...(m === 'GET' || m === 'HEAD' ? {} : { payload: body }) };
  });

/** Paths that match no route, odd methods, headers and bodies over the limit. */
const garbage = fc.oneof(
  // Methods an HTTP parser lets through (it answers 400 to others before any server code runs).
  fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'PROPFIND', 'TRACE', 'PURGE', 'MKCOL', 'SEARCH'), fc.oneof(fc.string({ maxLength: 60 }), fc.webPath()), anyBody)
    .map(([method, p, body]): FuzzRequest => {
      const path = p.startsWith('/') ? p : `/${p}`;
      // What a request line can carry: anything else percent-encoded (a backslash too, which URL parsers take for a slash).
      return { gen: 'garbage', method, url: path.replace(/[^\x21-\x7e]|[\\#]/g, (ch) => enc(ch)), headers: { 'content-type': 'application/json' }, payload: body };
    }),
  fc.tuple(fc.constantFrom(`${API}/namespaces/default/services`, `${API}/nodes`, `${API}/namespaces/default/services/web`), fc.constantFrom('POST', 'PUT', 'PATCH'))
    .map(([url, method]): FuzzRequest => ({ gen: 'oversized', method, url, headers: { 'content-type': 'application/json' }, payload: OVERSIZED })),
  fc.tuple(fc.constantFrom(...ROUTES), fc.dictionary(fc.constantFrom('content-type', 'content-length', 'content-encoding', 'transfer-encoding', 'accept', 'authorization', 'x-shoal-tunnel-status', 'if-match'), fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('gzip', 'chunked', '-1', '0', '99999999999', 'application/json'))), anyBody)
    .map(([[method, path], headers, body]): FuzzRequest => ({ gen: 'headers', method, url: fill(path, 'default', 'web', 'x'), headers, ...(method === 'GET' ? {} : { payload: body }) })),
);

/** Every kind of request the fuzzer sends, weighted towards the ones that reach validation. */
export function controllerRequest(manifests: readonly Manifest[]): fc.Arbitrary<FuzzRequest> {
  return fc
    .oneof({ weight: 5, arbitrary: manifestWrites(manifests) }, { weight: 3, arbitrary: mergePatches(manifests) }, { weight: 4, arbitrary: anyRoute }, { weight: 1, arbitrary: garbage })
    .map((r) => ({ ...r, url: streamless(r.url) }));
}
