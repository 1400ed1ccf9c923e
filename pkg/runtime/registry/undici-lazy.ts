/**
 * undici, loaded on first use. Evaluating undici costs the agent about 20 MB of RSS; an idle
 * agent never talks to a registry, so the module is only loaded by the first pull or push.
 */
import type { request as Request } from 'undici';

let loaded: Promise<typeof Request> | undefined;

export const undiciRequest = (async (...args: Parameters<typeof Request>) => {
  loaded ??= import('undici').then((m) => m.request);
  const request = await loaded;
  return request(...args);
}) as typeof Request;
