/**
 * Where API objects live in the store and how they are written (DESIGN.md section 5): the one
 * key scheme and value codec that the API registry and the control loops share.
 *
 *   namespaced:      /shoal/v1/<plural>/<namespace>/<name>
 *   cluster-scoped:  /shoal/v1/<plural>/<name>
 *
 * Values are JSON without `metadata.resourceVersion`, which is filled in on read from the
 * key's modRevision. A value that is not an object with metadata is DataLoss.
 */
import { RESOURCES, ShoalError, type ApiObject, type Kind, type ResourcePlural } from '../api/index.js';
import type { KeyValue } from './store.js';

export const KEY_ROOT = '/shoal/v1/';

/** The prefix of every object of a resource, or of one namespace's when `namespace` is given. */
export function resourcePrefix(plural: ResourcePlural, namespace?: string): string {
  return namespace === undefined ? `${KEY_ROOT}${plural}/` : `${KEY_ROOT}${plural}/${namespace}/`;
}

/** The key of one object; pass `namespace` undefined for cluster-scoped kinds. */
export function objectKey(plural: ResourcePlural, namespace: string | undefined, name: string): string {
  return `${resourcePrefix(plural, namespace)}${name}`;
}

const PLURAL_OF = Object.fromEntries(Object.values(RESOURCES).map((r) => [r.kind, r])) as Record<Kind, (typeof RESOURCES)[ResourcePlural]>;

/** The store key of an object, from its kind, namespace (default `default`) and name. */
export function storeKeyOf(obj: ApiObject): string {
  const r = PLURAL_OF[obj.kind];
  return objectKey(r.plural, r.namespaced ? (obj.metadata.namespace ?? 'default') : undefined, obj.metadata.name);
}

/** JSON for the store, without resourceVersion. */
export function encodeObject(obj: ApiObject): string {
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return JSON.stringify({ ...obj, metadata });
}

/** Parses a stored object and sets `metadata.resourceVersion` from the key's modRevision. */
export function decodeObject<T extends ApiObject>(kv: KeyValue): T {
  let o: unknown;
  try {
    o = JSON.parse(kv.value);
  } catch (err) {
    throw new ShoalError('DataLoss', `stored value at ${kv.key} is not JSON`, { cause: err });
  }
  if (o === null || typeof o !== 'object' || typeof (o as { metadata?: unknown }).metadata !== 'object' || (o as { metadata?: unknown }).metadata === null) {
    throw new ShoalError('DataLoss', `stored value at ${kv.key} is not an object with metadata`);
  }
  const obj = o as T;
  obj.metadata.resourceVersion = String(kv.modRevision);
  return obj;
}
