/**
 * Request body parsing: JSON, merge-patch JSON and YAML, with limits. Anything malformed,
 * multi-document, too deep or using YAML features we do not accept becomes InvalidArgument
 * (400); size is limited by fastify's bodyLimit (413).
 */
import { parseAllDocuments } from 'yaml';
import { errors } from '../../api/index.js';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;
export const MAX_DEPTH = 64;

export const JSON_TYPES = ['application/json', 'application/merge-patch+json'] as const;
export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'] as const;

/** Maximum nesting of `{`/`[` outside JSON strings (stops before parsing pathological input). */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92) i++; // backslash
      else if (ch === 34) inString = false;
      continue;
    }
    if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) {
      depth++;
      if (depth > max) max = depth;
      if (max > MAX_DEPTH) return max;
    } else if (ch === 125 || ch === 93) depth--;
  }
  return max;
}

/** Depth of a parsed value, iteratively (no recursion on hostile input). */
export function valueDepth(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length > 0) {
    const [cur, d] = stack.pop() as [unknown, number];
    if (cur === null || typeof cur !== 'object') continue;
    if (d > max) max = d;
    if (max > MAX_DEPTH) return max;
    for (const child of Object.values(cur)) stack.push([child, d + 1]);
  }
  return max;
}

function tooDeep(): Error {
  return errors.invalidArgument(`the body is nested more than ${MAX_DEPTH} levels deep`);
}

/** JSON.parse without prototype-polluting keys. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw errors.invalidArgument('the body is empty; send a JSON object');
  if (jsonDepth(text) > MAX_DEPTH) throw tooDeep();
  try {
    return JSON.parse(text, (k, v: unknown) => (k === '__proto__' ? undefined : v));
  } catch (err) {
    throw errors.invalidArgument(`the body is not valid JSON: ${(err as Error).message}`);
  }
}

/** One YAML document, core schema, aliases limited, duplicate keys rejected. */
export function parseYamlBody(text: string): unknown {
  if (text.trim() === '') throw errors.invalidArgument('the body is empty; send a YAML document');
  if (jsonDepth(text) > MAX_DEPTH) throw tooDeep();
  let docs;
  try {
    docs = parseAllDocuments(text, { schema: 'core', uniqueKeys: true, prettyErrors: false, customTags: [] });
  } catch (err) {
    throw errors.invalidArgument(`the body is not valid YAML: ${(err as Error).message}`);
  }
  if (!Array.isArray(docs)) throw errors.invalidArgument('the body is not valid YAML');
  if (docs.length !== 1) throw errors.invalidArgument(`the body must hold exactly one YAML document, found ${docs.length}`);
  const doc = docs[0];
  if (!doc) throw errors.invalidArgument('the body is not valid YAML');
  const first = doc.errors[0];
  if (first) throw errors.invalidArgument(`the body is not valid YAML: ${first.message.split('\n')[0]}`);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw errors.invalidArgument(`the body is not valid YAML: ${(err as Error).message}`);
  }
  if (valueDepth(value) > MAX_DEPTH) throw tooDeep();
  return stripProto(value);
}

function stripProto(v: unknown): unknown {
  const stack: unknown[] = [v];
  while (stack.length > 0) {
    const cur = stack.pop();
    if (cur === null || typeof cur !== 'object') continue;
    if (Object.prototype.hasOwnProperty.call(cur, '__proto__')) delete (cur as Record<string, unknown>)['__proto__'];
    for (const child of Object.values(cur)) stack.push(child);
  }
  return v;
}
