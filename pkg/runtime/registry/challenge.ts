/**
 * Parsing of `WWW-Authenticate` headers (RFC 7235): several challenges in one header, each a
 * scheme followed by `name=value` parameters whose values may be quoted strings containing
 * commas and escaped quotes.
 */
export interface Challenge {
  /** Lower-cased: `basic`, `bearer`. */
  scheme: string;
  /** Parameter names lower-cased: `realm`, `service`, `scope`, `error`. */
  params: Record<string, string>;
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t';

export function parseWwwAuthenticate(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (Array.isArray(header)) return header.flatMap((h) => parseWwwAuthenticate(h));
  const s = header;
  const out: Challenge[] = [];
  let i = 0;
  const skip = (chars: string) => {
    while (i < s.length && chars.includes(s[i]!)) i++;
  };
  const token = () => {
    const start = i;
    while (i < s.length && !isSpace(s[i]) && s[i] !== ',' && s[i] !== '=') i++;
    return s.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < s.length) {
    skip(' \t,');
    if (i >= s.length) break;
    const save = i;
    const name = token();
    if (name === '') {
      i++; // a stray '=': skip it
      continue;
    }
    skip(' \t');
    if (current && s[i] === '=' && s[i + 1] !== '=') {
      // name=value parameter of the current challenge
      i++;
      skip(' \t');
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < s.length && s[i] !== ',' && !isSpace(s[i])) i++;
        value = s.slice(start, i);
      }
      current.params[name.toLowerCase()] = value;
      continue;
    }
    if (current && s[save - 1] !== ',' && Object.keys(current.params).length === 0 && s[i] === '=') {
      // token68 (e.g. `Negotiate abc==`): not used by registries; skip it
      skip('=');
      continue;
    }
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}
