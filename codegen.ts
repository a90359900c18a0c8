import type { CodegenConfig } from '@graphql-codegen/cli';

// The typed client: every operation under packages/client/operations becomes a TypedDocumentNode that
// graphql-request (see src/client/index.ts) types end to end. Regenerate with `npm run codegen`.
const config: CodegenConfig = {
  schema: 'schema.graphql',
  emitLegacyCommonJSImports: false,
  documents: ['packages/client/operations/*.graphql'],
  generates: {
    'packages/client/src/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false, persistedDocuments: true },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', JSON: 'unknown', ID: 'string' },
        avoidOptionals: { field: true, inputValue: false, object: true },
        defaultScalarType: 'unknown',
      },
    },
  },
  hooks: { afterAllFileWrite: [] },
};

export default config;
