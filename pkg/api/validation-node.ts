/**
 * Validation of a Node (spec: availability, labels, podCIDR) and of its status (the agent's
 * status subresource writes: state, addresses, capacity, info).
 */
import type { FieldCause } from './errors.js';
import { isQuantity } from './quantity.js';
import { isCidr, isIP } from './cidr.js';
import { checkKeys, checkTime, isObj, labelMap, optArray, optEnum, optInt, optObj, optString, Causes, type Obj, type ValidateOptions } from './validation-fields.js';
import { checkObject } from './validation-meta.js';

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
  checkKeys(c, status, path, ['state', 'message', 'addresses', 'capacity', 'allocatable', 'lastHeartbeat', 'info', 'overlay']);
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
  const ov = optObj(c, status, 'overlay', `${path}.overlay`);
  if (ov) {
    const p = `${path}.overlay`;
    checkKeys(c, ov, p, ['vtepMAC', 'address', 'port']);
    for (const k of ['vtepMAC', 'address', 'port']) if (ov[k] === undefined) c.required(`${p}.${k}`, k);
    const mac = optString(c, ov, 'vtepMAC', `${p}.vtepMAC`, 17);
    if (mac !== undefined && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) c.invalid(`${p}.vtepMAC`, mac, 'must be a lower-case MAC address such as 0e:12:34:56:78:9a');
    const addr = optString(c, ov, 'address', `${p}.address`, 15);
    if (addr !== undefined && !isIP(addr)) c.invalid(`${p}.address`, addr, 'must be an IPv4 address');
    optInt(c, ov, 'port', `${p}.port`, 1, 65535);
  }
  return c.list;
}

/** Every problem of a Node object. */
export function validateNode(body: unknown, opts: ValidateOptions = {}): FieldCause[] {
  const c = new Causes();
  const obj = checkObject(c, body, 'Node', { name: 'subdomain', namespaced: false });
  if (obj === undefined) return c.list;
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
