/**
 * The body of `POST /v1/containers` (pkg/api/engine.ts `ContainerCreateRequest`) checked and
 * turned into the runtime's CreateOptions (pure). Every field problem is collected, so one 422
 * names them all: unknown fields, then image, process, limits, labels, sizes, network. A
 * body that is not a JSON object is InvalidArgument (400).
 */
import { checkConsoleSize, CONTAINER_CREATE_FIELDS, fieldPath, ShoalError, toShoalError, type FieldCause, type NetworkMode } from '../../api/index.js';
import { NETWORK_NAME_RE, parsePortSpec } from '../../network/index.js';
import { parseCpus, parseMemory, parseSignal, type CreateOptions } from '../../runtime/index.js';

/** Reads typed fields of a JSON object, recording a cause for each of the wrong type (null counts as absent). */
class FieldReader {
  readonly causes: FieldCause[] = [];

  constructor(readonly body: Record<string, unknown>) {}

  bad(field: string, message: string, reason = 'FieldValueInvalid'): void {
    this.causes.push({ field, reason, message });
  }

  /** Records the causes of a parser's ShoalError. */
  adopt(err: unknown): void {
    this.causes.push(...toShoalError(err).causes);
  }

  str(k: string): string | undefined {
    return this.read(k, (v): v is string => typeof v === 'string', 'must be a string');
  }

  strList(k: string): string[] | undefined {
    return this.read(k, (v): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string'), 'must be a list of strings');
  }

  int(k: string, min: number): number | undefined {
    return this.read(k, (v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min, `must be an integer >= ${min}`);
  }

  strMap(k: string): Record<string, string> | undefined {
    const ok = (v: unknown): v is Record<string, string> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
    return this.read(k, ok, 'must be an object of strings');
  }

  bool(k: string): boolean | undefined {
    return this.read(k, (v): v is boolean => typeof v === 'boolean', 'must be true or false');
  }

  private read<T>(k: string, ok: (v: unknown) => v is T, message: string): T | undefined {
    const v = this.body[k];
    if (v === undefined || v === null) return undefined;
    if (!ok(v)) {
      this.bad(k, message);
      return undefined;
    }
    return v;
  }
}

/** Validates the create body; all field problems at once (422). */
export function parseCreateBody(body: unknown, nameFromQuery?: string): CreateOptions {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ShoalError('InvalidArgument', 'the request body must be a JSON object');
  }
  const r = new FieldReader(body as Record<string, unknown>);
  const out: CreateOptions = { image: '' };
  const known = new Set<string>(CONTAINER_CREATE_FIELDS);
  for (const k of Object.keys(r.body)) if (!known.has(k)) r.bad(fieldPath('', k), 'unknown field', 'FieldValueNotSupported');
  const image = r.str('image');
  if (!image) r.bad('image', 'an image is required', 'FieldValueRequired');
  else out.image = image;
  const name = r.str('name') ?? nameFromQuery;
  if (name) out.name = name;
  readProcess(r, out);
  readCounts(r, out);
  set(out, 'labels', r.strMap('labels'));
  readSizes(r, out);
  readNetwork(r, out);
  if (r.causes.length > 0) {
    throw new ShoalError('Invalid', `invalid container spec: ${r.causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`, { causes: r.causes });
  }
  return out;
}

function set<K extends keyof CreateOptions>(out: CreateOptions, k: K, v: CreateOptions[K] | undefined): void {
  if (v !== undefined) out[k] = v;
}

/** Command, environment, identity, stop behaviour, stdio. */
function readProcess(r: FieldReader, out: CreateOptions): void {
  set(out, 'cmd', r.strList('cmd'));
  set(out, 'entrypoint', r.strList('entrypoint'));
  set(out, 'binds', r.strList('binds'));
  const env = r.strList('env');
  if (env) {
    env.forEach((e, i) => {
      if (!/^[^=]+/.test(e) || e.startsWith('=')) r.bad(`env[${i}]`, 'want KEY=VALUE');
    });
    out.env = env;
  }
  set(out, 'workingDir', r.str('workingDir'));
  set(out, 'user', r.str('user'));
  set(out, 'hostname', r.str('hostname'));
  const stopSignal = r.str('stopSignal');
  if (stopSignal) {
    try {
      out.stopSignal = parseSignal(stopSignal, 'stopSignal');
    } catch (err) {
      r.adopt(err);
    }
  }
  set(out, 'stopTimeout', r.int('stopTimeout', 0));
  set(out, 'openStdin', r.bool('openStdin'));
  set(out, 'stdinOnce', r.bool('stdinOnce'));
  set(out, 'tty', r.bool('tty'));
  const size = r.body['consoleSize'];
  if (size !== undefined && size !== null) {
    if (checkConsoleSize(size)) out.consoleSize = [size[0], size[1]];
    else r.bad('consoleSize', 'must be [rows, cols], each 0..65535');
  }
  set(out, 'init', r.bool('init'));
  set(out, 'autoRemove', r.bool('autoRemove'));
}

/** Integer limits given as such. */
function readCounts(r: FieldReader, out: CreateOptions): void {
  set(out, 'cpuShares', r.int('cpuShares', 0));
  set(out, 'pidsLimit', r.int('pidsLimit', 0));
  set(out, 'nanoCpus', r.int('nanoCpus', 0));
}

/** Memory and CPUs, as numbers or Docker's strings (`64m`, `0.5`). */
function readSizes(r: FieldReader, out: CreateOptions): void {
  for (const [k, parse] of [
    ['memory', (v: string | number) => (out.memory = parseMemory(v, 'memory'))],
    ['cpus', (v: string | number) => (out.nanoCpus = parseCpus(v, 'cpus'))],
  ] as const) {
    const v = r.body[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' && typeof v !== 'number') {
      r.bad(k, 'must be a number or a string');
      continue;
    }
    try {
      parse(v);
    } catch (err) {
      r.adopt(err);
    }
  }
}

/** Network mode (or a user network), published ports, aliases, and what a mode allows. */
function readNetwork(r: FieldReader, out: CreateOptions): void {
  const nm = r.str('networkMode');
  if (nm !== undefined) {
    if (nm === 'none' || nm === 'host' || nm === 'bridge' || nm === 'default') out.networkMode = (nm === 'default' ? 'bridge' : nm) as NetworkMode;
    else if (NETWORK_NAME_RE.test(nm)) {
      // A user network: bridge mode on that network.
      out.networkMode = 'bridge';
      out.network = nm;
    } else r.bad('networkMode', 'want bridge, none, host or a network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)', 'FieldValueInvalid');
  }
  const ports = r.strList('ports');
  if (ports) {
    ports.forEach((p, i) => {
      try {
        parsePortSpec(p);
      } catch (err) {
        r.bad(`ports[${i}]`, toShoalError(err).message);
      }
    });
    out.ports = ports;
  }
  const aliases = r.strList('networkAliases');
  if (aliases) {
    aliases.forEach((a, i) => {
      if (!NETWORK_NAME_RE.test(a)) r.bad(`networkAliases[${i}]`, `invalid alias "${a}": want [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
    });
    out.networkAliases = aliases;
  }
  if ((out.ports?.length || out.networkAliases?.length) && (out.networkMode === 'none' || out.networkMode === 'host')) {
    r.bad(out.ports?.length ? 'ports' : 'networkAliases', `not available in network mode ${out.networkMode}`, 'FieldValueForbidden');
  }
}
