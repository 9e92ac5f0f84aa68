// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import eslintConfigPrettier from 'eslint-config-prettier/flat';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'bench/results/**',
      '.stryker-tmp/**',
      'reports/**',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        queueMicrotask: 'readonly',
        Buffer: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name=/^(it|describe|test)$/][callee.property.name='only']",
          message: 'No .only in committed tests.',
        },
      ],
    },
  },
  {
    // The election core must stay free of Nest and Azure: it is the part everything else trusts.
    files: ['lib/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['@nestjs/*', '@azure/*', '**/cli/*'] }],
    },
  },
  {
    // The operator CLI is a leaf: it uses lib/core and lib/stores; nothing in the library imports it.
    files: ['lib/nest/**/*.ts', 'lib/stores/**/*.ts', 'lib/index.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/cli/*'] }] },
  },
  {
    files: ['lib/cli/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/nest/*', '@nestjs/*', '../index.js'] }] },
  },
  // Formatting is Prettier's (checked in `npm run lint`); turn off the stylistic rules that disagree with it.
  eslintConfigPrettier,
);
