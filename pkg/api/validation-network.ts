/** Validation of a Network (namespaced; spec.labels only) and of an Endpoints object (written by the controller). */
import type { FieldCause } from './errors.js';
import { checkKeys, labelMap, optObj, Causes, REASON } from './validation-fields.js';
import { checkObject } from './validation-meta.js';

/** The network every namespace has without an object; services that list none join it. */
export const DEFAULT_NETWORK = 'default';

/** Every problem of a Network object. */
export function validateNetwork(body: unknown): FieldCause[] {
  const c = new Causes();
  const obj = checkObject(c, body, 'Network', { name: 'label', namespaced: true });
  if (obj === undefined) return c.list;
  const meta = obj['metadata'] as Record<string, unknown> | undefined;
  if (meta?.['name'] === DEFAULT_NETWORK) {
    c.add('metadata.name', REASON.forbidden, `the ${DEFAULT_NETWORK} network exists in every namespace and cannot be created`);
  }
  const spec = optObj(c, obj, 'spec', 'spec');
  if (spec) {
    checkKeys(c, spec, 'spec', ['labels']);
    labelMap(c, spec, 'labels', 'spec.labels', 'labels');
  }
  if (obj['status'] !== undefined) {
    const st = optObj(c, obj, 'status', 'status');
    if (st) checkKeys(c, st, 'status', []);
  }
  return c.list;
}
