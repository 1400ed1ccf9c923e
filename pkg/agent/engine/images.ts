/**
 * Engine API image routes (a fastify plugin). References travel URL-encoded in paths
 * (`/v1/images/localhost%3A5000%2Fapp%3A1/json`); pull and push stream NDJSON progress
 * (`{id, status, current, total}` per layer) and end with `{status: "done", ref, digest, id}`
 * or `{error: V1Status}`. Import takes the raw tar as the body (no size limit but the layer cap).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../../api/index.js';
import type { ImageApi } from '../../runtime/index.js';
import { clientGone, streamNdjson } from '../../httpserver/index.js';
import { flag } from './query.js';

export interface ImageRoutesOptions {
  images: ImageApi;
}

export const TAR_CONTENT_TYPES = ['application/x-tar', 'application/octet-stream', 'application/gzip', 'application/x-gzip'];

const refBody = {
  type: 'object',
  required: ['ref'],
  additionalProperties: false,
  properties: { ref: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const;

const tagBody = {
  type: 'object',
  required: ['source', 'target'],
  additionalProperties: false,
  properties: { source: { type: 'string', minLength: 1, maxLength: 1024 }, target: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const;

const authBody = {
  type: 'object',
  required: ['registry', 'username', 'password'],
  additionalProperties: false,
  properties: {
    registry: { type: 'string', minLength: 1, maxLength: 512 },
    username: { type: 'string', minLength: 1, maxLength: 1024 },
    password: { type: 'string', maxLength: 65536 },
  },
} as const;

type RefParams = FastifyRequest<{ Params: { ref: string } }>;

export function imageRoutes(app: FastifyInstance, opts: ImageRoutesOptions): void {
  const images = opts.images;
  // The import body is handed to the route as the raw request stream.
  app.addContentTypeParser(TAR_CONTENT_TYPES, (_req, payload, done) => done(null, payload));

  app.get('/v1/images', async () => images.list());

  app.get('/v1/images/:ref/json', async (req: RefParams) => images.inspect(req.params.ref));

  app.post('/v1/images/pull', { schema: { body: refBody } }, async (req: FastifyRequest<{ Body: { ref: string } }>, reply: FastifyReply) => {
    await streamNdjson(req, reply, async (out, signal) => {
      const r = await images.pull(req.body.ref, { signal, onProgress: (ev) => void out.write(ev) });
      return { status: 'done', ...r };
    });
  });

  app.post('/v1/images/push', { schema: { body: refBody } }, async (req: FastifyRequest<{ Body: { ref: string } }>, reply: FastifyReply) => {
    await streamNdjson(req, reply, async (out, signal) => {
      const r = await images.push(req.body.ref, { signal, onProgress: (ev) => void out.write(ev) });
      return { status: 'done', ...r };
    });
  });

  app.post('/v1/images/tag', { schema: { body: tagBody } }, async (req: FastifyRequest<{ Body: { source: string; target: string } }>, reply) => {
    await images.tag(req.body.source, req.body.target);
    return reply.code(201).send({ source: req.body.source, target: req.body.target });
  });

  app.delete('/v1/images/:ref', async (req: FastifyRequest<{ Params: { ref: string }; Querystring: { force?: string } }>) => {
    return images.remove(req.params.ref, { force: flag(req.query.force, 'force') });
  });

  app.post('/v1/images/import', async (req: FastifyRequest<{ Querystring: { ref?: string } }>, reply) => {
    const ref = req.query.ref;
    if (!ref) throw errors.invalidArgument('import needs a reference: POST /v1/images/import?ref=NAME[:TAG]');
    const body = req.body as NodeJS.ReadableStream | undefined;
    if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function') {
      throw errors.invalidArgument(`import needs the tar as the request body with Content-Type ${TAR_CONTENT_TYPES[0]}`);
    }
    const r = await images.importTar(body, ref, { signal: clientGone(reply) });
    return reply.code(201).send(r);
  });

  app.post('/v1/auth', { schema: { body: authBody } }, async (req: FastifyRequest<{ Body: { registry: string; username: string; password: string } }>) => {
    await images.login(req.body.registry, req.body.username, req.body.password);
    return { status: 'Login Succeeded' };
  });
}
