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
import { consoleSizeOf, decodeExecSpecParam, parseExecSpec, ShoalError, STREAM_CONTENT_TYPE, type ExecSpec } from '../../api/index.js';
import { clientGone, streamNdjson } from '../../httpserver/index.js';
import { sleep } from '../../util/index.js';
import type { ContainerManager, ExecOptions } from '../../runtime/index.js';
import { parseCreateBody } from './create-body.js';
import { attachTerminalRoute, terminalInput } from './terminal.js';
import { first, flag, intParam, type Query } from './query.js';

export interface ContainerRoutesOptions {
  containers: ContainerManager;
}

type IdReq = FastifyRequest<{ Params: { id: string }; Querystring: Query }>;

export function containerRoutes(app: FastifyInstance, opts: ContainerRoutesOptions): void {
  app.addContentTypeParser(STREAM_CONTENT_TYPE, (_req, payload, done) => done(null, payload));
  lifecycleRoutes(app, opts.containers);
  streamRoutes(app, opts.containers);
}

/** Create, list, inspect, start, stop, restart, kill, pause, unpause, wait, remove. */
function lifecycleRoutes(app: FastifyInstance, m: ContainerManager): void {
  app.post('/v1/containers', async (req: FastifyRequest<{ Querystring: Query }>, reply) => {
    const body = parseCreateBody(req.body, first(req.query['name']));
    const res = await m.create(body);
    return reply.code(201).send(res);
  });

  app.get('/v1/containers', async (req: FastifyRequest<{ Querystring: Query }>) => m.list({ all: flag(req.query['all'], 'all') }));

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
    await m.remove(req.params.id, { force: flag(req.query['force'], 'force') });
    return reply.code(204).send();
  });
}

/** Logs, stats, exec and attach: the routes that stream. */
function streamRoutes(app: FastifyInstance, m: ContainerManager): void {
  app.get('/v1/containers/:id/logs', async (req: IdReq, reply) => {
    const tailQ = first(req.query['tail']);
    const tail = tailQ === undefined || tailQ === '' || tailQ === 'all' ? undefined : intParam(req.query, 'tail');
    const since = first(req.query['since']);
    // Created before the stream starts: an unknown container or a bad `since` is a plain 4xx.
    const entries = m.logs(req.params.id, {
      follow: flag(req.query['follow'], 'follow'),
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
    if (stream === undefined || !flag(stream, 'stream')) return m.stats(req.params.id);
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
    let tty: ExecOptions['tty'];
    if (spec.tty) {
      // The body is a frame stream: keys for the terminal, and window sizes.
      const input = terminalInput(stdin);
      stdin = stdin ? input.stdin : undefined;
      const size = consoleSizeOf(spec.consoleSize);
      tty = { ...(size ? { size } : {}), resizes: input.resizes };
    }
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
        ...(tty ? { tty } : {}),
      });
      return { exitCode };
    });
    return reply;
  });

  /**
   * A terminal container: its terminal, both ways (terminal.ts). Otherwise the request body
   * goes into the container's stdin (`run -i`).
   */
  app.post('/v1/containers/:id/attach', async (req: IdReq, reply) => {
    if (m.inspect(req.params.id).Config.Tty) {
      await attachTerminalRoute(m, req.params.id, req, reply);
      return reply;
    }
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

  /** Docker's resize: the window size of a terminal container, `?h=ROWS&w=COLS`. */
  app.post('/v1/containers/:id/resize', async (req: IdReq, reply) => {
    const rows = intParam(req.query, 'h', { min: 0, max: 0xffff });
    const cols = intParam(req.query, 'w', { min: 0, max: 0xffff });
    if (rows === undefined || cols === undefined) throw new ShoalError('InvalidArgument', 'resize needs h (rows) and w (columns)');
    await m.resizeTerminal(req.params.id, { rows, cols });
    return reply.code(204).send();
  });
}
