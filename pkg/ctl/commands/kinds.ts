/**
 * The kinds the cluster commands name, and how users write them: `services`, `service`, `svc`
 * (kubectl's spellings) on the command line, `Service` in manifests, `service/web` in output
 * and references.
 */
import { errors, type ResourcePlural } from '../../api/index.js';

const KINDS: Record<string, ResourcePlural> = {
  service: 'services', services: 'services', svc: 'services',
  task: 'tasks', tasks: 'tasks',
  node: 'nodes', nodes: 'nodes', no: 'nodes',
  network: 'networks', networks: 'networks', net: 'networks',
  endpoints: 'endpoints', ep: 'endpoints',
  secret: 'secrets', secrets: 'secrets',
  config: 'configs', configs: 'configs', cm: 'configs',
};
const SINGULAR: Record<ResourcePlural, string> = { services: 'service', tasks: 'task', nodes: 'node', networks: 'network', endpoints: 'endpoints', secrets: 'secret', configs: 'config' };
const PLURAL_OF_KIND: Record<string, ResourcePlural> = {
  Service: 'services', Task: 'tasks', Node: 'nodes', Network: 'networks', Endpoints: 'endpoints', Secret: 'secrets', Config: 'configs',
};

/** The resource a command-line kind names; InvalidArgument for anything else. */
export function pluralOf(kind: string): ResourcePlural {
  const p = KINDS[kind.toLowerCase()];
  if (!p) throw errors.invalidArgument(`unknown resource type "${kind}": use services, tasks, nodes, networks, endpoints, secrets or configs`);
  return p;
}

/** The resource of a manifest's `kind` (`Service`), or undefined when it names none. */
export function pluralOfKind(kind: unknown): ResourcePlural | undefined {
  return typeof kind === 'string' ? PLURAL_OF_KIND[kind] : undefined;
}

/** `service/web` for people. */
export function refText(plural: ResourcePlural, name: string): string {
  return `${SINGULAR[plural]}/${name}`;
}

/** `service/web` or `web` (with a default kind). */
export function parseRef(ref: string, defaultKind?: string): { plural: ResourcePlural; name: string } {
  const i = ref.indexOf('/');
  if (i < 0) {
    if (!defaultKind) throw errors.invalidArgument(`"${ref}": want KIND/NAME, e.g. service/web`);
    return { plural: pluralOf(defaultKind), name: ref };
  }
  return { plural: pluralOf(ref.slice(0, i)), name: ref.slice(i + 1) };
}
