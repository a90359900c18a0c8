#!/usr/bin/env node
// `npx vault <command>`: the operator CLI without npm's banner on stdout, so `--json` output pipes into jq.
// Runs the TypeScript source through tsx (a dependency), so it works in a fresh clone after `npm ci`
// without a build and never runs a stale dist/.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/index.ts');
