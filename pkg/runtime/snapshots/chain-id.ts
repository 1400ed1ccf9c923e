/**
 * Chain ids as the OCI image spec defines them: ChainID(L0) = DiffID(L0),
 * ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). A chain id names a layer *and
 * everything below it*, so one snapshot directory per chain id can be shared by every image
 * with the same layer stack.
 */
import { createHash } from 'node:crypto';
import { errors } from '../../api/index.js';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const [i, d] of diffIds.entries()) {
    if (!DIGEST_RE.test(d)) throw errors.invalidArgument(`diff_id ${i} "${d}" is not a sha256 digest`);
    const prev = out[i - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}
