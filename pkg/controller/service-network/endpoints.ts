/**
 * What a service's Endpoints object says (pure): its VIP, endpoint mode, networks, ingress
 * ports and the addresses of its running tasks. Agents program their dataplane and DNS from
 * these and the Nodes, not from every task of the cluster.
 */
import { API_VERSION, DEFAULT_NETWORK, type Endpoints, type Service, type Task } from '../../api/index.js';

/** Services that get a VIP and Endpoints: replicated and global (jobs and cron runs are not served). */
export function isServed(svc: Service): boolean {
  const mode = svc.spec.mode ?? 'replicated';
  return mode === 'replicated' || mode === 'global';
}

export function wantsVip(svc: Service): boolean {
  return isServed(svc) && (svc.spec.endpointMode ?? 'vip') === 'vip';
}

/** A task is an endpoint while it is desired running, reported running and has an address. */
export function isEndpoint(t: Task): boolean {
  return t.spec.desiredState === 'running' && t.status.state === 'running' && typeof t.status.ip === 'string' && t.status.ip !== '';
}

export function endpointsSpec(svc: Service, tasks: Iterable<Task>): Endpoints['spec'] {
  const addresses: Endpoints['spec']['addresses'] = [];
  for (const t of tasks) {
    if (!isEndpoint(t)) continue;
    addresses.push({ ip: t.status.ip!, taskName: t.metadata.name, nodeName: t.spec.nodeName ?? '' });
  }
  addresses.sort((a, b) => ipOrder(a.ip) - ipOrder(b.ip) || (a.taskName < b.taskName ? -1 : 1));
  const nets = svc.spec.networks !== undefined && svc.spec.networks.length > 0 ? [...new Set(svc.spec.networks)].sort() : [DEFAULT_NETWORK];
  const spec: Endpoints['spec'] = {
    endpointMode: svc.spec.endpointMode ?? 'vip',
    networks: nets,
    ingress: (svc.spec.ports ?? [])
      .filter((p) => (p.mode ?? 'ingress') === 'ingress')
      .map((p) => ({ protocol: p.protocol ?? 'TCP', port: p.port, targetPort: p.targetPort })),
    addresses,
  };
  if (svc.metadata.uid !== undefined) spec.serviceUid = svc.metadata.uid;
  const vip = svc.status?.virtualIP;
  if (vip !== undefined && spec.endpointMode === 'vip') spec.virtualIP = vip;
  return spec;
}

export function endpointsObject(svc: Service, spec: Endpoints['spec']): Endpoints {
  return {
    apiVersion: API_VERSION,
    kind: 'Endpoints',
    metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace ?? 'default' },
    spec,
  };
}

function ipOrder(ip: string): number {
  let n = 0;
  for (const part of ip.split('.')) n = n * 256 + Number(part);
  return n;
}
