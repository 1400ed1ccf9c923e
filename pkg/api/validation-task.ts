/**
 * Validation of a Task (written by the orchestrator) and of a task status write (the agent's
 * `tasks/{name}/status`). State transitions are the registry's to check, not this file's.
 */
import type { FieldCause } from './errors.js';
import { isIP } from './cidr.js';
import { TASK_STATES } from './types.js';
import { checkKeys, checkTime, isDnsLabel, isDnsSubdomain, isObj, MAX_REPLICAS, optEnum, optInt, optObj, optString, Causes, type ValidateOptions } from './validation-fields.js';
import { checkObject } from './validation-meta.js';
import { validateTemplate } from './validation-template.js';

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
export function validateTask(body: unknown, opts: ValidateOptions = {}): FieldCause[] {
  const c = new Causes();
  const obj = checkObject(c, body, 'Task', { name: 'subdomain', namespaced: true });
  if (obj === undefined) return c.list;
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
