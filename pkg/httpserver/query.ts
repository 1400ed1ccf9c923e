/**
 * Boolean query parameters (`watch`, `follow`, `force`, `all`...) as both HTTP APIs read them:
 * Go's strconv.ParseBool, as Docker's and Kubernetes' servers do (1, t, T, TRUE, true, True and
 * their false forms); absent or empty is false; anything else is a 400 naming the parameter.
 */
import { errors } from '../api/index.js';

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False', '']);

export function parseBoolParam(value: string | undefined, name: string): boolean {
  if (value === undefined || FALSE.has(value)) return false;
  if (TRUE.has(value)) return true;
  throw errors.invalidArgument(`query parameter ${name} must be true or false (or 1 or 0), got ${JSON.stringify(value.slice(0, 40))}`);
}
