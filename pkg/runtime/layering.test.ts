/**
 * The runtime's inner layering, which the package-boundaries lint rule does not see (it only
 * guards pkg/<name>/ front doors): oci/ holds the OCI formats and imports nothing else of the
 * runtime; registry/ builds on oci/ and never on image/ (image/ uses registry/, not the
 * reverse). A relative import that breaks this fails here with the file and the import.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = dirname(fileURLToPath(import.meta.url));

/** Runtime subdirectories each production file of `dir` imports (relative imports only). */
function importsOf(dir: string): Array<{ file: string; target: string }> {
  const out: Array<{ file: string; target: string }> = [];
  for (const name of readdirSync(join(root, dir))) {
    if (!name.endsWith('.ts') || name.endsWith('.test.ts')) continue;
    const text = readFileSync(join(root, dir, name), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      const abs = resolve(root, dir, m[1]!);
      const rel = relative(root, abs);
      const target = rel.startsWith('..') ? `../${rel.split('/')[1]}` : rel.split('/')[0]!;
      out.push({ file: `${dir}/${name}`, target });
    }
  }
  return out;
}

const allowed = (from: string, targets: string[]) => (i: { target: string }) => i.target === from || targets.includes(i.target);

describe('runtime layering', () => {
  it('oci/ imports only pkg/api', () => {
    const imports = importsOf('oci');
    expect(imports.map((i) => i.target)).toContain('../api');
    expect(imports.filter((i) => !allowed('oci', ['../api'])(i))).toEqual([]);
  });
  it('registry/ imports oci/ and pkg/api, pkg/util, never image/', () => {
    const imports = importsOf('registry');
    expect(imports.map((i) => i.target)).toContain('oci');
    expect(imports.filter((i) => !allowed('registry', ['oci', '../api', '../util'])(i))).toEqual([]);
  });
});
