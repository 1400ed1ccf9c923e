/**
 * Key layout and value codec (DESIGN.md section 5): `/shoal/v1/<plural>/<namespace>/<name>`,
 * cluster-scoped `/shoal/v1/<plural>/<name>`. Values are JSON without `metadata.resourceVersion`,
 * which is filled in on read from the key's modRevision.
 */
import { ShoalError, type ApiObject, type ResourcePlural } from '../../api/index.js';
import type { KeyValue } from '../../store/index.js';

export const KEY_ROOT = '/shoal/v1/';

export function resourcePrefix(plural: ResourcePlural, namespace?: string): string {
  return namespace === undefined ? `${KEY_ROOT}${plural}/` : `${KEY_ROOT}${plural}/${namespace}/`;
}

export function objectKey(plural: ResourcePlural, namespace: string | undefined, name: string): string {
  return `${resourcePrefix(plural, namespace)}${name}`;
}

export function encode(obj: ApiObject): string {
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return JSON.stringify({ ...obj, metadata });
}

export function decode<T extends ApiObject>(kv: KeyValue): T {
  let o: unknown;
  try {
    o = JSON.parse(kv.value);
  } catch (err) {
    throw new ShoalError('DataLoss', `stored value at ${kv.key} is not JSON`, { cause: err });
  }
  if (o === null || typeof o !== 'object' || typeof (o as { metadata?: unknown }).metadata !== 'object') {
    throw new ShoalError('DataLoss', `stored value at ${kv.key} is not an object with metadata`);
  }
  const obj = o as T;
  obj.metadata.resourceVersion = String(kv.modRevision);
  return obj;
}
