/**
 * Validation of API objects with Kubernetes-style field paths. Every validator walks the whole
 * object and returns **every** problem at once as FieldCause[] (empty = valid); the API turns a
 * non-empty list into one 422 `Invalid` error. Input is `unknown` (a parsed request body), so
 * every field is type-checked before use. Paths use `a.b[0].c` and `metadata.labels[key]`.
 *
 * This file is the front: it exports the public validators and turns causes into an error.
 * One file per object, beside it:
 *
 *   validation-fields.ts    the Causes collector, reasons, field helpers, name formats
 *   validation-meta.ts      type meta, object meta, the head every object validator shares
 *   validation-template.ts  the pod template: volumes, containers, image references
 *   validation-service.ts   Service (and cron expressions)
 *   validation-node.ts      Node and node status
 *   validation-task.ts      Task and task status
 */
import { errors, type FieldCause, type ShoalError } from './errors.js';
import { ROOT_FIELD } from './validation-fields.js';

export { fieldPath, isDnsLabel, isDnsSubdomain, keyPath, MAX_REPLICAS, ROOT_FIELD, type ValidateOptions } from './validation-fields.js';
export { imageReferenceProblem } from './validation-template.js';
export { cronProblem, validateService } from './validation-service.js';
export { validateNode, validateNodeStatus } from './validation-node.js';
export { validateTask, validateTaskStatus } from './validation-task.js';

export function invalidError(kind: string, name: string | undefined, causes: FieldCause[]): ShoalError {
  // One cause: say it all. Several: name the fields; the causes carry the details.
  const only = causes.length === 1 ? causes[0] : undefined;
  const fields = [...new Set(causes.map((c) => c.field || ROOT_FIELD))];
  const summary = only
    ? `${only.field || ROOT_FIELD}: ${only.message}`
    : `${causes.length} problems (${fields.slice(0, 6).join(', ')}${fields.length > 6 ? ', ...' : ''})`;
  const opts: { kind: string; name?: string } = { kind };
  if (name !== undefined) opts.name = name;
  return errors.invalid(`${kind} "${name ?? ''}" is invalid: ${summary}`, causes, opts);
}
export { DEFAULT_NETWORK, validateNetwork } from './validation-network.js';
export { MAX_SECRET_BYTES, validateSecretLike } from './validation-secret.js';
