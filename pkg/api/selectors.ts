/**
 * Label selectors (`app=web,tier!=db,env in (a,b),zone notin (x),has,!gone`) and field
 * selectors (`spec.nodeName=n1,status.state!=running`), parsed once into plain data and
 * matched against objects. Grammar as in Kubernetes; `=` and `==` are the same operator.
 */
import { ShoalError } from './errors.js';

export type LabelRequirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

export type LabelSelector = LabelRequirement[];

export interface FieldRequirement {
  field: string;
  op: 'eq' | 'neq';
  value: string;
}
export type FieldSelector = FieldRequirement[];

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

function bad(selector: string, why: string): ShoalError {
  return new ShoalError('InvalidArgument', `invalid selector "${selector}": ${why}`);
}

/** Splits on commas that are not inside parentheses. */
function splitTop(text: string, selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0 || depth > 1) throw bad(selector, 'unbalanced parentheses');
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw bad(selector, 'unbalanced parentheses');
  parts.push(cur);
  return parts;
}

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key)) throw bad(selector, `"${key}" is not a valid label key`);
  return key;
}
function checkValue(value: string, selector: string): string {
  if (value.length > 63 || !VALUE.test(value)) throw bad(selector, `"${value}" is not a valid label value`);
  return value;
}

/** Parses a label selector; the empty string selects everything. */
export function parseLabelSelector(selector: string): LabelSelector {
  const out: LabelSelector = [];
  if (selector.trim() === '') return out;
  if (selector.length > 4096) throw bad(selector.slice(0, 40) + '...', 'longer than 4096 characters');
  for (const raw of splitTop(selector, selector)) {
    const part = raw.trim();
    if (part === '') throw bad(selector, 'empty requirement');
    let m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(part);
    if (m) {
      const values = (m[3] ?? '').split(',').map((v) => checkValue(v.trim(), selector));
      if (values.length === 0 || (values.length === 1 && values[0] === '')) throw bad(selector, `"${m[2]}" needs at least one value`);
      out.push({ key: checkKey(m[1] ?? '', selector), op: m[2] === 'in' ? 'in' : 'notin', values });
      continue;
    }
    m = /^([^=!\s]+)\s*(==|!=|=)\s*(\S*)$/.exec(part);
    if (m) {
      out.push({ key: checkKey(m[1] ?? '', selector), op: m[2] === '!=' ? 'neq' : 'eq', value: checkValue(m[3] ?? '', selector) });
      continue;
    }
    m = /^(!?)\s*([^=!\s()]+)$/.exec(part);
    if (m) {
      out.push({ key: checkKey(m[2] ?? '', selector), op: m[1] === '!' ? 'notexists' : 'exists' });
      continue;
    }
    throw bad(selector, `cannot parse "${part}"`);
  }
  return out;
}

export function matchLabels(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = has ? l[r.key] : undefined;
    switch (r.op) {
      case 'eq':
        return has && v === r.value;
      case 'neq':
        return !has || v !== r.value;
      case 'in':
        return has && r.values.includes(v ?? '');
      case 'notin':
        return !has || !r.values.includes(v ?? '');
      case 'exists':
        return has;
      case 'notexists':
        return !has;
    }
    return false;
  });
}

/**
 * Parses a field selector. `allowed`, when given, lists the field paths the resource supports;
 * any other field is an InvalidArgument that names the supported ones.
 */
export function parseFieldSelector(selector: string, allowed?: readonly string[]): FieldSelector {
  const out: FieldSelector = [];
  if (selector.trim() === '') return out;
  if (selector.length > 4096) throw bad(selector.slice(0, 40) + '...', 'longer than 4096 characters');
  for (const raw of selector.split(',')) {
    const part = raw.trim();
    const m = /^([A-Za-z][A-Za-z0-9_.]*)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) throw bad(selector, `cannot parse "${part}" (want field=value or field!=value)`);
    const field = m[1] ?? '';
    if (allowed && !allowed.includes(field)) {
      throw bad(selector, `field "${field}" is not supported (supported: ${allowed.join(', ')})`);
    }
    out.push({ field, op: m[2] === '!=' ? 'neq' : 'eq', value: (m[3] ?? '').trim() });
  }
  return out;
}

/** The value at a dotted path, as a string ('' when absent, as Kubernetes matches missing fields). */
export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, seg)) return '';
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'object') return JSON.stringify(cur);
  return String(cur as string | number | boolean);
}

export function matchFields(selector: FieldSelector, obj: unknown): boolean {
  return selector.every((r) => (fieldValue(obj, r.field) === r.value) === (r.op === 'eq'));
}

export function formatLabelSelector(selector: LabelSelector): string {
  return selector
    .map((r) => {
      switch (r.op) {
        case 'eq':
          return `${r.key}=${r.value}`;
        case 'neq':
          return `${r.key}!=${r.value}`;
        case 'in':
        case 'notin':
          return `${r.key} ${r.op} (${r.values.join(',')})`;
        case 'exists':
          return r.key;
        case 'notexists':
          return `!${r.key}`;
      }
      return '';
    })
    .join(',');
}
