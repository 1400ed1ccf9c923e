/** The typed object registry of the controller: one ResourceRegistry per kind plus the scale subresource. */
import {
  API_VERSION, errors, isShoalError, MAX_REPLICAS, reservedPortCauses,
  type Config, type Endpoints, type HostPortPolicy, type Network, type Node, type Secret, type Service, type Task,
} from '../../api/index.js';
import type { Store } from '../../store/index.js';
import { ResourceRegistry, type ResourceRegistryOptions } from './resource.js';
import { configStrategy, missingReferences, refAnnotation, referenceInUse, referencesOf, secretStrategy, type AtRest } from './secrets.js';
import { endpointsStrategy, missingNetworks, networkInUse, networkStrategy, nodeStrategy, serviceStrategy, taskStrategy } from './strategies.js';

/** The scale subresource (`services/{name}/scale`). */
export interface Scale {
  apiVersion: typeof API_VERSION;
  kind: 'Scale';
  metadata: { name: string; namespace: string; resourceVersion?: string; uid?: string; creationTimestamp?: string };
  spec: { replicas: number };
  status: { replicas: number };
}

export class Registry {
  readonly services: ResourceRegistry<Service>;
  readonly tasks: ResourceRegistry<Task>;
  readonly nodes: ResourceRegistry<Node>;
  readonly networks: ResourceRegistry<Network>;
  readonly endpoints: ResourceRegistry<Endpoints>;
  readonly secrets: ResourceRegistry<Secret>;
  readonly configs: ResourceRegistry<Config>;

  constructor(readonly store: Store, opts: ResourceRegistryOptions & { hostPorts?: HostPortPolicy; atRest?: AtRest } = {}) {
    const hostPorts = opts.hostPorts;
    const refExists = async (kind: 'secrets' | 'configs', ns: string, name: string): Promise<boolean> => {
      try {
        await (kind === 'secrets' ? this.secrets : this.configs).get(ns, name);
        return true;
      } catch (err) {
        if (isShoalError(err, 'NotFound')) return false;
        throw err;
      }
    };
    const exists = async (ns: string, name: string): Promise<boolean> => {
      try {
        await this.networks.get(ns, name);
        return true;
      } catch (err) {
        if (isShoalError(err, 'NotFound')) return false;
        throw err;
      }
    };
    this.services = new ResourceRegistry(store, {
      // validateService (the strategy's validate) also refuses what this version cannot
      // honour; admit adds what needs the cluster: the reserved ports, taken ports, networks.
      ...serviceStrategy,
      admit: async (next, others) => [
        ...(hostPorts ? reservedPortCauses(next.spec, hostPorts) : []),
        ...(await serviceStrategy.admit!(next, others)),
        ...(await missingNetworks(next, exists)),
        ...(await missingReferences(next, refExists)),
      ],
    }, opts);
    const inUse = async (kind: 'secret' | 'config', obj: Secret | Config): Promise<void> =>
      referenceInUse(kind, obj, (await this.services.list({ namespace: obj.metadata.namespace ?? 'default' })).items);
    this.secrets = new ResourceRegistry<Secret>(store, {
      ...secretStrategy(opts.atRest),
      checkDelete: (o) => inUse('secret', o),
      afterChange: (_prev, next) => this.rollUsersOf('secret', next),
    }, opts);
    this.configs = new ResourceRegistry<Config>(store, {
      ...configStrategy,
      checkDelete: (o) => inUse('config', o),
      afterChange: (_prev, next) => this.rollUsersOf('config', next),
    }, opts);
    this.networks = new ResourceRegistry(store, {
      ...networkStrategy,
      checkDelete: async (net) => networkInUse(net, (await this.services.list({ namespace: net.metadata.namespace ?? 'default' })).items),
    }, opts);
    this.endpoints = new ResourceRegistry(store, endpointsStrategy, opts);
    this.tasks = new ResourceRegistry(store, taskStrategy, opts);
    this.nodes = new ResourceRegistry(store, nodeStrategy, opts);
  }

  static scaleOf(s: Service): Scale {
    const meta: Scale['metadata'] = { name: s.metadata.name, namespace: s.metadata.namespace ?? 'default' };
    if (s.metadata.resourceVersion !== undefined) meta.resourceVersion = s.metadata.resourceVersion;
    if (s.metadata.uid !== undefined) meta.uid = s.metadata.uid;
    if (s.metadata.creationTimestamp !== undefined) meta.creationTimestamp = s.metadata.creationTimestamp;
    return { apiVersion: API_VERSION, kind: 'Scale', metadata: meta, spec: { replicas: s.spec.replicas ?? 1 }, status: { replicas: s.status?.replicas ?? 0 } };
  }

  /**
   * A secret or config changed: every service of its namespace that uses it gets the new
   * generation in a template annotation, which is a template change like any other: the
   * orchestrator replaces its tasks as a rolling update, and the new tasks get the new value.
   */
  private async rollUsersOf(kind: 'secret' | 'config', obj: Secret | Config): Promise<void> {
    const ns = obj.metadata.namespace ?? 'default';
    const key = refAnnotation(kind, obj.metadata.name);
    const version = String(obj.metadata.generation ?? 1);
    for (const svc of (await this.services.list({ namespace: ns })).items) {
      if (!referencesOf(svc)[kind === 'secret' ? 'secrets' : 'configs'].includes(obj.metadata.name)) continue;
      await this.services.update(ns, svc.metadata.name, (cur) => {
        if (cur.spec.template.metadata?.annotations?.[key] === version) return undefined;
        const template = { ...cur.spec.template, metadata: { ...cur.spec.template.metadata, annotations: { ...cur.spec.template.metadata?.annotations, [key]: version } } };
        // A spec change: a new generation, so the orchestrator rolls the tasks.
        return { ...cur, metadata: { ...cur.metadata, generation: (cur.metadata.generation ?? 1) + 1 }, spec: { ...cur.spec, template } };
      });
    }
  }

  async getScale(namespace: string, name: string): Promise<Scale> {
    return Registry.scaleOf(await this.services.get(namespace, name));
  }

  /** Sets `spec.replicas` from a Scale body (`{spec: {replicas}}`), CAS on its resourceVersion when given. */
  async updateScale(namespace: string, name: string, body: unknown): Promise<Scale> {
    const b = body as { spec?: { replicas?: unknown }; metadata?: { resourceVersion?: unknown } } | null;
    const replicas = b && typeof b === 'object' ? b.spec?.replicas : undefined;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS) {
      throw errors.invalid(`Scale "${name}" is invalid: spec.replicas must be an integer between 0 and ${MAX_REPLICAS}`, [
        { field: 'spec.replicas', reason: replicas === undefined ? 'FieldValueRequired' : 'FieldValueInvalid', message: `must be an integer between 0 and ${MAX_REPLICAS}` },
      ], { kind: 'Scale', name });
    }
    const rvRaw = b?.metadata?.resourceVersion;
    if (rvRaw !== undefined && rvRaw !== null && (typeof rvRaw !== 'string' || !/^\d{1,15}$/.test(rvRaw))) {
      throw errors.invalidArgument('metadata.resourceVersion must be a decimal string');
    }
    const rv = typeof rvRaw === 'string' && rvRaw !== '' ? Number(rvRaw) : undefined;
    const s = await this.services.update(
      namespace,
      name,
      (cur) => {
        if ((cur.spec.mode ?? 'replicated') === 'global') {
          throw errors.invalid(`Service "${name}" is global: it runs one task per node and cannot be scaled`, [
            { field: 'spec.replicas', reason: 'FieldValueForbidden', message: 'a global service cannot be scaled' },
          ]);
        }
        if (cur.spec.replicas === replicas) return undefined;
        cur.spec.replicas = replicas;
        cur.metadata.generation = (cur.metadata.generation ?? 1) + 1;
        return cur;
      },
      rv,
    );
    return Registry.scaleOf(s);
  }
}
