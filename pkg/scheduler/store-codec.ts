/**
 * Keys and JSON codec of the objects the control loops read and write (DESIGN.md section 5):
 * `/shoal/v1/<plural>/<ns>/<name>`, nodes `/shoal/v1/nodes/<name>`. resourceVersion is the
 * key's modRevision and is never stored in the value.
 */
import type { KeyValue } from '../store/index.js';
import type { Node, Service, Task } from '../api/index.js';

export const TASKS_PREFIX = '/shoal/v1/tasks/';
export const SERVICES_PREFIX = '/shoal/v1/services/';
export const NODES_PREFIX = '/shoal/v1/nodes/';

export function taskKey(t: Task): string {
  return `${TASKS_PREFIX}${t.metadata.namespace ?? 'default'}/${t.metadata.name}`;
}
export function serviceKey(s: Service): string {
  return `${SERVICES_PREFIX}${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
}
export function nodeKey(name: string): string {
  return `${NODES_PREFIX}${name}`;
}

/** Parses a stored object and sets `metadata.resourceVersion` from the key's modRevision. */
export function decodeObject<T extends Task | Service | Node>(kv: KeyValue): T {
  const o = JSON.parse(kv.value) as T;
  if (typeof o !== 'object' || o === null || typeof o.metadata !== 'object' || o.metadata === null) throw new Error(`${kv.key}: not an object with metadata`);
  o.metadata.resourceVersion = String(kv.modRevision);
  return o;
}

/** JSON for the store, without resourceVersion. */
export function encodeObject(o: Task | Service | Node): string {
  const { resourceVersion: _rv, ...metadata } = o.metadata;
  return JSON.stringify({ ...o, metadata });
}

export function modRevisionOf(o: Task | Service | Node): number {
  return Number(o.metadata.resourceVersion ?? 0);
}
