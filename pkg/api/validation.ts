/**
 * Validation of API objects with Kubernetes-style field paths. Every validator walks the whole
 * object and returns **every** problem at once as FieldCause[] (empty = valid); the API turns a
 * non-empty list into one 422 `Invalid` error. Input is `unknown` (a parsed request body), so
 * every field is type-checked before use. Paths use `a.b[0].c` and `metadata.labels[key]`.
 */
import { errors, type FieldCause, type ShoalError } from './errors.js';
import { isQuantity, parseQuantity } from './quantity.js';
import { isDuration } from './duration.js';
import { API_VERSION, TASK_STATES } from './types.js';
import { CONSTRAINT_ATTRIBUTES, parseConstraint } from './constraints.js';
import { isIP, parseCidr } from './cidr.js';

export const REASON = {
  required: 'FieldValueRequired',
  invalid: 'FieldValueInvalid',
  notSupported: 'FieldValueNotSupported',
  duplicate: 'FieldValueDuplicate',
  tooLong: 'FieldValueTooLong',
  forbidden: 'FieldValueForbidden',
  notFound: 'FieldValueNotFound',
} as const;

/** Upper bound on `spec.replicas`: far above any real cluster, low enough to stop typos (1e9). */
export const MAX_REPLICAS = 10_000;

type Obj = Record<string, unknown>;

/** Collects causes while walking an object. */
class Causes {
  readonly list: FieldCause[] = [];
  add(field: string, reason: string, message: string): void {
    this.list.push({ field, reason, message });
  }
  required(field: string, what = 'a value'): void {
    this.add(field, REASON.required, `${what} is required`);
  }
  invalid(field: string, value: unknown, why: string): void {
    this.add(field, REASON.invalid, `invalid value ${show(value)}: ${why}`);
  }
  notSupported(field: string, value: unknown, supported: readonly string[]): void {
    this.add(field, REASON.notSupported, `unsupported value ${show(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}`);
  }
  unknownField(field: string): void {
    this.add(field, REASON.notSupported, 'unknown field');
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? v.slice(0, 77) + '...' : v);
  if (v === undefined) return 'undefined';
  try {
    const s = JSON.stringify(v);
    return s.length > 80 ? s.slice(0, 77) + '...' : s;
  } catch {
    return String(v);
  }
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s);
}

/** Label and annotation keys: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63. */
export function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return `prefix "${prefix}" must be a DNS-1123 subdomain`;
  if (name.length === 0) return 'name part must not be empty';
  if (name.length > 63) return 'name part must be at most 63 characters';
  if (!QUALIFIED_NAME.test(name)) return 'name part must consist of alphanumerics, "-", "_" or "." and start and end with an alphanumeric';
  return undefined;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::\d{1,5})?$|^\[[0-9a-fA-F:]+\](?::\d{1,5})?$/;

/** Why an image reference is malformed (Docker's grammar, checked lightly), or undefined. */
export function imageReferenceProblem(ref: string): string | undefined {
  if (ref === '') return 'must not be empty';
  if (ref.length > 255) return 'must be at most 255 characters';
  if (/\s/.test(ref)) return 'must not contain whitespace';
  let rest = ref;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) return `invalid digest "${rest.slice(at + 1)}"`;
    rest = rest.slice(0, at);
  }
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    const tag = rest.slice(colon + 1);
    if (!TAG.test(tag)) return `invalid tag "${tag}"`;
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || /[A-Z]/.test(first))) {
    if (!DOMAIN.test(first)) return `invalid registry host "${first}"`;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => p === '')) return 'repository must not be empty';
  for (const p of parts) {
    if (/[A-Z]/.test(p)) return `repository "${parts.join('/')}" must be lowercase`;
    if (!PATH_COMPONENT.test(p)) return `invalid repository component "${p}"`;
  }
  return undefined;
}

// ---- cron ---------------------------------------------------------------------------------

const CRON_FIELDS: { name: string; min: number; max: number; names?: string[] }[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];
const CRON_MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

/** Why a 5-field cron expression is invalid, or undefined. */
export function cronProblem(expr: string): string | undefined {
  const e = expr.trim();
  if (CRON_MACROS.has(e)) return undefined;
  const fields = e.split(/\s+/);
  if (fields.length !== 5) return `want 5 fields (minute hour day-of-month month day-of-week), got ${e === '' ? 0 : fields.length}`;
  for (let i = 0; i < 5; i++) {
    const spec = CRON_FIELDS[i];
    const f = fields[i];
    if (!spec || f === undefined) continue;
    const num = (t: string): number | undefined => {
      if (/^\d+$/.test(t)) return Number(t);
      const idx = spec.names?.indexOf(t.toLowerCase()) ?? -1;
      return idx >= 0 ? idx + spec.min : undefined;
    };
    for (const item of f.split(',')) {
      const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(item);
      if (!m) return `${spec.name} field "${f}" is malformed`;
      if (m[2] !== undefined && Number(m[2]) === 0) return `${spec.name} field "${f}" has a zero step`;
      if (m[1] === '*') continue;
      const [a, b] = (m[1] ?? '').split('-');
      const lo = num(a ?? '');
      const hi = b === undefined ? lo : num(b);
      if (lo === undefined || hi === undefined) return `${spec.name} field "${f}" is malformed`;
      if (lo < spec.min || hi > spec.max || lo > hi) return `${spec.name} field "${f}" is out of range ${spec.min}-${spec.max}`;
    }
  }
  return undefined;
}

function isCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}

// ---- field helpers ------------------------------------------------------------------------

function checkKeys(c: Causes, obj: Obj, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) c.unknownField(path === '' ? k : `${path}.${k}`);
}

function optString(c: Causes, obj: Obj, key: string, path: string, max = 1024): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    c.invalid(path, v, 'must be a string');
    return undefined;
  }
  if (v.length > max) {
    c.add(path, REASON.tooLong, `must be at most ${max} characters`);
    return undefined;
  }
  return v;
}

function optInt(c: Causes, obj: Obj, key: string, path: string, min: number, max: number): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    c.invalid(path, v, 'must be an integer');
    return undefined;
  }
  if (v < min || v > max) {
    c.invalid(path, v, `must be between ${min} and ${max}`);
    return undefined;
  }
  return v;
}

function optEnum(c: Causes, obj: Obj, key: string, path: string, values: readonly string[]): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !values.includes(v)) {
    c.notSupported(path, v, values);
    return undefined;
  }
  return v;
}

function optDuration(c: Causes, obj: Obj, key: string, path: string): void {
  const v = obj[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'string' || !isDuration(v)) c.invalid(path, v, 'must be a duration such as 5s, 100ms or 1m30s');
}

function optObj(c: Causes, obj: Obj, key: string, path: string): Obj | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) {
    c.invalid(path, v, 'must be an object');
    return undefined;
  }
  return v;
}

function optArray(c: Causes, obj: Obj, key: string, path: string): unknown[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    c.invalid(path, v, 'must be a list');
    return undefined;
  }
  return v;
}

function stringList(c: Causes, obj: Obj, key: string, path: string): void {
  const arr = optArray(c, obj, key, path);
  arr?.forEach((v, i) => {
    if (typeof v !== 'string') c.invalid(`${path}[${i}]`, v, 'must be a string');
  });
}

function labelMap(c: Causes, obj: Obj, key: string, path: string, kind: 'labels' | 'annotations'): void {
  const m = optObj(c, obj, key, path);
  if (!m) return;
  let total = 0;
  for (const [k, v] of Object.entries(m)) {
    const p = `${path}[${k}]`;
    const keyProblem = qualifiedNameProblem(k);
    if (keyProblem) c.invalid(p, k, `key ${keyProblem}`);
    if (typeof v !== 'string') {
      c.invalid(p, v, 'must be a string');
      continue;
    }
    total += k.length + v.length;
    if (kind === 'labels') {
      if (v.length > 63) c.add(p, REASON.tooLong, 'label values must be at most 63 characters');
      else if (!LABEL_VALUE.test(v)) c.invalid(p, v, 'label values must consist of alphanumerics, "-", "_" or "." and start and end with an alphanumeric');
    }
  }
  if (kind === 'annotations' && total > 256 * 1024) c.add(path, REASON.tooLong, 'annotations must total at most 256 KiB');
}

function checkTime(c: Causes, obj: Obj, key: string, path: string): void {
  const v = obj[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'string' || !ISO_TIME.test(v) || Number.isNaN(Date.parse(v))) c.invalid(path, v, 'must be an RFC 3339 time');
}

export interface MetaOptions {
  /** DNS-1123 label (≤ 63, no dots) or subdomain (≤ 253, dots allowed). */
  name: 'label' | 'subdomain';
  namespaced: boolean;
}

function validateObjectMeta(c: Causes, meta: unknown, opts: MetaOptions, path = 'metadata'): void {
  if (meta === undefined || meta === null) {
    c.required(path, 'metadata');
    c.required(`${path}.name`, 'name');
    return;
  }
  if (!isObj(meta)) return c.invalid(path, meta, 'must be an object');
  checkKeys(c, meta, path, [
    'name', 'namespace', 'uid', 'resourceVersion', 'generation', 'labels', 'annotations', 'creationTimestamp', 'deletionTimestamp',
  ]);
  const name = meta['name'];
  if (name === undefined || name === null || name === '') c.required(`${path}.name`, 'name');
  else if (typeof name !== 'string') c.invalid(`${path}.name`, name, 'must be a string');
  else if (opts.name === 'label' && !isDnsLabel(name)) {
    c.invalid(`${path}.name`, name, 'must be a DNS-1123 label: at most 63 lowercase alphanumerics or "-", starting and ending with an alphanumeric');
  } else if (opts.name === 'subdomain' && !isDnsSubdomain(name)) {
    c.invalid(`${path}.name`, name, 'must be a DNS-1123 subdomain: at most 253 lowercase alphanumerics, "-" or ".", starting and ending with an alphanumeric');
  }
  const ns = meta['namespace'];
  if (ns !== undefined && ns !== null) {
    if (!opts.namespaced) c.add(`${path}.namespace`, REASON.forbidden, 'not allowed on a cluster-scoped object');
    else if (typeof ns !== 'string' || !isDnsLabel(ns)) c.invalid(`${path}.namespace`, ns, 'must be a DNS-1123 label');
  }
  optString(c, meta, 'uid', `${path}.uid`, 128);
  const rv = meta['resourceVersion'];
  if (rv !== undefined && rv !== null && (typeof rv !== 'string' || !/^\d*$/.test(rv))) {
    c.invalid(`${path}.resourceVersion`, rv, 'must be a string of digits');
  }
  optInt(c, meta, 'generation', `${path}.generation`, 0, Number.MAX_SAFE_INTEGER);
  labelMap(c, meta, 'labels', `${path}.labels`, 'labels');
  labelMap(c, meta, 'annotations', `${path}.annotations`, 'annotations');
  checkTime(c, meta, 'creationTimestamp', `${path}.creationTimestamp`);
  checkTime(c, meta, 'deletionTimestamp', `${path}.deletionTimestamp`);
}

function checkTypeMeta(c: Causes, obj: Obj, kind: string): void {
  const av = obj['apiVersion'];
  if (av === undefined || av === null || av === '') c.required('apiVersion', 'apiVersion');
  else if (av !== API_VERSION) c.notSupported('apiVersion', av, [API_VERSION]);
  const k = obj['kind'];
  if (k === undefined || k === null || k === '') c.required('kind', 'kind');
  else if (k !== kind) c.notSupported('kind', k, [kind]);
}

// ---- containers ---------------------------------------------------------------------------

const CONTAINER_KEYS = [
  'name', 'image', 'command', 'args', 'workingDir', 'env', 'ports', 'resources', 'volumeMounts',
  'livenessProbe', 'readinessProbe', 'user', 'init', 'stopSignal', 'stopGracePeriodSeconds', 'imagePullPolicy',
] as const;
const PROTOCOLS = ['TCP', 'UDP'] as const;

function validateResources(c: Causes, res: Obj, path: string): void {
  checkKeys(c, res, path, ['requests', 'limits', 'pids']);
  const amounts: Record<string, Record<string, number>> = {};
  for (const kind of ['requests', 'limits'] as const) {
    const m = optObj(c, res, kind, `${path}.${kind}`);
    if (!m) continue;
    amounts[kind] = {};
    for (const [k, v] of Object.entries(m)) {
      const p = `${path}.${kind}.${k}`;
      if (k !== 'cpu' && k !== 'memory') {
        c.notSupported(p, k, ['cpu', 'memory']);
        continue;
      }
      const text = typeof v === 'number' ? String(v) : v;
      if (typeof text !== 'string' || !isQuantity(text)) {
        c.invalid(p, v, k === 'cpu' ? 'must be a CPU quantity such as 500m or 2' : 'must be a memory quantity such as 64Mi or 1G');
        continue;
      }
      const n = parseQuantity(text);
      if (k === 'memory' && n > 0 && n < 4 * 1024 * 1024 && kind === 'limits') c.invalid(p, v, 'a memory limit must be at least 4Mi');
      amounts[kind][k] = n;
    }
  }
  for (const k of ['cpu', 'memory']) {
    const req = amounts['requests']?.[k];
    const lim = amounts['limits']?.[k];
    if (req !== undefined && lim !== undefined && req > lim) c.invalid(`${path}.requests.${k}`, req, `must be less than or equal to the ${k} limit`);
  }
  optInt(c, res, 'pids', `${path}.pids`, 1, 4_194_304);
}

function validateContainer(c: Causes, ct: unknown, path: string, volumeNames: Set<string> | undefined): string | undefined {
  if (!isObj(ct)) {
    c.invalid(path, ct, 'must be an object');
    return undefined;
  }
  checkKeys(c, ct, path, CONTAINER_KEYS);
  const name = ct['name'];
  let okName: string | undefined;
  if (name === undefined || name === null || name === '') c.required(`${path}.name`, 'name');
  else if (typeof name !== 'string' || !isDnsLabel(name)) c.invalid(`${path}.name`, name, 'must be a DNS-1123 label');
  else okName = name;
  const image = ct['image'];
  if (image === undefined || image === null || image === '') c.required(`${path}.image`, 'image');
  else if (typeof image !== 'string') c.invalid(`${path}.image`, image, 'must be a string');
  else {
    const problem = imageReferenceProblem(image);
    if (problem) c.invalid(`${path}.image`, image, `not a valid image reference: ${problem}`);
  }
  stringList(c, ct, 'command', `${path}.command`);
  stringList(c, ct, 'args', `${path}.args`);
  const wd = optString(c, ct, 'workingDir', `${path}.workingDir`, 4096);
  if (wd !== undefined && wd !== '' && !wd.startsWith('/')) c.invalid(`${path}.workingDir`, wd, 'must be an absolute path');
  optString(c, ct, 'user', `${path}.user`, 256);
  optString(c, ct, 'stopSignal', `${path}.stopSignal`, 32);
  optInt(c, ct, 'stopGracePeriodSeconds', `${path}.stopGracePeriodSeconds`, 0, 86_400);
  optEnum(c, ct, 'imagePullPolicy', `${path}.imagePullPolicy`, ['Always', 'IfNotPresent', 'Never']);
  if (ct['init'] !== undefined && typeof ct['init'] !== 'boolean') c.invalid(`${path}.init`, ct['init'], 'must be a boolean');
  for (const probe of ['livenessProbe', 'readinessProbe']) optObj(c, ct, probe, `${path}.${probe}`);

  optArray(c, ct, 'env', `${path}.env`)?.forEach((e, i) => {
    const p = `${path}.env[${i}]`;
    if (!isObj(e)) return c.invalid(p, e, 'must be an object');
    checkKeys(c, e, p, ['name', 'value', 'valueFrom']);
    const n = e['name'];
    if (n === undefined || n === null || n === '') c.required(`${p}.name`, 'name');
    else if (typeof n !== 'string' || !ENV_NAME.test(n)) {
      c.invalid(`${p}.name`, n, 'an environment variable name must consist of letters, digits, "_", "-" or "." and must not start with a digit');
    }
    optString(c, e, 'value', `${p}.value`, 128 * 1024);
    if (e['valueFrom'] !== undefined) c.add(`${p}.valueFrom`, REASON.notSupported, 'valueFrom is not supported yet; use value');
  });

  const seenPorts = new Set<string>();
  optArray(c, ct, 'ports', `${path}.ports`)?.forEach((pt, i) => {
    const p = `${path}.ports[${i}]`;
    if (!isObj(pt)) return c.invalid(p, pt, 'must be an object');
    checkKeys(c, pt, p, ['containerPort', 'protocol', 'name']);
    if (pt['containerPort'] === undefined) c.required(`${p}.containerPort`, 'containerPort');
    const port = optInt(c, pt, 'containerPort', `${p}.containerPort`, 1, 65535);
    const proto = optEnum(c, pt, 'protocol', `${p}.protocol`, PROTOCOLS) ?? 'TCP';
    if (port !== undefined) {
      const k = `${port}/${proto}`;
      if (seenPorts.has(k)) c.add(`${p}.containerPort`, REASON.duplicate, `duplicate port ${k}`);
      seenPorts.add(k);
    }
    optString(c, pt, 'name', `${p}.name`, 15);
  });

  const res = optObj(c, ct, 'resources', `${path}.resources`);
  if (res) validateResources(c, res, `${path}.resources`);

  const mountPaths = new Set<string>();
  optArray(c, ct, 'volumeMounts', `${path}.volumeMounts`)?.forEach((vm, i) => {
    const p = `${path}.volumeMounts[${i}]`;
    if (!isObj(vm)) return c.invalid(p, vm, 'must be an object');
    checkKeys(c, vm, p, ['name', 'mountPath', 'readOnly', 'subPath']);
    const n = vm['name'];
    if (n === undefined || n === '') c.required(`${p}.name`, 'name');
    else if (typeof n !== 'string') c.invalid(`${p}.name`, n, 'must be a string');
    else if (volumeNames && !volumeNames.has(n)) c.add(`${p}.name`, REASON.notFound, `no volume named "${n}" in spec.template.spec.volumes`);
    const mp = vm['mountPath'];
    if (mp === undefined || mp === '') c.required(`${p}.mountPath`, 'mountPath');
    else if (typeof mp !== 'string' || !mp.startsWith('/')) c.invalid(`${p}.mountPath`, mp, 'must be an absolute path');
    else {
      if (mountPaths.has(mp)) c.add(`${p}.mountPath`, REASON.duplicate, `duplicate mount path "${mp}"`);
      mountPaths.add(mp);
    }
    if (vm['readOnly'] !== undefined && typeof vm['readOnly'] !== 'boolean') c.invalid(`${p}.readOnly`, vm['readOnly'], 'must be a boolean');
  });
  return okName;
}

/** Validates a pod template (`spec.template` of a service, `spec.template` of a task). */
function validateTemplate(c: Causes, tpl: unknown, path: string): void {
  if (tpl === undefined || tpl === null) {
    c.required(path, 'template');
    return;
  }
  if (!isObj(tpl)) return c.invalid(path, tpl, 'must be an object');
  checkKeys(c, tpl, path, ['metadata', 'spec']);
  const meta = optObj(c, tpl, 'metadata', `${path}.metadata`);
  if (meta) {
    checkKeys(c, meta, `${path}.metadata`, ['labels', 'annotations']);
    labelMap(c, meta, 'labels', `${path}.metadata.labels`, 'labels');
    labelMap(c, meta, 'annotations', `${path}.metadata.annotations`, 'annotations');
  }
  const spec = tpl['spec'];
  if (spec === undefined || spec === null) {
    c.required(`${path}.spec`, 'spec');
    return;
  }
  if (!isObj(spec)) return c.invalid(`${path}.spec`, spec, 'must be an object');
  const sp = `${path}.spec`;
  checkKeys(c, spec, sp, ['containers', 'volumes', 'restartPolicy', 'network']);
  optEnum(c, spec, 'restartPolicy', `${sp}.restartPolicy`, ['Always', 'OnFailure', 'Never']);
  const net = optString(c, spec, 'network', `${sp}.network`, 63);
  if (net !== undefined && !isDnsLabel(net)) c.invalid(`${sp}.network`, net, 'must be bridge, host, none or a network name (DNS-1123 label)');

  const volumeNames = new Set<string>();
  optArray(c, spec, 'volumes', `${sp}.volumes`)?.forEach((v, i) => {
    const p = `${sp}.volumes[${i}]`;
    if (!isObj(v)) return c.invalid(p, v, 'must be an object');
    checkKeys(c, v, p, ['name', 'hostPath', 'emptyDir']);
    const n = v['name'];
    if (n === undefined || n === '') c.required(`${p}.name`, 'name');
    else if (typeof n !== 'string' || !isDnsLabel(n)) c.invalid(`${p}.name`, n, 'must be a DNS-1123 label');
    else {
      if (volumeNames.has(n)) c.add(`${p}.name`, REASON.duplicate, `duplicate volume "${n}"`);
      volumeNames.add(n);
    }
    const sources = ['hostPath', 'emptyDir'].filter((k) => v[k] !== undefined);
    if (sources.length === 0) c.required(p, 'one volume source (hostPath or emptyDir)');
    if (sources.length > 1) c.add(`${p}.${sources[1]}`, REASON.forbidden, 'may not specify more than one volume source');
    const hp = optObj(c, v, 'hostPath', `${p}.hostPath`);
    if (hp) {
      checkKeys(c, hp, `${p}.hostPath`, ['path', 'readOnly']);
      const hpp = hp['path'];
      if (hpp === undefined || hpp === '') c.required(`${p}.hostPath.path`, 'path');
      else if (typeof hpp !== 'string' || !hpp.startsWith('/')) c.invalid(`${p}.hostPath.path`, hpp, 'must be an absolute path');
    }
    optObj(c, v, 'emptyDir', `${p}.emptyDir`);
  });

  const containers = spec['containers'];
  if (containers === undefined || containers === null) {
    c.required(`${sp}.containers`, 'at least one container');
    return;
  }
  if (!Array.isArray(containers)) return c.invalid(`${sp}.containers`, containers, 'must be a list');
  if (containers.length === 0) c.required(`${sp}.containers`, 'at least one container');
  const names = new Set<string>();
  containers.forEach((ct, i) => {
    const n = validateContainer(c, ct, `${sp}.containers[${i}]`, volumeNames);
    if (n !== undefined) {
      if (names.has(n)) c.add(`${sp}.containers[${i}].name`, REASON.duplicate, `duplicate container name "${n}"`);
      names.add(n);
    }
  });
}

// ---- service ------------------------------------------------------------------------------

const SERVICE_SPEC_KEYS = ['mode', 'replicas', 'template', 'ports', 'placement', 'update', 'restart', 'schedule'] as const;
export const SERVICE_MODES = ['replicated', 'global', 'job', 'cron'] as const;

function validatePorts(c: Causes, spec: Obj): void {
  const seen = new Map<string, number>();
  optArray(c, spec, 'ports', 'spec.ports')?.forEach((pt, i) => {
    const p = `spec.ports[${i}]`;
    if (!isObj(pt)) return c.invalid(p, pt, 'must be an object');
    checkKeys(c, pt, p, ['port', 'targetPort', 'protocol', 'mode', 'name']);
    if (pt['port'] === undefined) c.required(`${p}.port`, 'port');
    if (pt['targetPort'] === undefined) c.required(`${p}.targetPort`, 'targetPort');
    const port = optInt(c, pt, 'port', `${p}.port`, 1, 65535);
    optInt(c, pt, 'targetPort', `${p}.targetPort`, 1, 65535);
    const proto = optEnum(c, pt, 'protocol', `${p}.protocol`, PROTOCOLS) ?? 'TCP';
    optEnum(c, pt, 'mode', `${p}.mode`, ['ingress', 'host']);
    const name = optString(c, pt, 'name', `${p}.name`, 63);
    if (name !== undefined && !isDnsLabel(name)) c.invalid(`${p}.name`, name, 'must be a DNS-1123 label');
    if (port !== undefined) {
      const key = `${port}/${proto}`;
      const first = seen.get(key);
      if (first !== undefined) c.add(`${p}.port`, REASON.duplicate, `port ${key} is already published by spec.ports[${first}]`);
      else seen.set(key, i);
    }
  });
}

function validatePlacement(c: Causes, spec: Obj): void {
  const pl = optObj(c, spec, 'placement', 'spec.placement');
  if (!pl) return;
  checkKeys(c, pl, 'spec.placement', ['constraints', 'maxReplicasPerNode', 'spread']);
  optArray(c, pl, 'constraints', 'spec.placement.constraints')?.forEach((ct, i) => {
    const p = `spec.placement.constraints[${i}]`;
    if (typeof ct !== 'string') return c.invalid(p, ct, 'must be a string');
    if (!parseConstraint(ct)) {
      c.invalid(p, ct, `want <${CONSTRAINT_ATTRIBUTES.join('|')}> <==|!=> VALUE, e.g. node.labels.zone==a`);
    }
  });
  optInt(c, pl, 'maxReplicasPerNode', 'spec.placement.maxReplicasPerNode', 0, MAX_REPLICAS);
  const spread = optString(c, pl, 'spread', 'spec.placement.spread', 317);
  if (spread !== undefined && !/^node\.labels\.[^\s=!]+$/.test(spread)) c.invalid('spec.placement.spread', spread, 'want node.labels.KEY');
}

function validateUpdate(c: Causes, spec: Obj): void {
  const u = optObj(c, spec, 'update', 'spec.update');
  if (!u) return;
  checkKeys(c, u, 'spec.update', ['parallelism', 'delay', 'order', 'failureAction', 'monitor', 'maxFailureRatio']);
  optInt(c, u, 'parallelism', 'spec.update.parallelism', 0, MAX_REPLICAS);
  optDuration(c, u, 'delay', 'spec.update.delay');
  optDuration(c, u, 'monitor', 'spec.update.monitor');
  optEnum(c, u, 'order', 'spec.update.order', ['stop-first', 'start-first']);
  optEnum(c, u, 'failureAction', 'spec.update.failureAction', ['pause', 'rollback', 'continue']);
  const r = u['maxFailureRatio'];
  if (r !== undefined && (typeof r !== 'number' || r < 0 || r > 1)) c.invalid('spec.update.maxFailureRatio', r, 'must be a number between 0 and 1');
}

function validateRestart(c: Causes, spec: Obj, mode: string): void {
  const r = optObj(c, spec, 'restart', 'spec.restart');
  if (!r) return;
  checkKeys(c, r, 'spec.restart', ['condition', 'delay', 'maxAttempts', 'window']);
  const cond = optEnum(c, r, 'condition', 'spec.restart.condition', ['any', 'on-failure', 'none']);
  if ((mode === 'job' || mode === 'cron') && cond === 'any') {
    c.add('spec.restart.condition', REASON.forbidden, `"any" would rerun a ${mode} forever; use on-failure or none`);
  }
  optDuration(c, r, 'delay', 'spec.restart.delay');
  optDuration(c, r, 'window', 'spec.restart.window');
  optInt(c, r, 'maxAttempts', 'spec.restart.maxAttempts', 0, 1_000_000);
}

export interface ValidateOptions {
  /** Validate `status` too (status subresource writes); default false, status is ignored on spec writes. */
  status?: boolean;
}

/** Every problem of a Service object (create or replace body). */
export function validateService(obj: unknown): FieldCause[] {
  const c = new Causes();
  if (!isObj(obj)) {
    c.invalid('', obj, 'a Service must be a JSON or YAML object');
    return c.list;
  }
  checkKeys(c, obj, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  checkTypeMeta(c, obj, 'Service');
  validateObjectMeta(c, obj['metadata'], { name: 'label', namespaced: true });
  const spec = obj['spec'];
  if (spec === undefined || spec === null) {
    c.required('spec', 'spec');
    return c.list;
  }
  if (!isObj(spec)) {
    c.invalid('spec', spec, 'must be an object');
    return c.list;
  }
  checkKeys(c, spec, 'spec', SERVICE_SPEC_KEYS);
  const mode = optEnum(c, spec, 'mode', 'spec.mode', SERVICE_MODES) ?? 'replicated';
  if (mode === 'global' && spec['replicas'] !== undefined && spec['replicas'] !== null) {
    c.add('spec.replicas', REASON.forbidden, 'a global service runs one task per node; replicas is not allowed');
  } else optInt(c, spec, 'replicas', 'spec.replicas', 0, MAX_REPLICAS);
  const schedule = spec['schedule'];
  if (mode === 'cron') {
    if (schedule === undefined || schedule === null || schedule === '') c.required('spec.schedule', 'a cron schedule for mode cron');
    else if (typeof schedule !== 'string') c.invalid('spec.schedule', schedule, 'must be a string');
    else {
      const p = cronProblem(schedule);
      if (p) c.invalid('spec.schedule', schedule, `not a valid cron expression: ${p}`);
    }
  } else if (schedule !== undefined && schedule !== null) {
    c.add('spec.schedule', REASON.forbidden, 'schedule is only allowed with mode cron');
  }
  validateTemplate(c, spec['template'], 'spec.template');
  validatePorts(c, spec);
  validatePlacement(c, spec);
  validateUpdate(c, spec);
  validateRestart(c, spec, mode);
  return c.list;
}

// ---- node ---------------------------------------------------------------------------------

export const NODE_AVAILABILITIES = ['active', 'pause', 'drain'] as const;
export const NODE_STATES = ['ready', 'down', 'unknown'] as const;


function validateResourceList(c: Causes, r: Obj, path: string): void {
  checkKeys(c, r, path, ['cpu', 'memory', 'pods']);
  for (const k of ['cpu', 'memory']) {
    const v = r[k];
    if (v === undefined) continue;
    const t = typeof v === 'number' ? String(v) : v;
    if (typeof t !== 'string' || !isQuantity(t)) c.invalid(`${path}.${k}`, v, 'must be a quantity');
  }
  optInt(c, r, 'pods', `${path}.pods`, 0, 1_000_000);
}

/** Every problem of a node's status (the status subresource, or a full Node's status). */
export function validateNodeStatus(status: unknown, path = 'status'): FieldCause[] {
  const c = new Causes();
  if (!isObj(status)) {
    c.invalid(path, status, 'must be an object');
    return c.list;
  }
  checkKeys(c, status, path, ['state', 'message', 'addresses', 'capacity', 'allocatable', 'lastHeartbeat', 'info']);
  optEnum(c, status, 'state', `${path}.state`, NODE_STATES);
  optString(c, status, 'message', `${path}.message`, 32 * 1024);
  optArray(c, status, 'addresses', `${path}.addresses`)?.forEach((a, i) => {
    const p = `${path}.addresses[${i}]`;
    if (!isObj(a)) return c.invalid(p, a, 'must be an object');
    checkKeys(c, a, p, ['type', 'address']);
    const type = optEnum(c, a, 'type', `${p}.type`, ['InternalIP', 'Hostname']);
    const addr = optString(c, a, 'address', `${p}.address`, 253);
    if (addr === undefined) c.required(`${p}.address`, 'address');
    else if (type === 'InternalIP' && !isIP(addr)) c.invalid(`${p}.address`, addr, 'must be an IP address');
  });
  for (const k of ['capacity', 'allocatable']) {
    const r = optObj(c, status, k, `${path}.${k}`);
    if (r) validateResourceList(c, r, `${path}.${k}`);
  }
  checkTime(c, status, 'lastHeartbeat', `${path}.lastHeartbeat`);
  const info = optObj(c, status, 'info', `${path}.info`);
  if (info) {
    checkKeys(c, info, `${path}.info`, ['kernel', 'os', 'arch', 'cgroupVersion', 'agentVersion']);
    for (const k of ['kernel', 'os', 'arch', 'agentVersion']) optString(c, info, k, `${path}.info.${k}`, 256);
    const cg = info['cgroupVersion'];
    if (cg !== undefined && cg !== 1 && cg !== 2) c.notSupported(`${path}.info.cgroupVersion`, cg, ['1', '2']);
  }
  return c.list;
}

/** Every problem of a Node object. */
export function validateNode(obj: unknown, opts: ValidateOptions = {}): FieldCause[] {
  const c = new Causes();
  if (!isObj(obj)) {
    c.invalid('', obj, 'a Node must be a JSON or YAML object');
    return c.list;
  }
  checkKeys(c, obj, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  checkTypeMeta(c, obj, 'Node');
  validateObjectMeta(c, obj['metadata'], { name: 'subdomain', namespaced: false });
  const spec = optObj(c, obj, 'spec', 'spec');
  if (spec) {
    checkKeys(c, spec, 'spec', ['availability', 'labels', 'podCIDR']);
    optEnum(c, spec, 'availability', 'spec.availability', NODE_AVAILABILITIES);
    labelMap(c, spec, 'labels', 'spec.labels', 'labels');
    const cidr = optString(c, spec, 'podCIDR', 'spec.podCIDR', 64);
    if (cidr !== undefined && !isCidr(cidr)) c.invalid('spec.podCIDR', cidr, 'must be an IPv4 CIDR without host bits, such as 10.244.1.0/24');
  }
  if (opts.status && obj['status'] !== undefined) c.list.push(...validateNodeStatus(obj['status']));
  return c.list;
}

// ---- task ---------------------------------------------------------------------------------

/** Every problem of a task status write (the agent's `tasks/{name}/status`). Transitions are checked by the registry. */
export function validateTaskStatus(status: unknown, path = 'status'): FieldCause[] {
  const c = new Causes();
  if (!isObj(status)) {
    c.invalid(path, status, 'must be an object');
    return c.list;
  }
  checkKeys(c, status, path, [
    'state', 'message', 'reason', 'containerId', 'ip', 'exitCode', 'startedAt', 'finishedAt', 'timestamp', 'health', 'progress',
  ]);
  if (status['state'] === undefined || status['state'] === null) c.required(`${path}.state`, 'state');
  else optEnum(c, status, 'state', `${path}.state`, TASK_STATES);
  optString(c, status, 'message', `${path}.message`, 32 * 1024);
  optString(c, status, 'reason', `${path}.reason`, 32 * 1024);
  optString(c, status, 'containerId', `${path}.containerId`, 128);
  const ip = optString(c, status, 'ip', `${path}.ip`, 45);
  if (ip !== undefined && ip !== '' && !isIP(ip)) c.invalid(`${path}.ip`, ip, 'must be an IP address');
  optInt(c, status, 'exitCode', `${path}.exitCode`, -255, 255);
  for (const k of ['startedAt', 'finishedAt', 'timestamp']) checkTime(c, status, k, `${path}.${k}`);
  optEnum(c, status, 'health', `${path}.health`, ['starting', 'healthy', 'unhealthy']);
  const pr = optObj(c, status, 'progress', `${path}.progress`);
  if (pr) {
    optInt(c, pr, 'current', `${path}.progress.current`, 0, Number.MAX_SAFE_INTEGER);
    optInt(c, pr, 'total', `${path}.progress.total`, 0, Number.MAX_SAFE_INTEGER);
  }
  return c.list;
}

/** Every problem of a Task object (written by the orchestrator; checked on create and replace). */
export function validateTask(obj: unknown, opts: ValidateOptions = {}): FieldCause[] {
  const c = new Causes();
  if (!isObj(obj)) {
    c.invalid('', obj, 'a Task must be a JSON or YAML object');
    return c.list;
  }
  checkKeys(c, obj, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  checkTypeMeta(c, obj, 'Task');
  validateObjectMeta(c, obj['metadata'], { name: 'subdomain', namespaced: true });
  const spec = obj['spec'];
  if (!isObj(spec)) {
    if (spec === undefined || spec === null) c.required('spec', 'spec');
    else c.invalid('spec', spec, 'must be an object');
  } else {
    checkKeys(c, spec, 'spec', ['serviceName', 'serviceUid', 'serviceGeneration', 'slot', 'nodeName', 'desiredState', 'template', 'ports', 'placement', 'restart']);
    const sn = spec['serviceName'];
    if (typeof sn !== 'string' || !isDnsLabel(sn)) {
      if (sn === undefined) c.required('spec.serviceName', 'serviceName');
      else c.invalid('spec.serviceName', sn, 'must be a DNS-1123 label');
    }
    optInt(c, spec, 'serviceGeneration', 'spec.serviceGeneration', 0, Number.MAX_SAFE_INTEGER);
    optInt(c, spec, 'slot', 'spec.slot', 0, MAX_REPLICAS);
    const node = optString(c, spec, 'nodeName', 'spec.nodeName', 253);
    if (node !== undefined && node !== '' && !isDnsSubdomain(node)) c.invalid('spec.nodeName', node, 'must be a DNS-1123 subdomain');
    if (spec['desiredState'] === undefined) c.required('spec.desiredState', 'desiredState');
    else optEnum(c, spec, 'desiredState', 'spec.desiredState', ['running', 'shutdown']);
    validateTemplate(c, spec['template'], 'spec.template');
  }
  if (opts.status) {
    if (obj['status'] !== undefined) c.list.push(...validateTaskStatus(obj['status']));
  }
  return c.list;
}

/** Throws a 422 Invalid ShoalError naming the object when `causes` is not empty. */
export function assertValid(kind: string, name: string | undefined, causes: FieldCause[]): void {
  if (causes.length === 0) return;
  throw invalidError(kind, name, causes);
}

export function invalidError(kind: string, name: string | undefined, causes: FieldCause[]): ShoalError {
  // One cause: say it all. Several: name the fields; the causes carry the details.
  const only = causes.length === 1 ? causes[0] : undefined;
  const fields = [...new Set(causes.map((c) => c.field || '<root>'))];
  const summary = only
    ? `${only.field || '<root>'}: ${only.message}`
    : `${causes.length} problems (${fields.slice(0, 6).join(', ')}${fields.length > 6 ? ', ...' : ''})`;
  const opts: { kind: string; name?: string } = { kind };
  if (name !== undefined) opts.name = name;
  return errors.invalid(`${kind} "${name ?? ''}" is invalid: ${summary}`, causes, opts);
}
