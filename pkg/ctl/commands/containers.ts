import type { Command } from 'commander';
import type { CtlContext } from '../context.js';

/** Registers the containers commands of shoalctl. */
export function registerContainersCommands(_program: Command, _ctx: CtlContext): void {}
