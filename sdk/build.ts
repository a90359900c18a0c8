import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { documentIdOf } from '../src/domain/trustedDocuments/trustedDocuments.js';
import { bundleSdk, SDK_DIST, SDK_SCRIPTS, sizesOf } from '../src/http/routes/sdkBundles.js';
import { CREATE_CARD_TOKEN } from './protocol.js';

// `npm run sdk:build` (and the last step of `npm run build`): bundles the browser SDK into dist/sdk/ and prints
// each script's size and its Subresource Integrity hash, the value of `<script integrity="…">`. Also writes
// dist/sdk/persisted-documents.json, the SDK's one GraphQL document, for a vault that runs trusted documents
// only (`npx vault documents push dist/sdk/persisted-documents.json --label browser-sdk`).
//   --quiet   print nothing (npm run build)
//   --json    print { "vault.js": { integrity, bytes, gzip }, … } instead of text
//   --no-write  print only, write no file

const quiet = process.argv.includes('--quiet');
const json = process.argv.includes('--json');
const write = !process.argv.includes('--no-write');
const scripts = await bundleSdk();
if (write) mkdirSync(SDK_DIST, { recursive: true });
const report: Record<string, { integrity: string; bytes: number; gzip: number }> = {};
for (const name of SDK_SCRIPTS) {
  if (write) writeFileSync(path.join(SDK_DIST, name), scripts[name].body);
  report[name] = { integrity: scripts[name].integrity, ...sizesOf(scripts[name]) };
}
if (write) {
  const manifest = { [documentIdOf(CREATE_CARD_TOKEN)]: CREATE_CARD_TOKEN };
  writeFileSync(path.join(SDK_DIST, 'persisted-documents.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}
if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
else if (!quiet) {
  for (const [name, { integrity, bytes, gzip }] of Object.entries(report)) {
    process.stdout.write(`/js/v1/${name}  ${bytes} bytes minified, ${gzip} gzipped\n  integrity="${integrity}"\n`);
  }
}
