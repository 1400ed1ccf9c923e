/**
 * What the cluster admits beyond a well-formed spec (issue 13), pure:
 *
 * - `unsupportedServiceFields`: fields the schema knows but this version does not honour yet
 *   (volumes, probes, cron, update pacing and rollback...). They are refused with 422 and the
 *   field, never accepted and ignored.
 * - `reservedPortCauses`: published ports that would capture the cluster's own traffic (the
 *   API, etcd, VXLAN, SSH) are refused for everyone unless `--allowed-host-ports` lists them.
 * - `privilegedServiceFeatures`: what reaches the host (host networking, ports below 1024),
 *   which only an admin may ask for.
 */
import type { FieldCause } from './errors.js';
import type { ServiceSpec } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function notYet(field: string, what: string): FieldCause {
  return { field, reason: 'FieldValueNotSupported', message: `${what} is not supported by this version of Shoal yet; remove it (it would not be honoured)` };
}

/** Causes for every field of a service the cluster would not honour. */
export function unsupportedServiceFields(body: unknown): FieldCause[] {
  const out: FieldCause[] = [];
  const spec = isObj(body) && isObj(body['spec']) ? body['spec'] : undefined;
  if (!spec) return out;
  if (spec['mode'] === 'cron') out.push(notYet('spec.mode', 'mode cron (scheduled runs)'));
  const update = spec['update'];
  if (isObj(update)) {
    for (const k of ['delay', 'monitor', 'failureAction', 'maxFailureRatio']) if (update[k] !== undefined) out.push(notYet(`spec.update.${k}`, `update.${k}`));
  }
  const tspec = isObj(spec['template']) && isObj(spec['template']['spec']) ? spec['template']['spec'] : undefined;
  if (!tspec) return out;
  const sp = 'spec.template.spec';
  if (Array.isArray(tspec['volumes']) && tspec['volumes'].length > 0) {
    tspec['volumes'].forEach((v, i) => {
      const src = isObj(v) ? (['hostPath', 'emptyDir'].find((k) => v[k] !== undefined) ?? '') : '';
      out.push(notYet(`${sp}.volumes[${i}]${src ? `.${src}` : ''}`, `${src || 'a'} volume`));
    });
  }
  if (tspec['restartPolicy'] !== undefined) out.push(notYet(`${sp}.restartPolicy`, 'restartPolicy (use spec.restart)'));
  const net = tspec['network'];
  if (typeof net === 'string' && !['bridge', 'host', 'none'].includes(net)) {
    out.push({ field: `${sp}.network`, reason: 'FieldValueNotSupported', message: `network "${net}": a task's network is bridge (the default: the cluster network), host or none; services join cluster networks with spec.networks` });
  }
  const containers = Array.isArray(tspec['containers']) ? tspec['containers'] : [];
  if (containers.length > 1) out.push(notYet(`${sp}.containers[1]`, 'more than one container per task'));
  containers.forEach((c, i) => {
    if (!isObj(c)) return;
    const p = `${sp}.containers[${i}]`;
    for (const k of ['livenessProbe', 'readinessProbe']) if (c[k] !== undefined) out.push(notYet(`${p}.${k}`, k));
    if (Array.isArray(c['volumeMounts']) && c['volumeMounts'].length > 0) out.push(notYet(`${p}.volumeMounts`, 'volumeMounts'));
    const ipp = c['imagePullPolicy'];
    if (ipp !== undefined && ipp !== 'IfNotPresent') out.push(notYet(`${p}.imagePullPolicy`, `imagePullPolicy ${String(ipp)} (agents pull an image when they lack it: IfNotPresent)`));
  });
  return out;
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

/** What in a service reaches the host, which only an admin may create. */
export function privilegedServiceFeatures(spec: ServiceSpec): { field: string; reason: string }[] {
  const out: { field: string; reason: string }[] = [];
  if (spec.template?.spec?.network === 'host') out.push({ field: 'spec.template.spec.network', reason: "host networking shares the node's network stack" });
  (spec.ports ?? []).forEach((p, i) => {
    if (p.port < 1024) out.push({ field: `spec.ports[${i}].port`, reason: `port ${p.port} is a privileged port of every node` });
  });
  return out;
}
