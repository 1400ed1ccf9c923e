/**
 * The cluster's names as the embedded DNS answers them (pure, built once per ClusterNetworkSpec
 * so a query is a few map lookups). A name is answered only to an asker that shares a network
 * with it (Swarm's rule): the asker is known by its address, an endpoint of some service.
 *
 *   <service>, <service>.<namespace>            the VIP (dnsrr: the task addresses)
 *   tasks.<service>, tasks.<service>.<namespace> the running task addresses
 *   <task-name>, <task-name>.<namespace>        that task's address
 *
 * Networks are namespaced, so a short name resolves within the asker's own namespace.
 */
import type { ClusterNetworkSpec } from '../cluster-spec.js';

export class ClusterRecords {
  /** Endpoint address → the networks of its service(s). */
  private readonly networksOf = new Map<string, Set<string>>();
  /** Network key → name → addresses. */
  private readonly names = new Map<string, Map<string, string[]>>();
  /** Service key → its networks (for an asker not yet among the endpoints: a task just started). */
  private readonly serviceNetworks = new Map<string, string[]>();

  constructor(spec?: ClusterNetworkSpec) {
    if (spec === undefined) return;
    for (const s of spec.services) {
      this.serviceNetworks.set(s.key, s.networks);
      const ips = s.endpoints.map((e) => e.ip);
      const records = new Map<string, string[]>();
      const front = s.endpointMode === 'vip' ? (s.virtualIP !== undefined ? [s.virtualIP] : []) : ips;
      const put = (name: string, addrs: string[]): void => {
        if (addrs.length > 0) records.set(name.toLowerCase(), addrs);
      };
      for (const n of [s.name, `${s.name}.${s.namespace}`]) put(n, front);
      for (const n of [`tasks.${s.name}`, `tasks.${s.name}.${s.namespace}`]) put(n, ips);
      for (const e of s.endpoints) {
        put(e.taskName, [e.ip]);
        put(`${e.taskName}.${s.namespace}`, [e.ip]);
      }
      for (const net of s.networks) {
        let m = this.names.get(net);
        if (m === undefined) this.names.set(net, (m = new Map()));
        for (const [k, v] of records) m.set(k, [...new Set([...(m.get(k) ?? []), ...v])]);
      }
      for (const ip of ips) {
        let nets = this.networksOf.get(ip);
        if (nets === undefined) this.networksOf.set(ip, (nets = new Set()));
        for (const net of s.networks) nets.add(net);
      }
    }
  }

  /**
   * The addresses of `name` as `asker` may see them; empty when none (or the asker is unknown).
   * `askerService` names the asker's service (`<ns>/<name>`) when the node knows the address as
   * one of its task containers: a task asks before its address is among the endpoints.
   */
  lookup(name: string, asker: string, askerService?: string): string[] {
    const nets: Iterable<string> | undefined = this.networksOf.get(asker) ?? (askerService !== undefined ? this.serviceNetworks.get(askerService) : undefined);
    if (nets === undefined) return [];
    const key = name.toLowerCase().replace(/\.$/, '');
    let out: string[] | undefined;
    for (const net of nets) {
      const found = this.names.get(net)?.get(key);
      if (found === undefined) continue;
      out = out === undefined ? found : [...new Set([...out, ...found])];
    }
    return out ?? [];
  }
}
