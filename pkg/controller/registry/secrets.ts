/**
 * Secrets and Configs in the registry (issue 13): their strategies, the codec that keeps a
 * secret's value sealed in etcd, the checks services need (a referenced secret exists, a
 * secret in use is not deleted), and the roll of the services that use one when it changes.
 */
import {
  errors, validateSecretLike, type Config, type FieldCause, type Secret, type Service,
} from '../../api/index.js';
import { decodeObject, type KeyValue } from '../../store/index.js';
import type { ResourceStrategy } from './resource.js';

/** Seals and opens values at rest (the cluster's encryption key); absent: secrets cannot be stored. */
export interface AtRest {
  seal(plain: Buffer, aad: string): string;
  open(sealed: string, aad: string): Buffer;
}

/** The annotation of a service's template that records which version of a secret or config its tasks got. */
export function refAnnotation(kind: 'secret' | 'config', name: string): string {
  return `shoal.io/${kind}.${name}`;
}

function secretCodec(atRest: AtRest | undefined): NonNullable<ResourceStrategy<Secret>['codec']> {
  const need = (): AtRest => {
    if (!atRest) throw errors.unavailable('this controller holds no cluster encryption key: secrets cannot be stored or read');
    return atRest;
  };
  return {
    encode: (obj, key) => {
      const { data, ...rest } = obj;
      return JSON.stringify({ ...rest, sealedData: data === undefined ? undefined : need().seal(Buffer.from(data, 'base64'), key) });
    },
    decode: (kv: KeyValue) => {
      const raw = decodeObject<Secret>(kv) as Secret & { sealedData?: string };
      const { sealedData, ...rest } = raw;
      if (sealedData === undefined) return rest;
      return { ...rest, data: need().open(sealedData, kv.key).toString('base64') };
    },
  };
}

const noStatus = (s: unknown): FieldCause[] =>
  s === undefined || (s !== null && typeof s === 'object' && Object.keys(s).length === 0) ? [] : [{ field: 'status', reason: 'FieldValueForbidden', message: 'has no status' }];

export function secretStrategy(atRest: AtRest | undefined): ResourceStrategy<Secret> {
  return {
    plural: 'secrets',
    kind: 'Secret',
    namespaced: true,
    validate: (o) => validateSecretLike(o, 'Secret'),
    validateStatus: noStatus,
    statusOnCreate: false,
    initialStatus: () => ({}),
    fieldSelectors: [],
    codec: secretCodec(atRest),
  };
}

export const configStrategy: ResourceStrategy<Config> = {
  plural: 'configs',
  kind: 'Config',
  namespaced: true,
  validate: (o) => validateSecretLike(o, 'Config'),
  validateStatus: noStatus,
  statusOnCreate: false,
  initialStatus: () => ({}),
  fieldSelectors: [],
};

/** The secrets and configs a service's template names. */
export function referencesOf(svc: Service): { secrets: string[]; configs: string[] } {
  const t = svc.spec.template?.spec;
  return { secrets: (t?.secrets ?? []).map((r) => r.source), configs: (t?.configs ?? []).map((r) => r.source) };
}

/** The secrets and configs a service names that do not exist in its namespace. */
export async function missingReferences(svc: Service, exists: (kind: 'secrets' | 'configs', ns: string, name: string) => Promise<boolean>): Promise<FieldCause[]> {
  const ns = svc.metadata.namespace ?? 'default';
  const out: FieldCause[] = [];
  const t = svc.spec.template?.spec;
  for (const [kind, refs] of [['secrets', t?.secrets ?? []], ['configs', t?.configs ?? []]] as const) {
    for (const [i, r] of refs.entries()) {
      if (await exists(kind, ns, r.source)) continue;
      out.push({
        field: `spec.template.spec.${kind}[${i}].source`, reason: 'FieldValueNotFound',
        message: `${kind === 'secrets' ? 'secret' : 'config'} ${r.source} does not exist in namespace ${ns} (shoalctl create ${kind === 'secrets' ? 'secret' : 'config'} ${r.source} --from-file FILE${ns === 'default' ? '' : ` -n ${ns}`})`,
      });
    }
  }
  return out;
}

/** A secret or config that services use cannot go: 409 naming them. */
export function referenceInUse(kind: 'secret' | 'config', obj: Secret | Config, services: readonly Service[]): void {
  const users = services.filter((s) => referencesOf(s)[kind === 'secret' ? 'secrets' : 'configs'].includes(obj.metadata.name)).map((s) => s.metadata.name);
  if (users.length > 0) {
    throw errors.failedPrecondition(`${kind} ${obj.metadata.name} is in use by service${users.length > 1 ? 's' : ''} ${users.slice(0, 10).join(', ')}${users.length > 10 ? ` and ${users.length - 10} more` : ''}: remove it from their templates first`);
  }
}

/** The value a client may see of a secret: none, unless an admin asked to reveal it. */
export function redactSecret<T>(obj: T, reveal: boolean): T {
  const o = obj as { kind?: string; data?: string };
  if (o.kind !== 'Secret' || reveal || o.data === undefined) return obj;
  const { data: _data, ...rest } = o;
  return rest as T;
}
