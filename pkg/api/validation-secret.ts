/**
 * Validation of Secrets and Configs (namespaced; `data` is base64 of at most 500 KB, as
 * Swarm's), and of the template's references to them (Swarm's shape, DESIGN.md section 3).
 */
import type { FieldCause } from './errors.js';
import { checkKeys, isDnsSubdomain, isObj, optArray, REASON, Causes, type Obj } from './validation-fields.js';
import { validateObjectMeta } from './validation-meta.js';

export const MAX_SECRET_BYTES = 500 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Every problem of a Secret or Config object. */
export function validateSecretLike(body: unknown, kind: 'Secret' | 'Config'): FieldCause[] {
  const c = new Causes();
  if (!isObj(body)) {
    c.invalid('<root>', body, `a ${kind} must be a JSON or YAML object`);
    return c.list;
  }
  checkKeys(c, body, '', ['apiVersion', 'kind', 'metadata', 'data', 'status']);
  if (body['apiVersion'] !== 'shoal/v1') c.invalid('apiVersion', body['apiVersion'], 'must be shoal/v1');
  if (body['kind'] !== kind) c.invalid('kind', body['kind'], `must be ${kind}`);
  validateObjectMeta(c, body['metadata'], { name: 'subdomain', namespaced: true });
  const data = body['data'];
  if (data === undefined || data === null) c.required('data', `the ${kind === 'Secret' ? "secret's" : "config's"} value, base64-encoded`);
  else if (typeof data !== 'string' || data.length % 4 !== 0 || !BASE64.test(data)) c.invalid('data', '(hidden)', 'must be base64 (RFC 4648, with padding)');
  else if (Buffer.byteLength(data, 'base64') > MAX_SECRET_BYTES) c.add('data', REASON.tooLong, `must be at most ${MAX_SECRET_BYTES / 1024} KB once decoded`);
  if (body['status'] !== undefined && !(isObj(body['status']) && Object.keys(body['status']).length === 0)) c.add('status', REASON.forbidden, `a ${kind} has no status`);
  return c.list;
}

/** A file name under /run/secrets: one path element, no dot-dot. */
function isFileName(s: string): boolean {
  return s.length > 0 && s.length <= 255 && !/[/:\0]/.test(s) && s !== '.' && s !== '..';
}

const FORBIDDEN_CONFIG_ROOTS = ['/proc', '/sys', '/dev', '/run/secrets'];

function mode(c: Causes, o: Obj, p: string): void {
  const m = o['mode'];
  if (m !== undefined && (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > 0o777)) c.invalid(`${p}.mode`, m, 'must be a file mode between 0 and 0777 (e.g. 0400 = 256)');
}

/** `spec.template.spec.secrets` and `.configs`. */
export function validateSecretRefs(c: Causes, spec: Obj, sp: string): void {
  const targets = new Set<string>();
  optArray(c, spec, 'secrets', `${sp}.secrets`)?.forEach((r, i) => {
    const p = `${sp}.secrets[${i}]`;
    if (!isObj(r)) return c.invalid(p, r, 'must be an object');
    checkKeys(c, r, p, ['source', 'target', 'mode', 'uid', 'gid']);
    const src = r['source'];
    if (typeof src !== 'string' || !isDnsSubdomain(src)) return c.invalid(`${p}.source`, src, 'must name a secret (a DNS-1123 subdomain)');
    const target = r['target'] ?? src;
    if (typeof target !== 'string' || !isFileName(target)) return c.invalid(`${p}.target`, target, 'must be a file name under /run/secrets (no "/" or ":")');
    if (targets.has(`/run/secrets/${target}`)) c.add(`${p}.target`, REASON.duplicate, `/run/secrets/${target} is mounted twice`);
    targets.add(`/run/secrets/${target}`);
    mode(c, r, p);
    for (const k of ['uid', 'gid']) {
      const v = r[k];
      if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xfffffffe)) c.invalid(`${p}.${k}`, v, 'must be a numeric id');
    }
  });
  optArray(c, spec, 'configs', `${sp}.configs`)?.forEach((r, i) => {
    const p = `${sp}.configs[${i}]`;
    if (!isObj(r)) return c.invalid(p, r, 'must be an object');
    checkKeys(c, r, p, ['source', 'target', 'mode']);
    const src = r['source'];
    if (typeof src !== 'string' || !isDnsSubdomain(src)) return c.invalid(`${p}.source`, src, 'must name a config (a DNS-1123 subdomain)');
    const target = r['target'];
    if (target === undefined) return c.required(`${p}.target`, 'the absolute path of the file in the container');
    if (typeof target !== 'string' || !target.startsWith('/') || target.length > 4096 || target.split('/').some((e) => e === '..' || e === '.') || target.endsWith('/') || /[:\0]/.test(target)) {
      return c.invalid(`${p}.target`, target, 'must be an absolute file path without . or .. elements or ":"');
    }
    if (FORBIDDEN_CONFIG_ROOTS.some((root) => target === root || target.startsWith(`${root}/`))) c.invalid(`${p}.target`, target, `may not be under ${FORBIDDEN_CONFIG_ROOTS.join(', ')}`);
    if (targets.has(target)) c.add(`${p}.target`, REASON.duplicate, `${target} is mounted twice`);
    targets.add(target);
    mode(c, r, p);
  });
}
