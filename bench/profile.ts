// Summarizes V8 CPU profiles (`node --cpu-prof`, as `npm run bench -- --profile` records the product): where
// the samples are spent, by package (self and inclusive: "some frame of this package is on the stack") and
// by function. Also runnable alone: `npx tsx bench/profile.ts <file.cpuprofile | dir>`.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
}

/** "pkg" for node_modules/pkg (or @scope/pkg), "vault:<dir>" for our own code, "node:" internals, "(gc)" etc. */
export function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node:internal';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const own = /\/(src|bench)\/(?:([^/]+)\/)?[^/]+$/.exec(url);
  if (own) return `vault:${own[1]}${own[2] ? `/${own[2]}` : ''}`;
  return url;
}

export function summarizeProfile(profile: CpuProfile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const total = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0) || 1;
  const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
  const busy = total - idle || 1;

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const fn = new Map<string, number>();
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits || n.callFrame.functionName === '(idle)') continue;
    const pkg = packageOf(n.callFrame.url, n.callFrame.functionName);
    self.set(pkg, (self.get(pkg) ?? 0) + hits);
    const where = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench|dist)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
    fn.set(where, (fn.get(where) ?? 0) + hits);
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      seen.add(packageOf(f.url, f.functionName));
    }
    for (const p of seen) inclusive.set(p, (inclusive.get(p) ?? 0) + hits);
  }
  const pct = (v: number) => `${((v / busy) * 100).toFixed(1).padStart(5)}%`;
  const rows = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${pct(v)}  ${k}`)
      .join('\n');
  return [
    `busy ${((busy / total) * 100).toFixed(0)}% of ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s (percentages below are of busy samples)`,
    'self time by package:',
    rows(self, 15),
    'inclusive time by package (a frame of it on the stack):',
    rows(inclusive, 15),
    'self time by function:',
    rows(fn, top),
  ].join('\n');
}

export function summarizeProfiles(target: string): string {
  const files = statSync(target).isDirectory()
    ? readdirSync(target)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => path.join(target, f))
    : [target];
  return files
    .map((file) => {
      const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
      // The cluster's primary only forks and waits: skip profiles with nearly no samples.
      const samples = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
      return samples < 100 ? '' : `profile ${path.relative(process.cwd(), file)}\n${summarizeProfile(profile)}`;
    })
    .filter(Boolean)
    .join('\n\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const target = process.argv[2];
  if (!target) {
    console.error('usage: tsx bench/profile.ts <file.cpuprofile | directory>');
    process.exit(2);
  }
  console.log(summarizeProfiles(target));
}
