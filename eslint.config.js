import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // Bundles that tools/run-ts.mjs and the CLI tests write next to their sources while they run.
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/.turbo/**',
      '**/test-output/**',
      '**/.*.mjs',
      '**/.tune*.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {
      globals: { console: 'readonly', process: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The report's page script runs in the browser, after Chart.js.
    files: ['packages/core/src/outputs/report-page.js'],
    languageOptions: { globals: { document: 'readonly', Chart: 'readonly' } },
  },
);
