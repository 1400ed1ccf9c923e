import type { Command } from 'commander';
import type { CtlContext } from '../context.js';

/** Registers the images commands of shoalctl. */
export function registerImagesCommands(_program: Command, _ctx: CtlContext): void {}
