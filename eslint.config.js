// Lint: typescript-eslint's type-checked recommended rules over the TypeScript of the repository
// (typescript-eslint.io/getting-started/typed-linting); Prettier formats (.prettierrc.json).
// `npm run lint` runs both checks, and .ci/run fails on either.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-check/**', 'node_modules/**', '.tap/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // the one tsconfig that holds every linted file: 20 s, where the project service took 27 s
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `_name` marks what is there to be ignored (a destructured member left out, a callback's unused argument)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // an async function that does not await still turns a throw into a rejection, which the
      // implementations of asynchronous interfaces (stores, daemon parts) rely on
      '@typescript-eslint/require-await': 'off',
      // Prettier wraps code at 160 columns but never splits a string: a message, an SQL
      // statement or an HTML fragment stays whole, so that it can be found by searching for it
      'max-len': ['error', { code: 160, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // tap runs a subtest whether or not its promise is awaited, and reports its result itself
      // (node-tap.org/basics: "t.test() returns a Promise")
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }] },
      ],
      // tests reach into fixture documents at any depth to build hostile or edited inputs
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
  },
);
