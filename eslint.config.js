// Lint: correctness rules that matter for daemons, and the rules that keep the architecture
// (docs/architecture.md). The type-aware promise rules are errors: a floating promise in an
// agent or controller loses an error or a write. Imports go through a package's front door and
// follow the package map (shoal/package-boundaries); no module cycles (import-x/no-cycle);
// files and functions stay small enough to read (max-lines, max-lines-per-function).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import shoal from './eslint-rules/package-boundaries.js';

export default tseslint.config(
  { ignores: ['dist/**', '.tmp/**', 'node_modules/**', 'native/**', 'coverage/**', '**/*.mjs', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX, shoal },
    settings: {
      // import-x parses each imported module itself (for no-cycle) and needs to be told how.
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
      'no-control-regex': 'off',
      'shoal/package-boundaries': 'error',
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    // Production code (tests may be long tables of cases).
    files: ['pkg/**/*.ts', 'cmd/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'max-lines': ['error', { max: 600 }],
      'max-lines-per-function': ['error', { max: 150 }],
    },
  },
);
