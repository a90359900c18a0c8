import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { newMerchant, useDatabase } from '../helpers/vault.js';

// The installable client as a merchant gets it: `npm pack -w @vault/client`, installed into a new npm project
// outside the repository, the README's example compiled with `tsc --noEmit` (strict) and run against the server.

const ROOT = path.resolve(import.meta.dirname, '..', '..');
useDatabase();
const work = mkdtempSync(path.join(tmpdir(), 'vault-client-package-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The version of a package in the repository's own install: the merchant's install then comes from npm's cache. */
function installedVersion(name: string): string {
  const require = createRequire(path.join(ROOT, 'package.json'));
  return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
}

/** The README's TypeScript example, between its markers. */
function readmeExample(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- client-example:start[^>]*-->\s*```ts\n([\s\S]*?)```\s*<!-- client-example:end -->/.exec(readme);
  if (!block) throw new Error('README.md has no client example between its markers');
  return block[1]!;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('@vault/client, installed from its tarball', () => {
  it("packs with declarations and declared dependencies; a new project installs it, type-checks and runs the README's example", {
    timeout: 300_000,
  }, async () => {
    const packDir = path.join(work, 'pack');
    mkdirSync(packDir);
    execFileSync('npm', ['pack', '-w', '@vault/client', '--pack-destination', packDir, '--silent'], { cwd: ROOT, stdio: 'pipe' });
    const [tarball] = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    expect(tarball).toMatch(/^vault-client-\d+\.\d+\.\d+\.tgz$/);
    const listing = run('tar', ['-tzf', path.join(packDir, tarball!)], packDir).out.split('\n');
    expect(listing).toEqual(
      expect.arrayContaining([
        'package/dist/index.js',
        'package/dist/index.d.ts',
        'package/dist/generated/graphql.d.ts',
        'package/schema.graphql',
        'package/package.json',
      ]),
    );
    // Nothing of the vault's own code or tests travels with the client.
    expect(listing.filter((f) => /package\/(src|test)\//.test(f))).toEqual([]);

    const app = path.join(work, 'merchant-app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'merchant-app', private: true, type: 'module' }));
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          types: ['node'],
          outDir: 'out',
        },
        include: ['example.ts'],
      }),
    );
    writeFileSync(path.join(app, 'example.ts'), readmeExample());
    const install = run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        path.join(packDir, tarball!),
        `typescript@${installedVersion('typescript')}`,
        `@types/node@${installedVersion('@types/node')}`,
      ],
      app,
    );
    expect(install.status, install.out).toBe(0);
    // Its runtime dependencies came from its package.json, and the peer graphql with them.
    for (const dep of ['graphql-request', 'graphql', '@graphql-typed-document-node/core']) {
      expect(readdirSync(path.join(app, 'node_modules', ...dep.split('/'))).length, dep).toBeGreaterThan(0);
    }
    const tsc = path.join(app, 'node_modules', 'typescript', 'bin', 'tsc');
    const check = run(process.execPath, [tsc, '--noEmit'], app);
    expect(check.status, check.out).toBe(0);
    // A type error in the merchant's code is caught: the documents are typed, not `any`.
    writeFileSync(path.join(app, 'wrong.ts'), `${readmeExample()}\nconst n: number = tokenizeCard.__typename;\n`);
    writeFileSync(path.join(app, 'tsconfig.wrong.json'), JSON.stringify({ extends: './tsconfig.json', include: ['wrong.ts'] }));
    const wrong = run(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.wrong.json'], app);
    expect(wrong.status).not.toBe(0);
    expect(wrong.out).toMatch(/wrong\.ts.*not assignable to type 'number'/);

    const build = run(process.execPath, [tsc], app);
    expect(build.status, build.out).toBe(0);
    const merchant = await newMerchant();
    const graphqlUrl = inject('graphqlUrl');
    const example = run(process.execPath, [path.join(app, 'out', 'example.js')], app, {
      ...process.env,
      VAULT_URL: new URL(graphqlUrl).origin,
      VAULT_KEY: merchant.secretKey,
    });
    expect(example.status, example.out).toBe(0);
    expect(example.out).toMatch(/^pm_\w+ VISA 4242 2031-04-01T00:00:00Z\nfalse\n$/);
  });
});
