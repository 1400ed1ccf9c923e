/**
 * Validation of a Service: mode and replicas, the cron schedule (mode cron), the template,
 * published ports (unique per port/protocol), placement (constraints parsed by the one
 * parser in constraints.ts), update and restart policies; and, with the same 422, the fields
 * this version knows but would not honour (`unsupportedServiceSpecFields`).
 */
import type { FieldCause } from './errors.js';
import { CONSTRAINT_ATTRIBUTES, parseConstraint } from './constraints.js';
import { checkKeys, isDnsLabel, isObj, MAX_REPLICAS, optArray, optDuration, optEnum, optInt, optObj, optString, REASON, Causes, type Obj } from './validation-fields.js';
import { checkObject } from './validation-meta.js';
import { notYet, PROTOCOLS, unsupportedTemplateFields, validateTemplate } from './validation-template.js';

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

const SERVICE_SPEC_KEYS = ['mode', 'replicas', 'template', 'ports', 'placement', 'update', 'restart', 'schedule', 'networks', 'endpointMode'] as const;
/** A service joins at most this many networks. */
export const MAX_SERVICE_NETWORKS = 16;
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

/** Every problem of a Service object (create or replace body). */
export function validateService(body: unknown): FieldCause[] {
  const c = new Causes();
  const obj = checkObject(c, body, 'Service', { name: 'label', namespaced: true });
  if (obj === undefined) return c.list;
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
  validateSchedule(c, spec, mode);
  validateTemplate(c, spec['template'], 'spec.template');
  validatePorts(c, spec);
  validatePlacement(c, spec);
  validateUpdate(c, spec);
  validateRestart(c, spec, mode);
  validateNetworks(c, spec);
  unsupportedServiceSpecFields(c, spec);
  return c.list;
}

/** `spec.update` fields the orchestrator does not act on yet (it follows parallelism and order). */
const UPDATE_NOT_YET = ['delay', 'monitor', 'failureAction', 'maxFailureRatio'] as const;

/**
 * Fields of a service spec that are well-formed but that this version would not honour
 * (issue 13): each is a cause with its exact path, so the 422 says what to remove instead
 * of the cluster silently doing less than asked. Mode cron (the orchestrator runs no cron
 * service) and its schedule; update pacing beyond parallelism and order; placement.spread
 * (the scheduler spreads a service over nodes by count, not over a label's values); the
 * template's (unsupportedTemplateFields).
 */
export function unsupportedServiceSpecFields(c: Causes, spec: Obj): void {
  if (spec['mode'] === 'cron') {
    notYet(c, 'spec.mode', 'mode cron (scheduled runs)');
    if (spec['schedule'] !== undefined && spec['schedule'] !== null) notYet(c, 'spec.schedule', 'a schedule (mode cron)');
  }
  const u = spec['update'];
  if (isObj(u)) {
    for (const k of UPDATE_NOT_YET) if (u[k] !== undefined && u[k] !== null) notYet(c, `spec.update.${k}`, `update.${k} (rolling updates follow parallelism and order only)`);
  }
  const pl = spec['placement'];
  if (isObj(pl) && pl['spread'] !== undefined && pl['spread'] !== null) {
    notYet(c, 'spec.placement.spread', 'placement.spread over a node label (the scheduler spreads a service\'s tasks over nodes by count)');
  }
  unsupportedTemplateFields(c, spec['template'], 'spec.template');
}

/** `spec.networks` (unique DNS-1123 labels, at most MAX_SERVICE_NETWORKS) and `spec.endpointMode`. */
function validateNetworks(c: Causes, spec: Obj): void {
  optEnum(c, spec, 'endpointMode', 'spec.endpointMode', ['vip', 'dnsrr']);
  const nets = optArray(c, spec, 'networks', 'spec.networks');
  if (!nets) return;
  if (nets.length > MAX_SERVICE_NETWORKS) c.add('spec.networks', REASON.tooLong, `at most ${MAX_SERVICE_NETWORKS} networks`);
  const seen = new Set<string>();
  nets.forEach((n, i) => {
    const p = `spec.networks[${i}]`;
    if (typeof n !== 'string' || !isDnsLabel(n)) return c.invalid(p, n, 'must be a network name (a DNS-1123 label)');
    if (seen.has(n)) c.add(p, REASON.duplicate, `network ${n} is listed twice`);
    seen.add(n);
  });
}

/** `spec.schedule`: required with mode cron (a valid cron expression), forbidden otherwise. */
function validateSchedule(c: Causes, spec: Obj, mode: string): void {
  const schedule = spec['schedule'];
  if (mode === 'cron') {
    if (schedule === undefined || schedule === null || schedule === '') c.required('spec.schedule', 'a cron schedule for mode cron');
    else if (typeof schedule !== 'string') c.invalid('spec.schedule', schedule, 'must be a string');
    else {
      const p = cronProblem(schedule);
      if (p) c.invalid('spec.schedule', schedule, `not a valid cron expression: ${p}`);
    }
  } else if (schedule !== undefined && schedule !== null) {
    c.add('spec.schedule', REASON.forbidden, 'schedule is only for mode cron, which is not supported yet');
  }
}
