/**
 * shoalctl cluster commands (DESIGN.md section 8), against the controller API: apply, get,
 * describe, delete (each in its own file), scale, node drain|pause|activate, cluster info
 * (cluster-ops.ts) and config (contexts.ts). The controller is `--server`, else
 * $SHOAL_SERVER, else the current context of ~/.shoal/config (clients.ts).
 */
import type { Command } from 'commander';
import type { CtlContext } from '../context.js';
import { registerApplyCommand } from './apply.js';
import { registerClusterOpsCommands } from './cluster-ops.js';
import { registerContextsCommands } from './contexts.js';
import { registerDeleteCommand } from './delete.js';
import { registerDescribeCommand } from './describe.js';
import { registerGetCommand } from './get.js';
import { registerSecurityCommands } from './security.js';

export function registerClusterCommands(program: Command, ctx: CtlContext): void {
  registerApplyCommand(program, ctx);
  registerGetCommand(program, ctx);
  registerDescribeCommand(program, ctx);
  registerDeleteCommand(program, ctx);
  registerClusterOpsCommands(program, ctx);
  registerContextsCommands(program, ctx);
  registerSecurityCommands(program, ctx);
}
