// Lint rule `shoal/package-boundaries`: the package map of docs/architecture.md, enforced.
//
// A package is a directory pkg/<name>/. Code outside a package reaches it only through its
// front door, pkg/<name>/index.ts; inside a package any relative import is fine. A package's
// production code may import only the packages the map below allows it (which keeps the graph
// acyclic and layered); tests, cmd/, test/ and bench/ may import any package, through its
// front door.
import path from 'node:path';

/** What each package's production code may import. Keep in step with docs/architecture.md. */
export const PACKAGE_MAP = {
  api: [],
  util: ['api'],
  pki: ['api'],
  store: ['api', 'util'],
  client: ['api', 'util'],
  httpserver: ['api', 'util'],
  runtime: ['api', 'util'],
  network: ['api', 'util', 'runtime'],
  scheduler: ['api', 'util', 'store'],
  controller: ['api', 'util', 'store', 'scheduler', 'httpserver', 'pki'],
  agent: ['api', 'util', 'client', 'httpserver', 'runtime', 'network', 'pki'],
  ctl: ['api', 'util', 'client'],
};

function packageOf(rel) {
  const parts = rel.split(path.sep);
  return parts[0] === 'pkg' && parts.length > 2 ? parts[1] : undefined;
}

function isTestFile(rel) {
  return /\.test\.ts$/.test(rel) || !rel.startsWith(`pkg${path.sep}`);
}

export const packageBoundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'imports go through a package front door (index.ts) and follow the package map' },
    schema: [],
    messages: {
      inner: "'{{spec}}' reaches into pkg/{{target}}/{{inner}}: import pkg/{{target}}/index.js instead (export what you need from it)",
      notAllowed: "pkg/{{from}} may not import pkg/{{target}} (docs/architecture.md: pkg/{{from}} may import {{allowed}})",
      unknown: "pkg/{{target}} is not in the package map (eslint-rules/package-boundaries.js and docs/architecture.md)",
    },
  },
  create(context) {
    const root = context.cwd ?? process.cwd();
    const file = context.filename ?? context.getFilename();
    const rel = path.relative(root, file);
    const from = packageOf(rel);
    const test = isTestFile(rel);
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = path.relative(root, path.resolve(path.dirname(file), spec));
      const pkg = packageOf(target);
      if (pkg === undefined || pkg === from) return;
      if (!(pkg in PACKAGE_MAP)) {
        context.report({ node, messageId: 'unknown', data: { target: pkg } });
        return;
      }
      const inner = target.split(path.sep).slice(2).join('/');
      if (inner !== 'index.js' && inner !== 'index.ts' && inner !== 'index') {
        context.report({ node, messageId: 'inner', data: { spec, target: pkg, inner } });
        return;
      }
      if (from !== undefined && !test) {
        const allowed = PACKAGE_MAP[from];
        if (allowed === undefined) context.report({ node, messageId: 'unknown', data: { target: from } });
        else if (!allowed.includes(pkg)) context.report({ node, messageId: 'notAllowed', data: { from, target: pkg, allowed: allowed.length ? allowed.join(', ') : 'nothing else' } });
      }
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default { rules: { 'package-boundaries': packageBoundaries } };
