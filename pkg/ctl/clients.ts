/**
 * The clients a shoalctl command talks through, built from the global options: the engine of
 * one node (`-H/--host`, else $SHOAL_HOST, else the default socket) and the controller
 * (`--server`, else $SHOAL_SERVER, else the current context of ~/.shoal/config). Commands get
 * their clients here and nowhere else.
 */
import type { Command } from 'commander';
import { ApiClient, engineClientFor, type EngineClient } from '../client/index.js';
import { configWhere, resolveTarget, type ConfigWhere } from './config.js';
import type { CtlContext } from './context.js';

/** The options of the root command, wherever on the command line they were given. */
export interface GlobalOptions {
  host?: string;
  server?: string;
  config?: string;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** A new engine client; the caller closes it (most commands want `withEngine`). */
export function engineClient(cmd: Command, ctx: CtlContext): EngineClient {
  return engineClientFor(globalOptions(cmd), ctx.env);
}

/** Runs `fn` with an engine client and closes the client after. */
export async function withEngine<T>(cmd: Command, ctx: CtlContext, fn: (c: EngineClient) => Promise<T>): Promise<T> {
  const c = engineClient(cmd, ctx);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** The controller client; requests end when the command is interrupted. */
export async function apiClient(cmd: Command, ctx: CtlContext): Promise<ApiClient> {
  const t = await resolveTarget(globalOptions(cmd).server, ctx.env, configOf(cmd, ctx));
  return new ApiClient(t.server, ctx.signal, undefined, t.credentials);
}

/** Where this command's contexts file is (`--config`, $SHOAL_CONFIG, ~/.shoal/config). */
export function configOf(cmd: Command, ctx: CtlContext): ConfigWhere {
  return configWhere(globalOptions(cmd).config, ctx.env, ctx.home);
}
