// Builds the package: the typed client compiled to ESM with declarations (dist/), the generated documents'
// manifest for `vault documents push`, and the server's schema.graphql, so a merchant can generate their own
// operations against it. The generated TypeScript is committed (`npm run codegen` at the repository root).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const root = path.resolve(here, '..', '..');
rmSync(path.join(here, 'dist'), { recursive: true, force: true });
const tsc = path.join(path.dirname(createRequire(path.join(root, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(here, 'tsconfig.build.json')], { stdio: 'inherit' });
mkdirSync(path.join(here, 'dist', 'generated'), { recursive: true });
copyFileSync(
  path.join(here, 'src', 'generated', 'persisted-documents.json'),
  path.join(here, 'dist', 'generated', 'persisted-documents.json'),
);
copyFileSync(path.join(root, 'schema.graphql'), path.join(here, 'schema.graphql'));
