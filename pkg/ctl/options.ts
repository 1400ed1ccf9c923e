/**
 * Parsers of option values shared by several commands, for commander's `.option(..., parser)`:
 * each turns the text into the value the command uses or throws InvalidArgument naming the flag.
 */
import { errors } from '../api/index.js';

/** A repeatable option (`-e A=1 -e B=2`): its values in the order given. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--tail`: `all` or a number of lines. */
export function parseTail(value: string): string {
  if (value !== 'all' && !/^\d+$/.test(value)) throw errors.invalidArgument(`invalid --tail ${JSON.stringify(value)}: want a number or all`);
  return value;
}
