import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { PROJECT_ROOT } from '../../app/projectRoot.js';

// The browser SDK's scripts (sdk/: vault.js for merchants' pages, fields.js for the hosted fields' iframe),
// bundled by esbuild into classic IIFE scripts. `npm run build` writes them to dist/sdk/ (sdk/build.ts), and a
// compiled server (`npm start`) serves those files: production needs no bundler, and esbuild stays a
// devDependency. Run from the sources (tsx: `npm run dev`, the tests), the server bundles them itself on the
// first request, so an edit to sdk/ shows on the next start with no build step. Both ways run the same
// esbuild options on the same sources, so the bytes (and the integrity hash) are the same.

export const SDK_SCRIPTS = ['vault.js', 'fields.js'] as const;
export type SdkScriptName = (typeof SDK_SCRIPTS)[number];

export interface SdkScript {
  body: Uint8Array<ArrayBuffer>;
  /** Subresource Integrity: `sha384-<base64>`, for `<script integrity="…">`. */
  integrity: string;
}

export type SdkScripts = Record<SdkScriptName, SdkScript>;

/** Where `npm run build` puts the bundles. */
export const SDK_DIST = path.join(PROJECT_ROOT, 'dist', 'sdk');

function integrityOf(body: Uint8Array): string {
  return `sha384-${createHash('sha384').update(body).digest('base64')}`;
}

/** Bundles sdk/vault.ts and sdk/fields.ts with esbuild (a devDependency: loaded only here). */
export async function bundleSdk(): Promise<SdkScripts> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: SDK_SCRIPTS.map((name) => path.join(PROJECT_ROOT, 'sdk', name.replace(/\.js$/, '.ts'))),
    outdir: SDK_DIST,
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    charset: 'utf8',
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const byName = new Map(result.outputFiles.map((f) => [path.basename(f.path), new Uint8Array(f.contents)]));
  return scripts((name) => {
    const body = byName.get(name);
    if (!body) throw new Error(`esbuild produced no ${name}`);
    return body;
  });
}

function scripts(bodyOf: (name: SdkScriptName) => Uint8Array<ArrayBuffer>): SdkScripts {
  return Object.fromEntries(
    SDK_SCRIPTS.map((name) => {
      const body = bodyOf(name);
      return [name, { body, integrity: integrityOf(body) }];
    }),
  ) as SdkScripts;
}

/**
 * The prebuilt files when this module runs compiled (dist/), else a fresh bundle of the sources. A compiled
 * server without them (built by `tsc` alone, not `npm run build`) bundles too, if esbuild is installed.
 */
export async function loadSdk(): Promise<SdkScripts> {
  if (import.meta.url.endsWith('.ts')) return bundleSdk();
  let bodies: Buffer<ArrayBuffer>[];
  try {
    bodies = await Promise.all(SDK_SCRIPTS.map((name) => readFile(path.join(SDK_DIST, name))));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return bundleSdk();
  }
  return scripts((name) => bodies[SDK_SCRIPTS.indexOf(name)]!);
}

/** Minified and gzipped sizes in bytes. */
export function sizesOf(script: SdkScript): { bytes: number; gzip: number } {
  return { bytes: script.body.byteLength, gzip: gzipSync(script.body, { level: 9 }).byteLength };
}
