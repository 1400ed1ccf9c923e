import type { Command } from 'commander';
import type { CtlContext } from '../context.js';

/** Registers the cluster commands of shoalctl. */
export function registerClusterCommands(_program: Command, _ctx: CtlContext): void {}
