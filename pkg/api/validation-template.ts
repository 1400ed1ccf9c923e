/**
 * Validation of the pod template (`spec.template` of a service and of a task): its labels,
 * volumes and containers (image reference, command, env, ports, resources, volume mounts).
 * A volume mount must name a volume of the same template.
 *
 * `unsupportedTemplateFields` (services only) refuses what the schema knows but no agent of
 * this version would do (volumes, probes...): a field is honoured or refused, never ignored.
 */
import { isQuantity, parseQuantity } from './quantity.js';
import { validateSecretRefs } from './validation-secret.js';
import {
  checkKeys, fieldPath, isDnsLabel, isObj, labelMap, optArray, optEnum, optInt, optObj, optString, REASON, stringList, type Causes, type Obj,
} from './validation-fields.js';

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::\d{1,5})?$|^\[[0-9a-fA-F:]+\](?::\d{1,5})?$/;

/** Why an image reference is malformed (Docker's grammar, checked lightly), or undefined. */
export function imageReferenceProblem(ref: string): string | undefined {
  if (ref === '') return 'must not be empty';
  if (ref.length > 255) return 'must be at most 255 characters';
  if (/\s/.test(ref)) return 'must not contain whitespace';
  let rest = ref;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) return `invalid digest "${rest.slice(at + 1)}"`;
    rest = rest.slice(0, at);
  }
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    const tag = rest.slice(colon + 1);
    if (!TAG.test(tag)) return `invalid tag "${tag}"`;
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || /[A-Z]/.test(first))) {
    if (!DOMAIN.test(first)) return `invalid registry host "${first}"`;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => p === '')) return 'repository must not be empty';
  for (const p of parts) {
    if (/[A-Z]/.test(p)) return `repository "${parts.join('/')}" must be lowercase`;
    if (!PATH_COMPONENT.test(p)) return `invalid repository component "${p}"`;
  }
  return undefined;
}

const CONTAINER_KEYS = [
  'name', 'image', 'command', 'args', 'workingDir', 'env', 'ports', 'resources', 'volumeMounts',
  'livenessProbe', 'readinessProbe', 'user', 'init', 'stopSignal', 'stopGracePeriodSeconds', 'imagePullPolicy',
] as const;
export const PROTOCOLS = ['TCP', 'UDP'] as const;

function validateResources(c: Causes, res: Obj, path: string): void {
  checkKeys(c, res, path, ['requests', 'limits', 'pids']);
  const amounts: Record<string, Record<string, number>> = {};
  for (const kind of ['requests', 'limits'] as const) {
    const m = optObj(c, res, kind, `${path}.${kind}`);
    if (!m) continue;
    amounts[kind] = {};
    for (const [k, v] of Object.entries(m)) {
      const p = fieldPath(`${path}.${kind}`, k);
      if (k !== 'cpu' && k !== 'memory') {
        c.notSupported(p, k, ['cpu', 'memory']);
        continue;
      }
      const text = typeof v === 'number' ? String(v) : v;
      if (typeof text !== 'string' || !isQuantity(text)) {
        c.invalid(p, v, k === 'cpu' ? 'must be a CPU quantity such as 500m or 2' : 'must be a memory quantity such as 64Mi or 1G');
        continue;
      }
      const n = parseQuantity(text);
      if (k === 'memory' && n > 0 && n < 4 * 1024 * 1024 && kind === 'limits') c.invalid(p, v, 'a memory limit must be at least 4Mi');
      amounts[kind][k] = n;
    }
  }
  for (const k of ['cpu', 'memory']) {
    const req = amounts['requests']?.[k];
    const lim = amounts['limits']?.[k];
    if (req !== undefined && lim !== undefined && req > lim) c.invalid(`${path}.requests.${k}`, req, `must be less than or equal to the ${k} limit`);
  }
  optInt(c, res, 'pids', `${path}.pids`, 1, 4_194_304);
}

function validateContainer(c: Causes, ct: unknown, path: string, volumeNames: Set<string> | undefined): string | undefined {
  if (!isObj(ct)) {
    c.invalid(path, ct, 'must be an object');
    return undefined;
  }
  checkKeys(c, ct, path, CONTAINER_KEYS);
  const name = ct['name'];
  let okName: string | undefined;
  if (name === undefined || name === null || name === '') c.required(`${path}.name`, 'name');
  else if (typeof name !== 'string' || !isDnsLabel(name)) c.invalid(`${path}.name`, name, 'must be a DNS-1123 label');
  else okName = name;
  const image = ct['image'];
  if (image === undefined || image === null || image === '') c.required(`${path}.image`, 'image');
  else if (typeof image !== 'string') c.invalid(`${path}.image`, image, 'must be a string');
  else {
    const problem = imageReferenceProblem(image);
    if (problem) c.invalid(`${path}.image`, image, `not a valid image reference: ${problem}`);
  }
  stringList(c, ct, 'command', `${path}.command`);
  stringList(c, ct, 'args', `${path}.args`);
  const wd = optString(c, ct, 'workingDir', `${path}.workingDir`, 4096);
  if (wd !== undefined && wd !== '' && !wd.startsWith('/')) c.invalid(`${path}.workingDir`, wd, 'must be an absolute path');
  optString(c, ct, 'user', `${path}.user`, 256);
  optString(c, ct, 'stopSignal', `${path}.stopSignal`, 32);
  optInt(c, ct, 'stopGracePeriodSeconds', `${path}.stopGracePeriodSeconds`, 0, 86_400);
  optEnum(c, ct, 'imagePullPolicy', `${path}.imagePullPolicy`, ['Always', 'IfNotPresent', 'Never']);
  if (ct['init'] !== undefined && typeof ct['init'] !== 'boolean') c.invalid(`${path}.init`, ct['init'], 'must be a boolean');
  for (const probe of ['livenessProbe', 'readinessProbe']) optObj(c, ct, probe, `${path}.${probe}`);
  validateEnv(c, ct, path);
  validateContainerPorts(c, ct, path);
  const res = optObj(c, ct, 'resources', `${path}.resources`);
  if (res) validateResources(c, res, `${path}.resources`);
  validateVolumeMounts(c, ct, path, volumeNames);
  return okName;
}

function validateEnv(c: Causes, ct: Obj, path: string): void {
  optArray(c, ct, 'env', `${path}.env`)?.forEach((e, i) => {
    const p = `${path}.env[${i}]`;
    if (!isObj(e)) return c.invalid(p, e, 'must be an object');
    checkKeys(c, e, p, ['name', 'value', 'valueFrom']);
    const n = e['name'];
    if (n === undefined || n === null || n === '') c.required(`${p}.name`, 'name');
    else if (typeof n !== 'string' || !ENV_NAME.test(n)) {
      c.invalid(`${p}.name`, n, 'an environment variable name must consist of letters, digits, "_", "-" or "." and must not start with a digit');
    }
    optString(c, e, 'value', `${p}.value`, 128 * 1024);
    if (e['valueFrom'] !== undefined) c.add(`${p}.valueFrom`, REASON.notSupported, 'valueFrom is not supported yet; use value');
  });
}

/** `containerPort`s, unique per port and protocol within the container. */
function validateContainerPorts(c: Causes, ct: Obj, path: string): void {
  const seenPorts = new Set<string>();
  optArray(c, ct, 'ports', `${path}.ports`)?.forEach((pt, i) => {
    const p = `${path}.ports[${i}]`;
    if (!isObj(pt)) return c.invalid(p, pt, 'must be an object');
    checkKeys(c, pt, p, ['containerPort', 'protocol', 'name']);
    if (pt['containerPort'] === undefined) c.required(`${p}.containerPort`, 'containerPort');
    const port = optInt(c, pt, 'containerPort', `${p}.containerPort`, 1, 65535);
    const proto = optEnum(c, pt, 'protocol', `${p}.protocol`, PROTOCOLS) ?? 'TCP';
    if (port !== undefined) {
      const k = `${port}/${proto}`;
      if (seenPorts.has(k)) c.add(`${p}.containerPort`, REASON.duplicate, `duplicate port ${k}`);
      seenPorts.add(k);
    }
    optString(c, pt, 'name', `${p}.name`, 15);
  });
}

/** Mounts of volumes the template declares, at distinct absolute paths. */
function validateVolumeMounts(c: Causes, ct: Obj, path: string, volumeNames: Set<string> | undefined): void {
  const mountPaths = new Set<string>();
  optArray(c, ct, 'volumeMounts', `${path}.volumeMounts`)?.forEach((vm, i) => {
    const p = `${path}.volumeMounts[${i}]`;
    if (!isObj(vm)) return c.invalid(p, vm, 'must be an object');
    checkKeys(c, vm, p, ['name', 'mountPath', 'readOnly', 'subPath']);
    const n = vm['name'];
    if (n === undefined || n === '') c.required(`${p}.name`, 'name');
    else if (typeof n !== 'string') c.invalid(`${p}.name`, n, 'must be a string');
    else if (volumeNames && !volumeNames.has(n)) c.add(`${p}.name`, REASON.notFound, `no volume named "${n}" in spec.template.spec.volumes`);
    const mp = vm['mountPath'];
    if (mp === undefined || mp === '') c.required(`${p}.mountPath`, 'mountPath');
    else if (typeof mp !== 'string' || !mp.startsWith('/')) c.invalid(`${p}.mountPath`, mp, 'must be an absolute path');
    else {
      if (mountPaths.has(mp)) c.add(`${p}.mountPath`, REASON.duplicate, `duplicate mount path "${mp}"`);
      mountPaths.add(mp);
    }
    if (vm['readOnly'] !== undefined && typeof vm['readOnly'] !== 'boolean') c.invalid(`${p}.readOnly`, vm['readOnly'], 'must be a boolean');
  });
}

/** Validates a pod template (`spec.template` of a service, `spec.template` of a task). */
export function validateTemplate(c: Causes, tpl: unknown, path: string): void {
  if (tpl === undefined || tpl === null) {
    c.required(path, 'template');
    return;
  }
  if (!isObj(tpl)) return c.invalid(path, tpl, 'must be an object');
  checkKeys(c, tpl, path, ['metadata', 'spec']);
  const meta = optObj(c, tpl, 'metadata', `${path}.metadata`);
  if (meta) {
    checkKeys(c, meta, `${path}.metadata`, ['labels', 'annotations']);
    labelMap(c, meta, 'labels', `${path}.metadata.labels`, 'labels');
    labelMap(c, meta, 'annotations', `${path}.metadata.annotations`, 'annotations');
  }
  const spec = tpl['spec'];
  if (spec === undefined || spec === null) {
    c.required(`${path}.spec`, 'spec');
    return;
  }
  if (!isObj(spec)) return c.invalid(`${path}.spec`, spec, 'must be an object');
  const sp = `${path}.spec`;
  checkKeys(c, spec, sp, ['containers', 'volumes', 'restartPolicy', 'network', 'secrets', 'configs']);
  validateSecretRefs(c, spec, sp);
  optEnum(c, spec, 'restartPolicy', `${sp}.restartPolicy`, ['Always', 'OnFailure', 'Never']);
  const net = optString(c, spec, 'network', `${sp}.network`, 63);
  if (net !== undefined && !isDnsLabel(net)) c.invalid(`${sp}.network`, net, 'must be bridge, host, none or a network name (DNS-1123 label)');
  const volumeNames = validateVolumes(c, spec, sp);
  validateContainers(c, spec, sp, volumeNames);
}

/** The template's volumes (one source each, distinct names); returns the names declared. */
function validateVolumes(c: Causes, spec: Obj, sp: string): Set<string> {
  const volumeNames = new Set<string>();
  optArray(c, spec, 'volumes', `${sp}.volumes`)?.forEach((v, i) => {
    const p = `${sp}.volumes[${i}]`;
    if (!isObj(v)) return c.invalid(p, v, 'must be an object');
    checkKeys(c, v, p, ['name', 'hostPath', 'emptyDir']);
    const n = v['name'];
    if (n === undefined || n === '') c.required(`${p}.name`, 'name');
    else if (typeof n !== 'string' || !isDnsLabel(n)) c.invalid(`${p}.name`, n, 'must be a DNS-1123 label');
    else {
      if (volumeNames.has(n)) c.add(`${p}.name`, REASON.duplicate, `duplicate volume "${n}"`);
      volumeNames.add(n);
    }
    const sources = ['hostPath', 'emptyDir'].filter((k) => v[k] !== undefined);
    if (sources.length === 0) c.required(p, 'one volume source (hostPath or emptyDir)');
    if (sources.length > 1) c.add(`${p}.${sources[1]}`, REASON.forbidden, 'may not specify more than one volume source');
    const hp = optObj(c, v, 'hostPath', `${p}.hostPath`);
    if (hp) {
      checkKeys(c, hp, `${p}.hostPath`, ['path', 'readOnly']);
      const hpp = hp['path'];
      if (hpp === undefined || hpp === '') c.required(`${p}.hostPath.path`, 'path');
      else if (typeof hpp !== 'string' || !hpp.startsWith('/')) c.invalid(`${p}.hostPath.path`, hpp, 'must be an absolute path');
    }
    optObj(c, v, 'emptyDir', `${p}.emptyDir`);
  });
  return volumeNames;
}

/** At least one container, with distinct names. */
function validateContainers(c: Causes, spec: Obj, sp: string, volumeNames: Set<string>): void {
  const containers = spec['containers'];
  if (containers === undefined || containers === null) {
    c.required(`${sp}.containers`, 'at least one container');
    return;
  }
  if (!Array.isArray(containers)) return c.invalid(`${sp}.containers`, containers, 'must be a list');
  if (containers.length === 0) c.required(`${sp}.containers`, 'at least one container');
  const names = new Set<string>();
  containers.forEach((ct, i) => {
    const n = validateContainer(c, ct, `${sp}.containers[${i}]`, volumeNames);
    if (n !== undefined) {
      if (names.has(n)) c.add(`${sp}.containers[${i}].name`, REASON.duplicate, `duplicate container name "${n}"`);
      names.add(n);
    }
  });
}

/** A field the schema knows but this version would not honour: refused (issue 13), never accepted and ignored. */
export function notYet(c: Causes, field: string, what: string): void {
  c.add(field, REASON.notSupported, `${what} is not supported yet: this version of Shoal would not honour it; remove it`);
}

/** The template networks an agent can give a task (services join cluster networks with `spec.networks`). */
export const TEMPLATE_NETWORKS = ['bridge', 'host', 'none'] as const;

/**
 * What a service's template may say (well-formed) but no agent would do
 * (pkg/agent/session/create-options.ts is what it does): volumes and volume mounts (the agent
 * mounts nothing but secrets and configs), probes, the template's restartPolicy (the
 * orchestrator follows `spec.restart`), an imagePullPolicy other than IfNotPresent (agents pull
 * an image only when they lack it), a second container, a network other than bridge, host or
 * none. Called for services only: a task copies its service's template, and a task of a
 * service stored by an older version must still be valid.
 */
export function unsupportedTemplateFields(c: Causes, tpl: unknown, path: string): void {
  if (!isObj(tpl) || !isObj(tpl['spec'])) return;
  const spec = tpl['spec'];
  const sp = `${path}.spec`;
  const volumes = spec['volumes'];
  if (Array.isArray(volumes)) {
    volumes.forEach((v, i) => {
      const src = isObj(v) ? ['hostPath', 'emptyDir'].find((k) => v[k] !== undefined) : undefined;
      notYet(c, src ? `${sp}.volumes[${i}].${src}` : `${sp}.volumes[${i}]`, src === 'emptyDir' ? 'an emptyDir volume' : src === 'hostPath' ? 'a hostPath volume' : 'a volume');
    });
  }
  if (spec['restartPolicy'] !== undefined && spec['restartPolicy'] !== null) {
    notYet(c, `${sp}.restartPolicy`, 'the template\'s restartPolicy (the service\'s spec.restart says when tasks restart)');
  }
  const net = spec['network'];
  if (typeof net === 'string' && isDnsLabel(net) && !(TEMPLATE_NETWORKS as readonly string[]).includes(net)) {
    notYet(c, `${sp}.network`, `network "${net}" in the template (a task's network is bridge, host or none; a service joins cluster networks with spec.networks)`);
  }
  const containers = Array.isArray(spec['containers']) ? spec['containers'] : [];
  if (containers.length > 1) notYet(c, `${sp}.containers[1]`, 'more than one container per task');
  containers.forEach((ct, i) => {
    if (!isObj(ct)) return;
    const p = `${sp}.containers[${i}]`;
    if (Array.isArray(ct['volumeMounts']) && ct['volumeMounts'].length > 0) notYet(c, `${p}.volumeMounts`, 'volumeMounts');
    for (const probe of ['livenessProbe', 'readinessProbe']) if (ct[probe] !== undefined && ct[probe] !== null) notYet(c, `${p}.${probe}`, probe);
    const ipp = ct['imagePullPolicy'];
    if (ipp === 'Always' || ipp === 'Never') notYet(c, `${p}.imagePullPolicy`, `imagePullPolicy ${ipp} (agents pull an image when they lack it: IfNotPresent)`);
  });
}
