/**
 * Engine API container routes (a fastify plugin). Errors are thrown as ShoalError; the
 * server's error handler turns them into V1Status bodies. Streams (logs, exec, stats with
 * stream=1) are NDJSON (`application/x-ndjson`), one JSON object per line:
 *   logs:  {"stream":"stdout"|"stderr","time":"RFC3339Nano","log":"text\n"}
 *   exec:  {"stream":"stdout"|"stderr","data":"<base64>"} ... then {"exitCode":N}
 *          (or {"error":V1Status} when it fails after the stream started)
 *   stats: one ContainerStats object per second
 * Exec with stdin: the command spec goes into the `spec` query parameter (base64 JSON; the
 * `X-Shoal-Exec` header works too) and the request body (Content-Type
 * application/vnd.shoal.stream) is the process's stdin.
 */
import { type Readable, Writable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  CONTAINER_CREATE_FIELDS, decodeExecSpecParam, parseExecSpec, ShoalError, STREAM_CONTENT_TYPE, toShoalError, type ExecSpec, type FieldCause, type NetworkMode,
} from '../../api/index.js';
import { clientGone, streamNdjson } from '../../httpserver/index.js';
import { sleep } from '../../util/index.js';
import { parsePortSpec } from '../../network/index.js';
import { parseCpus, parseMemory, parseSignal, type ContainerManager, type CreateOptions } from '../../runtime/index.js';

export interface ContainerRoutesOptions {
  containers: ContainerManager;
}

type Q = Record<string, string | string[] | undefined>;

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
const truthy = (v: string | string[] | undefined): boolean => {
  const s = first(v);
  return s !== undefined && s !== '' && s !== '0' && s.toLowerCase() !== 'false';
};

function intParam(q: Q, key: string, opts: { min?: number; allowFraction?: boolean } = {}): number | undefined {
  const s = first(q[key]);
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  if (!Number.isFinite(n) || (!opts.allowFraction && !Number.isInteger(n)) || n < (opts.min ?? 0)) {
    throw new ShoalError('InvalidArgument', `invalid query parameter ${key}=${JSON.stringify(s)}: want a number >= ${opts.min ?? 0}`);
  }
  return n;
}

/** Validates the create body; all field problems at once (422). */
export function parseCreateBody(body: unknown, nameFromQuery?: string): CreateOptions {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ShoalError('InvalidArgument', 'the request body must be a JSON object');
  }
  const b = body as Record<string, unknown>;
  const causes: FieldCause[] = [];
  const bad = (field: string, message: string, reason = 'FieldValueInvalid') => causes.push({ field, reason, message });
  const out: CreateOptions = { image: '' };
  const str = (k: string): string | undefined => {
    const v = b[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      bad(k, 'must be a string');
      return undefined;
    }
    return v;
  };
  const strList = (k: string): string[] | undefined => {
    const v = b[k];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      bad(k, 'must be a list of strings');
      return undefined;
    }
    return v as string[];
  };
  const num = (k: string, min: number): number | undefined => {
    const v = b[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      bad(k, `must be an integer >= ${min}`);
      return undefined;
    }
    return v;
  };
  const bool = (k: string): boolean | undefined => {
    const v = b[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') {
      bad(k, 'must be true or false');
      return undefined;
    }
    return v;
  };
  const known = new Set<string>(CONTAINER_CREATE_FIELDS);
  for (const k of Object.keys(b)) if (!known.has(k)) bad(k, 'unknown field', 'FieldValueNotSupported');

  const image = str('image');
  if (!image) bad('image', 'an image is required', 'FieldValueRequired');
  else out.image = image;
  const name = str('name') ?? nameFromQuery;
  if (name) out.name = name;
  const set = <K extends keyof CreateOptions>(k: K, v: CreateOptions[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('cmd', strList('cmd'));
  set('entrypoint', strList('entrypoint'));
  set('binds', strList('binds'));
  const env = strList('env');
  if (env) {
    env.forEach((e, i) => {
      if (!/^[^=]+/.test(e) || e.startsWith('=')) bad(`env[${i}]`, 'want KEY=VALUE');
    });
    out.env = env;
  }
  set('workingDir', str('workingDir'));
  set('user', str('user'));
  set('hostname', str('hostname'));
  const stopSignal = str('stopSignal');
  if (stopSignal) {
    try {
      out.stopSignal = parseSignal(stopSignal, 'stopSignal');
    } catch (err) {
      causes.push(...toShoalError(err).causes);
    }
  }
  set('stopTimeout', num('stopTimeout', 0));
  set('openStdin', bool('openStdin'));
  set('stdinOnce', bool('stdinOnce'));
  set('init', bool('init'));
  set('autoRemove', bool('autoRemove'));
  set('cpuShares', num('cpuShares', 0));
  set('pidsLimit', num('pidsLimit', 0));
  set('nanoCpus', num('nanoCpus', 0));
  const labels = b['labels'];
  if (labels !== undefined && labels !== null) {
    if (typeof labels !== 'object' || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== 'string')) {
      bad('labels', 'must be an object of strings');
    } else out.labels = labels as Record<string, string>;
  }
  for (const [k, parse] of [
    ['memory', (v: string | number) => (out.memory = parseMemory(v, 'memory'))],
    ['cpus', (v: string | number) => (out.nanoCpus = parseCpus(v, 'cpus'))],
  ] as const) {
    const v = b[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' && typeof v !== 'number') {
      bad(k, 'must be a number or a string');
      continue;
    }
    try {
      parse(v);
    } catch (err) {
      causes.push(...toShoalError(err).causes);
    }
  }
  const nm = str('networkMode');
  if (nm !== undefined) {
    if (nm === 'none' || nm === 'host' || nm === 'bridge' || nm === 'default') out.networkMode = (nm === 'default' ? 'bridge' : nm) as NetworkMode;
    else if (NETWORK_NAME_RE.test(nm)) {
      // A user network: bridge mode on that network.
      out.networkMode = 'bridge';
      out.network = nm;
    } else bad('networkMode', 'want bridge, none, host or a network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)', 'FieldValueInvalid');
  }
  const ports = strList('ports');
  if (ports) {
    ports.forEach((p, i) => {
      try {
        parsePortSpec(p);
      } catch (err) {
        bad(`ports[${i}]`, toShoalError(err).message);
      }
    });
    out.ports = ports;
  }
  const aliases = strList('networkAliases');
  if (aliases) {
    aliases.forEach((a, i) => {
      if (!NETWORK_NAME_RE.test(a)) bad(`networkAliases[${i}]`, `invalid alias "${a}": want [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
    });
    out.networkAliases = aliases;
  }
  if ((out.ports?.length || out.networkAliases?.length) && (out.networkMode === 'none' || out.networkMode === 'host')) {
    bad(out.ports?.length ? 'ports' : 'networkAliases', `not available in network mode ${out.networkMode}`, 'FieldValueForbidden');
  }
  if (causes.length > 0) {
    throw new ShoalError('Invalid', `invalid container spec: ${causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`, { causes });
  }
  return out;
}

const NETWORK_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

export function containerRoutes(app: FastifyInstance, opts: ContainerRoutesOptions): void {
  const m = opts.containers;
  type IdReq = FastifyRequest<{ Params: { id: string }; Querystring: Q }>;

  app.addContentTypeParser(STREAM_CONTENT_TYPE, (_req, payload, done) => done(null, payload));

  app.post('/v1/containers', async (req: FastifyRequest<{ Querystring: Q }>, reply) => {
    const body = parseCreateBody(req.body, first(req.query['name']));
    const res = await m.create(body);
    return reply.code(201).send(res);
  });

  app.get('/v1/containers', async (req: FastifyRequest<{ Querystring: Q }>) => m.list({ all: truthy(req.query['all']) }));

  app.get('/v1/containers/:id/json', async (req: IdReq) => m.inspect(req.params.id));

  app.post('/v1/containers/:id/start', async (req: IdReq, reply) => {
    await m.start(req.params.id);
    return reply.code(204).send();
  });
  app.post('/v1/containers/:id/stop', async (req: IdReq, reply) => {
    await m.stop(req.params.id, intParam(req.query, 't', { min: -1, allowFraction: true }));
    return reply.code(204).send();
  });
  app.post('/v1/containers/:id/restart', async (req: IdReq, reply) => {
    await m.restart(req.params.id, intParam(req.query, 't', { min: -1, allowFraction: true }));
    return reply.code(204).send();
  });
  app.post('/v1/containers/:id/kill', async (req: IdReq, reply) => {
    await m.kill(req.params.id, first(req.query['signal']) || 'SIGKILL');
    return reply.code(204).send();
  });
  app.post('/v1/containers/:id/pause', async (req: IdReq, reply) => {
    await m.pause(req.params.id);
    return reply.code(204).send();
  });
  app.post('/v1/containers/:id/unpause', async (req: IdReq, reply) => {
    await m.unpause(req.params.id);
    return reply.code(204).send();
  });
  app.post('/v1/containers/:id/wait', async (req: IdReq, reply) => m.wait(req.params.id, clientGone(reply)));
  app.delete('/v1/containers/:id', async (req: IdReq, reply) => {
    await m.remove(req.params.id, { force: truthy(req.query['force']) });
    return reply.code(204).send();
  });

  app.get('/v1/containers/:id/logs', async (req: IdReq, reply) => {
    const tailQ = first(req.query['tail']);
    const tail = tailQ === undefined || tailQ === '' || tailQ === 'all' ? undefined : intParam(req.query, 'tail');
    const since = first(req.query['since']);
    // Created before the stream starts: an unknown container or a bad `since` is a plain 4xx.
    const entries = m.logs(req.params.id, {
      follow: truthy(req.query['follow']),
      ...(tail !== undefined ? { tail } : {}),
      ...(since ? { since } : {}),
      signal: clientGone(reply),
    });
    await streamNdjson(req, reply, async (out, signal) => {
      for await (const e of entries) {
        await out.write(e);
        if (signal.aborted) break;
      }
      return undefined;
    });
    return reply;
  });

  app.get('/v1/containers/:id/stats', async (req: IdReq, reply) => {
    const stream = first(req.query['stream']);
    if (stream === undefined || !truthy(stream)) return m.stats(req.params.id);
    m.resolve(req.params.id);
    await streamNdjson(req, reply, async (out, signal) => {
      while (!signal.aborted) {
        await out.write(await m.stats(req.params.id));
        await sleep(1000, signal);
      }
      return undefined;
    });
    return reply;
  });

  app.post('/v1/containers/:id/exec', async (req: IdReq, reply) => {
    let spec: ExecSpec;
    let stdin: Readable | undefined;
    const header = first(req.query['spec']) ?? req.headers['x-shoal-exec'];
    if (typeof header === 'string' && header !== '') {
      spec = decodeExecSpecParam(header);
      if (req.body && typeof (req.body as Readable).pipe === 'function') stdin = req.body as Readable;
    } else {
      spec = parseExecSpec(req.body);
    }
    m.resolve(req.params.id);
    await streamNdjson(req, reply, async (out, signal) => {
      const frame = (stream: 'stdout' | 'stderr') =>
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            // The line goes out now (in order, before the exit code); it is not held back for drain.
            void out.write({ stream, data: chunk.toString('base64') });
            cb();
          },
        });
      const { exitCode } = await m.exec(req.params.id, {
        cmd: spec.cmd,
        ...(spec.env ? { env: spec.env } : {}),
        ...(spec.user ? { user: spec.user } : {}),
        ...(spec.workdir ? { workdir: spec.workdir } : {}),
        ...(stdin ? { stdin } : {}),
        stdout: frame('stdout'),
        stderr: frame('stderr'),
        signal,
      });
      return { exitCode };
    });
    return reply;
  });

  /** Streams the request body into the container's stdin (`run -i`). */
  app.post('/v1/containers/:id/attach', async (req: IdReq, reply) => {
    const target = await m.attachStdin(req.params.id);
    const body = req.body as Readable | undefined;
    if (body && typeof body.pipe === 'function') {
      await new Promise<void>((resolve) => {
        target.on('finish', () => resolve());
        target.on('error', () => resolve());
        body.on('error', () => resolve());
        body.pipe(target);
      });
    } else {
      target.end();
    }
    await m.stdinEnded(req.params.id);
    return reply.code(204).send();
  });
}
