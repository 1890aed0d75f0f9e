// Lint: no `any`, no forgotten promises, in the library, the CLI and the specs; and the
// library's layers, each folder importing only from the folders below it.
import tseslint from 'typescript-eslint';

// lib/'s folders from the bottom up (errors.ts and version.ts sit below them all, index.ts above).
const LAYERS = ['io', 'concepts', 'tokenize', 'reference', 'onnx', 'checkpoint', 'synth', 'rewrite', 'measure', 'runtime', 'options', 'plan', 'compare', 'represent', 'knockout', 'results', 'measurers', 'render', 'report', 'commands'];

/** For each folder: an import of a folder above it, or of the library's index, is an error that says where the layers are. */
const layerRules = LAYERS.map((folder, k) => ({
  files: [`lib/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^(\\./|(\\.\\./)+)(${[...LAYERS.slice(k + 1), 'index\\.js'].join('|')})(/|$)`,
            message: `lib/${folder} imports only from the layers below it (${LAYERS.slice(0, k).join(', ') || 'errors and version only'}): move the shared type or function down, to the lowest folder that uses it.`,
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'eslint.config.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_' }],
    },
  },
  {
    // specs pass async callbacks of one shape whether they await or not
    files: ['spec/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    files: ['lib/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  ...layerRules,
);
