/**
 * Validation of what every object has: type meta (`apiVersion`, `kind`) and object meta
 * (`metadata`: name, namespace, labels, annotations, times), and `checkObject`, the head
 * of every object validator (an object with only the top-level keys of an API object).
 */
import { API_VERSION } from './types.js';
import { checkKeys, checkTime, isDnsLabel, isDnsSubdomain, isObj, labelMap, optInt, optString, REASON, ROOT_FIELD, type Causes, type Obj } from './validation-fields.js';

export interface MetaOptions {
  /** DNS-1123 label (≤ 63, no dots) or subdomain (≤ 253, dots allowed). */
  name: 'label' | 'subdomain';
  namespaced: boolean;
}

export function validateObjectMeta(c: Causes, meta: unknown, opts: MetaOptions, path = 'metadata'): void {
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

/**
 * The head of every object validator: `obj` must be an object (else one cause, and undefined
 * comes back) with only the top-level keys of an API object, the right type meta and valid
 * object meta. Its spec and status are the caller's.
 */
export function checkObject(c: Causes, obj: unknown, kind: string, meta: MetaOptions): Obj | undefined {
  if (!isObj(obj)) {
    c.invalid(ROOT_FIELD, obj, `a ${kind} must be a JSON or YAML object`);
    return undefined;
  }
  checkKeys(c, obj, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  checkTypeMeta(c, obj, kind);
  validateObjectMeta(c, obj['metadata'], meta);
  return obj;
}
