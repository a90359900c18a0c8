import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  // Vite would resolve `graphql` to its .mjs build while Pothos (loaded by Node) gets the CommonJS one;
  // two copies of graphql cannot share a schema, so pin the one Node uses.
  resolve: { alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }] },
  test: {
    testTimeout: 30_000,
    hookTimeout: 90_000,
    // `npm test` runs both; `npx vitest run --project unit` needs no database and takes seconds.
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        // One database and one server process for the run (test/global-setup.ts), reached over real HTTP.
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: ['test/global-setup.ts'] },
      },
    ],
  },
});
