/**
 * Chain ids as the OCI image spec defines them: ChainID(L0) = DiffID(L0),
 * ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). A chain id names a layer *and
 * everything below it*, so one snapshot directory per chain id can be shared by every image
 * with the same layer stack.
 */
import { errors } from '../../api/index.js';
import { isSha256Digest, sha256Digest } from '../oci/digest.js';

export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const [i, d] of diffIds.entries()) {
    if (!isSha256Digest(d)) throw errors.invalidArgument(`diff_id ${i} "${d}" is not a sha256 digest`);
    const prev = out[i - 1];
    out.push(prev === undefined ? d : sha256Digest(`${prev} ${d}`));
  }
  return out;
}
