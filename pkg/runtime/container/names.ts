/** Container ids and names. */
import { randomBytes } from 'node:crypto';
import { ShoalError } from '../../api/index.js';

export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function validateName(name: string): void {
  if (!NAME_RE.test(name) || name.length > 128) {
    throw new ShoalError('Invalid', `invalid container name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, {
      causes: [{ field: 'name', reason: 'FieldValueInvalid', message: 'must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$' }],
    });
  }
}

export function newId(): string {
  return randomBytes(32).toString('hex');
}

const LEFT = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'merry', 'quiet', 'sharp', 'swift', 'tender', 'witty', 'bold', 'kind', 'neat', 'zen'];
const RIGHT = ['herring', 'sardine', 'anchovy', 'mackerel', 'tuna', 'smelt', 'sprat', 'shad', 'pilchard', 'capelin', 'minnow', 'carp', 'perch', 'trout', 'bass', 'pike'];

/** Docker-style `adjective_noun`, with a number appended on collision. */
export function generateName(taken: (name: string) => boolean, rand: () => number = Math.random): string {
  for (let i = 0; i < 100; i++) {
    const base = `${LEFT[Math.floor(rand() * LEFT.length)]}_${RIGHT[Math.floor(rand() * RIGHT.length)]}`;
    const name = i < 10 ? base : `${base}${i}`;
    if (!taken(name)) return name;
  }
  return `c_${randomBytes(6).toString('hex')}`;
}
