/**
 * The shared parts of every validator (pkg/api/validation.ts is the front): the Causes
 * collector, the reasons, and the field helpers that type-check one field of an `unknown`
 * object, record a cause when it is wrong, and return the value when it is right
 * (optString, optInt, optEnum, optDuration, optObj, optArray, stringList, labelMap,
 * checkTime); plus the name formats (DNS-1123 label and subdomain, qualified names).
 * A helper never throws: every problem becomes a cause with its field path.
 */
import type { FieldCause } from './errors.js';
import { isDuration } from './duration.js';

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

export type Obj = Record<string, unknown>;

/** Collects causes while walking an object. */
export class Causes {
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

export function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
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

/** The field of a cause about the whole object (it is not an object at all). */
export const ROOT_FIELD = '<root>';

const PLAIN_FIELD = /^[A-Za-z_$][\w$-]*$/;
const PLAIN_KEY = /^[^\s"[\]\u0000-\u001f\u007f]+$/;
/** Keys past this length are cut in paths (a cause names the field; it need not repeat 70 kB of it). */
const MAX_PATH_KEY = 200;

function quotedKey(key: string): string {
  return JSON.stringify(key.length > MAX_PATH_KEY ? `${key.slice(0, MAX_PATH_KEY)}…` : key);
}

/**
 * The path of field `key` of the object at `path`: `spec.replicas`; a key that is not a plain
 * identifier (empty, with dots, brackets, spaces, quotes...) as `spec["a.b"]`, so that every
 * cause names its field unambiguously, whatever a client sent.
 */
export function fieldPath(path: string, key: string): string {
  if (PLAIN_FIELD.test(key) && key.length <= MAX_PATH_KEY) return path === '' ? key : `${path}.${key}`;
  return `${path}[${quotedKey(key)}]`;
}

/** The path of entry `key` of the map at `path` (labels, annotations): `metadata.labels[app]`; an odd key quoted: `metadata.labels[""]`. */
export function keyPath(path: string, key: string): string {
  return PLAIN_KEY.test(key) && key.length <= MAX_PATH_KEY ? `${path}[${key}]` : `${path}[${quotedKey(key)}]`;
}

export function checkKeys(c: Causes, obj: Obj, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) c.unknownField(fieldPath(path, k));
}

export function optString(c: Causes, obj: Obj, key: string, path: string, max = 1024): string | undefined {
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

export function optInt(c: Causes, obj: Obj, key: string, path: string, min: number, max: number): number | undefined {
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

export function optEnum(c: Causes, obj: Obj, key: string, path: string, values: readonly string[]): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !values.includes(v)) {
    c.notSupported(path, v, values);
    return undefined;
  }
  return v;
}

export function optDuration(c: Causes, obj: Obj, key: string, path: string): void {
  const v = obj[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'string' || !isDuration(v)) c.invalid(path, v, 'must be a duration such as 5s, 100ms or 1m30s');
}

export function optObj(c: Causes, obj: Obj, key: string, path: string): Obj | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) {
    c.invalid(path, v, 'must be an object');
    return undefined;
  }
  return v;
}

export function optArray(c: Causes, obj: Obj, key: string, path: string): unknown[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    c.invalid(path, v, 'must be a list');
    return undefined;
  }
  return v;
}

export function stringList(c: Causes, obj: Obj, key: string, path: string): void {
  const arr = optArray(c, obj, key, path);
  arr?.forEach((v, i) => {
    if (typeof v !== 'string') c.invalid(`${path}[${i}]`, v, 'must be a string');
  });
}

export function labelMap(c: Causes, obj: Obj, key: string, path: string, kind: 'labels' | 'annotations'): void {
  const m = optObj(c, obj, key, path);
  if (!m) return;
  let total = 0;
  for (const [k, v] of Object.entries(m)) {
    const p = keyPath(path, k);
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

export function checkTime(c: Causes, obj: Obj, key: string, path: string): void {
  const v = obj[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'string' || !ISO_TIME.test(v) || Number.isNaN(Date.parse(v))) c.invalid(path, v, 'must be an RFC 3339 time');
}

export interface ValidateOptions {
  /** Validate `status` too (status subresource writes); default false, status is ignored on spec writes. */
  status?: boolean;
}
