/**
 * What the cluster admits beyond a well-formed spec (issue 13), pure:
 *
 * - `unsupportedServiceFields`: fields the schema knows but this version does not honour yet
 *   (volumes, probes, cron, update pacing, placement.spread...). They are refused with 422
 *   and the field, never accepted and ignored; validateService includes these causes.
 * - `reservedPortCauses`: published ports that would capture the cluster's own traffic (the
 *   API, etcd, VXLAN, SSH) are refused for everyone unless `--allowed-host-ports` lists them.
 * - `privilegedServiceFeatures`: what reaches the host (host networking, ports below 1024,
 *   hostPath volumes), which only an admin may ask for.
 */
import type { FieldCause } from './errors.js';
import type { ServiceSpec } from './types.js';
import { Causes, isObj } from './validation-fields.js';
import { unsupportedServiceSpecFields } from './validation-service.js';

/**
 * Causes for every field of a service the cluster would not honour. validateService reports
 * the same causes (with the shape problems, all at once); this is the same check alone.
 */
export function unsupportedServiceFields(body: unknown): FieldCause[] {
  const c = new Causes();
  const spec = isObj(body) ? body['spec'] : undefined;
  if (isObj(spec)) unsupportedServiceSpecFields(c, spec);
  return c.list;
}

/** Ports as `--allowed-host-ports` takes them: `80,443,8000-8100`. */
export class PortSet {
  private constructor(private readonly ranges: readonly (readonly [number, number])[]) {}

  static readonly EMPTY = new PortSet([]);

  static parse(text: string): PortSet {
    const ranges: [number, number][] = [];
    for (const part of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
      const lo = m ? Number(m[1]) : NaN;
      const hi = m ? Number(m[2] ?? m[1]) : NaN;
      if (!m || lo < 1 || hi > 65535 || lo > hi) throw new Error(`"${part}" is not a port or a range of ports (1-65535, e.g. 80 or 8000-8100)`);
      ranges.push([lo, hi]);
    }
    return new PortSet(ranges);
  }

  has(port: number): boolean {
    return this.ranges.some(([lo, hi]) => port >= lo && port <= hi);
  }

  toString(): string {
    return this.ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(',');
  }
}

export interface HostPortPolicy {
  /** Port → what it is (the controller's API, etcd, VXLAN, SSH). */
  reserved: ReadonlyMap<number, string>;
  /** `--allowed-host-ports`: reserved ports that may be published anyway. */
  allowed: PortSet;
}

/** The cluster's own ports: the API, etcd's client and peer ports, VXLAN, SSH. */
export function clusterReservedPorts(apiPort: number, extra: ReadonlyMap<number, string> = new Map()): Map<number, string> {
  return new Map<number, string>([
    [22, 'SSH'],
    [2379, "etcd's client port"],
    [2380, "etcd's peer port"],
    [4789, 'the VXLAN overlay'],
    [apiPort, "the controller's API"],
    ...extra,
  ]);
}

export function reservedPortCauses(spec: Pick<ServiceSpec, 'ports'>, policy: HostPortPolicy): FieldCause[] {
  const out: FieldCause[] = [];
  (spec.ports ?? []).forEach((p, i) => {
    const what = policy.reserved.get(p.port);
    if (what !== undefined && !policy.allowed.has(p.port)) {
      out.push({
        field: `spec.ports[${i}].port`,
        reason: 'FieldValueForbidden',
        message: `port ${p.port} is ${what}: publishing it would capture the node's own traffic to it; refused unless the controller runs with --allowed-host-ports ${p.port}`,
      });
    }
  });
  return out;
}

/** A feature of a service that reaches the host: `field` is its path, `reason` why only an admin may ask for it. */
export interface PrivilegedFeature {
  field: string;
  reason: string;
}

/**
 * What in a service reaches the host, which only an admin may create (the auth layer calls
 * this on every service write by a non-admin and refuses with 403 when it is not empty):
 * host networking (`spec.template.spec.network: host`), published ports below 1024 (ingress
 * or host mode: either binds the port on nodes), hostPath volumes (refused for everyone
 * today, listed so that the rule holds when volumes come).
 */
export function privilegedServiceFeatures(spec: ServiceSpec): PrivilegedFeature[] {
  const out: PrivilegedFeature[] = [];
  const tspec = spec.template?.spec;
  if (tspec?.network === 'host') out.push({ field: 'spec.template.spec.network', reason: "host networking shares the node's network stack" });
  (spec.ports ?? []).forEach((p, i) => {
    if (p.port < 1024) out.push({ field: `spec.ports[${i}].port`, reason: `port ${p.port} is a privileged port of every node` });
  });
  (tspec?.volumes ?? []).forEach((v, i) => {
    if (v.hostPath !== undefined) out.push({ field: `spec.template.spec.volumes[${i}].hostPath`, reason: `a hostPath volume (${v.hostPath.path}) exposes the node's files to the task` });
  });
  return out;
}
