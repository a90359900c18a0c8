// `npm run bench`: the vault (L4) measured beside a ladder of simpler systems on the same machine, in the
// same run, so that ratios hold however noisy the machine is:
//   L0  bare node:http answering fixed JSON (bench/levels.ts)
//   L1  graphql-yoga answering a masked read from memory, no database (bench/levels.ts)
//   L2  pgbench replaying exactly the statement one tokenize sends
//   L3  node:http + pg doing the same crypto and the same SQL as a tokenize / masked read (bench/levels.ts)
//   L4  the product, started as `npm start` starts it, against the local Postgres
// Load: autocannon, closed loop (each connection sends its next request when the last one is answered).
// A GraphQL error or an error result counts as an error. Results: one table, and JSON in bench/results/.
//
//   npm run bench                      the ladder at concurrency 1, 16, 64 (5 s each)
//   npm run bench -- --workers         also L4 with VAULT_WORKERS = 1 … cores
//   npm run bench -- --soak            also 5 minutes of tokenizations at 16, RSS sampled
//   npm run bench -- --duration 10 --connections 16
//   npm run bench -- --only read-masked --connections 16 --profile
//                                      one scenario (and its L3 twin); L4 under --cpu-prof, summarized
//   npm run bench -- --only import --import-rows 10000
//                                      `vault import` throughput (cards/s) and peak RSS (bench/import-scale.ts)

import { execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import { pino } from 'pino';
import { createApp } from '../src/app/app.js';
import { parseConfig } from '../src/app/config.js';
import { migrate } from '../src/db/migrate.js';
import { INSERT_NEW_CARD } from '../src/domain/paymentMethods/store.js';
import { hashKey } from '../src/domain/merchants/apiKeys.js';
import { createCustomer } from '../src/domain/customers/customers.js';
import { createMerchant } from '../src/domain/merchants/merchants.js';
import { tokenizeCard } from '../src/domain/paymentMethods/paymentMethods.js';
import { documentIdOf } from '../src/domain/trustedDocuments/trustedDocuments.js';
import { insertDocuments } from '../src/domain/trustedDocuments/store.js';
import type { Principal } from '../src/domain/shared/principal.js';
import { luhnValid } from '../src/card/number.js';
import { EXP_YEAR } from '../test/helpers/expiry.js';
import { startProcess, startVaultServer, stopProcess } from '../test/helpers/serverProcess.js';
import { summarizeProfiles } from './profile.js';
import { median as medianOf } from './stats.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const MASTER_KEYS = `bench1:${Buffer.alloc(32, 5).toString('base64')}`;
const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const DB_NAME = 'vault_bench';
const DATABASE_URL = ADMIN_URL.replace(/\/[^/]*$/, `/${DB_NAME}`);

interface Options {
  duration: number;
  connections: number[];
  workers: boolean;
  soak: boolean;
  soakMinutes: number;
  importRows: number;
  only?: string[];
  profile: boolean;
  executor: 'graphql-js' | 'jit';
  analyze: boolean;
  filler: number;
  rounds: number;
}

export interface Row {
  level: 'L0' | 'L1' | 'L2' | 'L3' | 'L4';
  scenario: string;
  connections: number;
  workers?: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
  rssMB: number | null;
  /** CPU time (user + system) the server's processes spent per request during the measurement, in µs. */
  cpuUs?: number;
  /** With --rounds: each round's figures, of which this row holds the medians. */
  rounds?: { rps: number; p50: number; p99: number; errors: number; cpuUs?: number }[];
}

/**
 * One row of several rounds of the same cell: the median of each figure (a round that a neighbour on the
 * shared machine slowed is one round of several, not a third of the cell), errors summed; every round's
 * figures are kept in `rounds`.
 */
function combineRounds(rounds: Omit<Row, 'level' | 'scenario' | 'connections'>[]): Omit<Row, 'level' | 'scenario' | 'connections'> {
  const median = (v: number[]) => Math.round(medianOf(v) * 100) / 100;
  const cpu = rounds.map((r) => r.cpuUs).filter((c): c is number => c !== undefined);
  return {
    rps: Math.round(median(rounds.map((r) => r.rps))),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
    requests: rounds.reduce((n, r) => n + r.requests, 0),
    rssMB: Math.max(...rounds.map((r) => r.rssMB ?? 0)) || null,
    ...(cpu.length === rounds.length && { cpuUs: Math.round(median(cpu)) }),
    rounds: rounds.map(({ rps, p50, p99, errors, cpuUs }) => ({ rps, p50, p99, errors, ...(cpuUs !== undefined && { cpuUs }) })),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Processes

/** One of the ladder's servers (bench/levels.ts), printing `LISTENING <port>` to its own log once ready. */
async function startLevel(level: 'L0' | 'L1' | 'L3', env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; port: number }> {
  const { child, ready } = await startProcess({
    args: ['bench/levels.ts', level],
    env: { ...process.env, ...env },
    ready: /LISTENING (\d+)/,
    log: { file: path.join(ROOT, 'bench', 'results', `${level.toLowerCase()}.log`), mode: 'direct' },
  });
  return { child, port: Number(ready) };
}

const stop = (child: ChildProcess) => stopProcess(child, 'SIGTERM', 10_000);

/** `measure` of a process plus its children's (cluster workers'), recursively; 0 for a process gone. */
function overTree(pid: number, measure: (pid: number) => number): number {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return measure(pid) + children.reduce((sum, c) => sum + overTree(Number(c), measure), 0);
  } catch {
    return 0;
  }
}

/** Resident memory of a process and its children (cluster workers), in MB. */
function rssMB(pid: number): number {
  const kb = overTree(pid, (p) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0));
  return Math.round(kb / 1024);
}

/**
 * CPU time (user + system) of a process and its children so far, in ms. Per request, it compares the servers'
 * own cost: unlike requests per second it barely moves when other processes take the machine's cores.
 */
function cpuMs(pid: number): number {
  const USER_HZ = 100;
  return overTree(pid, (p) => {
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Load

interface Load {
  url: string;
  headers: Record<string, string>;
  body: () => string;
  /** Headers chosen per request (the api key of one of several merchants). */
  requestHeaders?: () => Record<string, string>;
}

// `--no-analyze`: measure the database as a new one, a restore or an upgrade leaves it, with no statistics
// (autovacuum is off on these machines, so nothing gathers them behind the bench's back).
let analyzeBetweenRuns = true;

/** Lets the database finish the last measurement's work (dirty pages, autovacuum) before the next one. */
async function settle(): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query('CHECKPOINT');
  // Fresh statistics: a table grown by the last run must not be planned as if it were empty.
  if (analyzeBetweenRuns) await client.query('ANALYZE');
  await client.end();
  await new Promise((r) => setTimeout(r, 1000));
}

async function measure(
  load: Load,
  connections: number,
  duration: number,
  pid?: number,
): Promise<Omit<Row, 'level' | 'scenario' | 'connections'>> {
  await settle();
  let errors = 0;
  const run = (seconds: number) =>
    autocannon({
      url: load.url,
      connections,
      duration: seconds,
      pipelining: 1,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...load.headers },
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            body: load.body(),
            ...(load.requestHeaders && { headers: { ...req.headers, ...load.requestHeaders() } }),
          }),
          onResponse: (status, body) => {
            // A read that finds nothing (`"paymentMethod":null`) is as wrong as an error.
            if (
              status !== 200 ||
              body.includes('"errors"') ||
              /"__typename":"\w*Error"/.test(body) ||
              body.includes('"paymentMethod":null')
            )
              errors++;
          },
        },
      ],
    });
  await run(1); // warm-up: JIT, pools, caches
  errors = 0;
  let peak = 0;
  const sampler = pid ? setInterval(() => (peak = Math.max(peak, rssMB(pid))), 250) : undefined;
  const cpuBefore = pid ? cpuMs(pid) : 0;
  const result = await run(duration);
  const cpuSpent = pid ? cpuMs(pid) - cpuBefore : 0;
  if (sampler) clearInterval(sampler);
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: errors + result.errors + result.timeouts,
    requests: result.requests.total,
    rssMB: pid ? peak : null,
    ...(pid && result.requests.total > 0 && { cpuUs: Math.round((cpuSpent * 1000) / result.requests.total) }),
  };
}

/**
 * A fresh Luhn-valid Visa number per call, random like real traffic: sequential numbers would share their bin
 * and last four every thousand cards, which the enumeration limit (rightly) refuses after 20 per api key.
 */
function newCard(): string {
  const partial = `4${String(Math.floor(Math.random() * 1e14)).padStart(14, '0')}`;
  return partial + [...'0123456789'].find((d) => luhnValid(partial + d))!;
}

const gql = (query: string, variables: unknown) => JSON.stringify({ query, variables });
const byId = (query: string, variables: unknown) => JSON.stringify({ documentId: documentIdOf(query), variables });
let turn = 0;
const next = <T>(list: readonly T[]): T => list[turn++ % list.length]!;
const SCENARIOS = [
  'fixed-json',
  'tokenize-sql',
  'tokenize-new',
  'tokenize-8-merchants',
  'tokenize-dup',
  'read-masked',
  'list-customer',
  'pay-stored',
  'tokenize-new-id',
  'read-masked-id',
  'import',
] as const;
type Scenario = (typeof SCENARIOS)[number];
const TOKENIZE =
  'mutation Tokenize($input: TokenizeCardInput!) { tokenizeCard(input: $input) { __typename ... on TokenizeCardSuccess { duplicate paymentMethod { id } } } }';
const READ = 'query ReadMasked($id: ID!) { paymentMethod(id: $id) { id card { bin last4 brand expMonth expYear } } }';
const LIST =
  'query($id: ID!) { customer(id: $id) { paymentMethods(first: 10) { edges { node { id card { last4 brand expMonth expYear } } } } } }';
const PAY =
  'mutation($input: CreatePaymentInput!) { createPayment(input: $input) { __typename ... on CreatePaymentSuccess { payment { id status } } } }';

// ---------------------------------------------------------------------------------------------------------
// Fixtures

interface Fixtures {
  secretKey: string;
  merchantId: string;
  profileId: string;
  keyId: string;
  customerId: string;
  storedPm: string;
  /** Stored cards, used round-robin by the duplicate and payment scenarios (many customers' cards, not one). */
  stored: { id: string; number: string }[];
  /** Secret keys of eight merchants (the first is the bench merchant's): the same load spread over them. */
  eightMerchants: string[];
}

async function setUp(fillerCards: number): Promise<Fixtures> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  await admin.end();
  await migrate(DATABASE_URL);
  const config = parseConfig({ NODE_ENV: 'test', DATABASE_URL, VAULT_MASTER_KEYS: MASTER_KEYS, DATABASE_POOL_SIZE: '4' });
  const app = await createApp(config, pino({ level: 'silent' }));
  const { db } = app;
  try {
    const m = await createMerchant(app, { name: 'Bench' });
    const key = await db.prisma.apiKey.findFirstOrThrow({ where: { keyHash: hashKey(m.secretKey) } });
    const principal: Principal = {
      merchantId: m.merchantId,
      mode: 'TEST',
      keyId: key.id,
      kind: 'SECRET',
      profileId: m.defaultProfileId,
      allowReveal: false,
      requestId: 'bench-setup',
    };
    const customer = await createCustomer(app, principal, { name: 'Bench Customer', email: 'bench@example.com' });
    for (let i = 0; i < 10; i++) {
      await tokenizeCard(app, principal, {
        customerId: customer.id,
        card: { number: newCard(), expMonth: 1 + i, expYear: EXP_YEAR, holderName: 'Bench Holder' },
      });
    }
    const stored = [];
    for (let i = 0; i < 200; i++) {
      const number = newCard();
      const pm = await tokenizeCard(app, principal, { card: { number, expMonth: 12, expYear: EXP_YEAR, holderName: 'Bench Holder' } });
      stored.push({ id: pm.paymentMethod.id, number });
    }
    // A big merchant: 34,504 more cards (filler rows, never read), so that plans are those of a merchant
    // whose cards the planner must not scan, and `--no-analyze` shows whether they hold without statistics.
    await db.sql(
      `INSERT INTO payment_methods (merchant_id, id, mode, type, fingerprint, card_number, card_expiry, bin, last4, brand, retain_until, created_at, updated_at, profile_id)
       SELECT $1, 'pm_' || substr(md5('filler' || g), 1, 22), 'TEST', 'CARD', substr(md5('f' || g) || md5('g' || g), 1, 43),
         repeat('x', 120), repeat('x', 90), '400000', lpad((g % 10000)::text, 4, '0'), 'VISA', now() + interval '2 years', now(), now(), $3
       FROM generate_series(1, $2::int) g`,
      [m.merchantId, fillerCards, m.defaultProfileId],
    );
    // The bench's operations as trusted documents (what `vault documents push` stores for the generated client's).
    await insertDocuments(
      app,
      [TOKENIZE, READ].map((document) => ({ id: documentIdOf(document), document, operationNames: '', label: 'bench' })),
    );
    const others = [];
    for (let i = 1; i < 8; i++) others.push((await createMerchant(app, { name: `Bench ${i + 1}` })).secretKey);
    return {
      secretKey: m.secretKey,
      merchantId: m.merchantId,
      profileId: m.defaultProfileId,
      keyId: key.id,
      customerId: customer.id,
      storedPm: stored[0]!.id,
      stored,
      eightMerchants: [m.secretKey, ...others],
    };
  } finally {
    await app.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------
// L2: pgbench replaying exactly the statement one tokenize of a new card sends (src/domain/paymentMethods/store.ts; the
// api key comes from the server's cache), prepared, with the product's column values (sealed values of
// realistic length).

async function pgbench(f: Fixtures, connections: number, duration: number): Promise<Omit<Row, 'level' | 'scenario' | 'connections'>> {
  await settle();
  const dir = mkdtempSync(path.join(tmpdir(), 'vault-pgbench-'));
  const envelope = `'v1.dk_0123456789abcdefABCDEF.${'x'.repeat(60)}'`;
  const values: Record<number, string> = {
    1: ':merchant',
    2: "'pm_' || md5(random()::text)",
    3: "'TEST'",
    4: 'NULL',
    5: 'md5(random()::text)',
    6: envelope,
    7: envelope,
    8: envelope,
    9: 'NULL',
    10: "'424242'",
    11: "'4242'",
    12: "'VISA'",
    13: 'NULL',
    14: 'NULL',
    15: 'NULL',
    16: 'NULL',
    17: 'NULL',
    18: "now() + interval '2 years'",
    19: 'now()',
    20: "'aud_' || md5(random()::text)",
    21: ':keyid',
    22: "'bench'",
    23: `'{"duplicate": false}'`,
    24: ':profile',
    25: `'{}'`,
    26: "'evt_' || md5(random()::text)",
  };
  const script = `${INSERT_NEW_CARD.text.replace(/\$(\d+)/g, (_m, n: string) => values[Number(n)]!)};\n`;
  writeFileSync(path.join(dir, 'tokenize.sql'), script);
  const pgbenchBin = ['/usr/lib/postgresql/15/bin/pgbench', 'pgbench'].find(
    (p) => p === 'pgbench' || readdirSync(path.dirname(p)).includes('pgbench'),
  )!;
  const args = [
    '-n',
    '-M',
    'prepared',
    '-c',
    String(connections),
    '-j',
    String(Math.min(connections, 2)),
    '-T',
    String(duration),
    '-l',
    '-f',
    'tokenize.sql',
    '-D',
    `merchant=${f.merchantId}`,
    '-D',
    `profile=${f.profileId}`,
    '-D',
    `keyid=${f.keyId}`,
    DATABASE_URL,
  ];
  try {
    const { stdout } = await promisify(execFile)(pgbenchBin, args, { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? 0);
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
    const latencies = readdirSync(dir)
      .filter((n) => n.startsWith('pgbench_log'))
      .flatMap((n) => readFileSync(path.join(dir, n), 'utf8').trim().split('\n'))
      .map((line) => Number(line.split(' ')[2]) / 1000)
      .sort((a, b) => a - b);
    const pct = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 100) / 100;
    return { rps: Math.round(tps), p50: pct(0.5), p99: pct(0.99), errors: failed, requests: latencies.length, rssMB: null };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------

function table(rows: Row[]): string {
  const head = ['level', 'scenario', 'conc', 'workers', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'RSS MB', 'CPU µs/req'];
  const lines = rows.map((r) => [
    r.level,
    r.scenario,
    String(r.connections),
    String(r.workers ?? ''),
    String(r.rps),
    String(r.p50),
    String(r.p99),
    String(r.errors),
    r.rssMB === null ? '' : String(r.rssMB),
    r.cpuUs === undefined ? '' : String(r.cpuUs),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

interface Ratio {
  scenario: string;
  connections: number;
  /** L4 / L3: throughput, and p99 (L4's over L3's). */
  throughput: number;
  p99: number;
  /** L3's server CPU per request over L4's: the throughput ratio if each server had a core to itself. */
  cpu?: number;
  /** Reads: L4 / L1 (the GraphQL server alone, from memory), throughput and CPU per request. */
  ofL1?: number;
  cpuOfL1?: number;
}

/**
 * Each L4 cell against the ladder's cells measured last before it (with `--connections 16,16,16` the rounds
 * alternate, and each L4 cell is compared within its own round: the machine drifts between rounds).
 */
function ratios(rows: Row[]): Ratio[] {
  const twins: Record<string, string> = {
    'tokenize-new': 'tokenize-new',
    'tokenize-new-id': 'tokenize-new',
    'read-masked': 'read-masked',
    'read-masked-id': 'read-masked',
  };
  const round = (n: number) => Math.round(n * 100) / 100;
  const out: Ratio[] = [];
  rows.forEach((r4, i) => {
    const twin = twins[r4.scenario];
    if (r4.level !== 'L4' || !twin || r4.workers !== undefined) return;
    const before = rows.slice(0, i).reverse();
    const r3 = before.find((r) => r.level === 'L3' && r.scenario === twin && r.connections === r4.connections);
    if (!r3 || r3.rps === 0 || r3.p99 === 0) return;
    const r1 = before.find((r) => r.level === 'L1' && r.scenario === twin && r.connections === r4.connections);
    out.push({
      scenario: r4.scenario,
      connections: r4.connections,
      throughput: round(r4.rps / r3.rps),
      p99: round(r4.p99 / r3.p99),
      ...(r3.cpuUs && r4.cpuUs && { cpu: round(r3.cpuUs / r4.cpuUs) }),
      ...(r1 && r1.rps > 0 && { ofL1: round(r4.rps / r1.rps) }),
      ...(r1?.cpuUs && r4.cpuUs && { cpuOfL1: round(r1.cpuUs / r4.cpuUs) }),
    });
  });
  return out;
}

/**
 * One merchant, eight merchants, one merchant again: the machine drifts during a run (and the first cells of a
 * fresh server are slower), so one merchant's figure is the mean of the cells around the eight merchants' one.
 */
async function oneEightOne(
  one: () => Promise<Omit<Row, 'level' | 'scenario' | 'connections'>>,
  eight: () => Promise<Omit<Row, 'level' | 'scenario' | 'connections'>>,
): Promise<{ one: Omit<Row, 'level' | 'scenario' | 'connections'>; eight: Omit<Row, 'level' | 'scenario' | 'connections'> }> {
  const before = await one();
  const spread = await eight();
  const after = await one();
  const mean = (a: number, b: number) => Math.round(((a + b) / 2) * 100) / 100;
  return {
    one: {
      rps: Math.round((before.rps + after.rps) / 2),
      p50: mean(before.p50, after.p50),
      p99: mean(before.p99, after.p99),
      errors: before.errors + after.errors,
      requests: before.requests + after.requests,
      rssMB: Math.max(before.rssMB ?? 0, after.rssMB ?? 0) || null,
      ...(before.cpuUs && after.cpuUs && { cpuUs: Math.round((before.cpuUs + after.cpuUs) / 2) }),
    },
    eight: spread,
  };
}

/** Tokenize with all load on one merchant against the same load spread over eight, per concurrency and workers. */
function oneVersusEight(rows: Row[]): { connections: number; workers?: number; throughput: number; p99: number }[] {
  const out = [];
  for (const eight of rows.filter((r) => r.level === 'L4' && r.scenario === 'tokenize-8-merchants')) {
    const one = rows.find(
      (r) => r.level === 'L4' && r.scenario === 'tokenize-new' && r.connections === eight.connections && r.workers === eight.workers,
    );
    if (!one || eight.rps === 0 || eight.p99 === 0) continue;
    out.push({
      connections: eight.connections,
      ...(eight.workers !== undefined && { workers: eight.workers }),
      throughput: Math.round((one.rps / eight.rps) * 100) / 100,
      p99: Math.round((one.p99 / eight.p99) * 100) / 100,
    });
  }
  return out;
}

const PROFILE_DIR = path.join(ROOT, 'bench', 'results', 'profiles');

async function startProduct(workers: number, profile = false, executor = 'jit'): Promise<{ child: ChildProcess; url: string }> {
  // As `npm start` runs it: the compiled build (main() builds it first). Its standard output goes to a file,
  // as a production log would, not through a pipe into this process: here it would be read by the load
  // generator's own event loop (at ~2,000 requests/s the request log is ~0.5 MB/s, and reading it slowed
  // autocannon, and so the measured server, by a third).
  const { child, url } = await startVaultServer({
    compiled: true,
    // BENCH_L4_NODE_FLAGS: more flags for the product's processes (`--trace-gc`, which NODE_OPTIONS refuses).
    nodeFlags: [
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []),
      ...(process.env.BENCH_L4_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
    ],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL,
      VAULT_MASTER_KEYS: MASTER_KEYS,
      PORT: '0',
      HOST: '127.0.0.1',
      VAULT_WORKERS: String(workers),
      VAULT_GRAPHQL_EXECUTOR: executor,
      VAULT_RATE_LIMIT: '0',
      VAULT_PURGE_INTERVAL_SECONDS: '0',
    },
    log: { file: path.join(ROOT, 'bench', 'results', 'server.log'), mode: 'direct' },
  });
  return { child, url };
}

async function main(): Promise<void> {
  const program = new Command('bench')
    .option('--duration <seconds>', 'seconds per measurement', (v) => Number(v), 5)
    .option('--connections <list>', 'concurrency levels', (v) => v.split(',').map(Number), [1, 16, 64])
    .option('--workers', 'also measure L4 with VAULT_WORKERS = 1 … cores')
    .option('--soak', 'also run tokenizations for --soak-minutes at 16 and sample RSS')
    .option('--soak-minutes <n>', 'soak length', (v) => Number(v), 5)
    .option('--import-rows <n>', 'rows of the import scenario', (v) => Number(v), 10_000)
    .option('--only <scenarios>', `only these scenarios (${SCENARIOS.join(', ')})`, (v) => v.split(','))
    .option('--profile', 'run L4 under --cpu-prof and print where its time goes (bench/results/profiles/)')
    .option('--no-analyze', 'never run ANALYZE: plans as a new or restored database gets them, without statistics')
    .option('--executor <name>', "L4's VAULT_GRAPHQL_EXECUTOR: jit (the default) or graphql-js", 'jit')
    .option(
      '--rounds <n>',
      'measure every cell of a concurrency n times, the rungs taking turns (L1, L3, L4, L1, L3, L4, …), and report each cell once: the median of each figure',
      (v) => {
        if (!/^[1-9]\d*$/.test(v)) throw new InvalidArgumentError('a whole number of rounds, at least 1');
        return Number(v);
      },
      1,
    )
    .option('--filler <n>', "extra cards in the bench merchant's vault (0: none, as benches before issue 13)", (v) => Number(v), 34_504)
    .parse(process.argv);
  const opts = program.opts<Options>();
  analyzeBetweenRuns = opts.analyze;
  const unknown = opts.only?.filter((s) => !SCENARIOS.includes(s as Scenario));
  if (unknown?.length) program.error(`unknown scenario: ${unknown.join(', ')}`);
  const wanted = (s: Scenario) => !opts.only || opts.only.includes(s);
  mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  const machine = `${cpus()[0]?.model ?? 'cpu'} × ${availableParallelism()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.error(`bench: ${machine}; ${opts.duration} s per measurement at ${opts.connections.join(', ')}`);

  await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT });
  const f = await setUp(opts.filler);
  const headers = { 'api-key': f.secretKey };
  /** The same load, each request with the key of the next of eight merchants. */
  const overEightMerchants = (load: Load): Load => ({ ...load, requestHeaders: () => ({ 'api-key': next(f.eightMerchants) }) });
  const rows: Row[] = [];
  // With --rounds, the cells of one concurrency are gathered round by round, then recorded once each.
  let gathering:
    | Map<string, { level: Row['level']; scenario: string; workers?: number; rounds: Omit<Row, 'level' | 'scenario' | 'connections'>[] }>
    | undefined;
  const record = (
    level: Row['level'],
    scenario: string,
    connections: number,
    r: Omit<Row, 'level' | 'scenario' | 'connections'>,
    workers?: number,
  ) => {
    if (gathering) {
      const key = `${level} ${scenario} ${workers ?? ''}`;
      const cell = gathering.get(key) ?? { level, scenario, ...(workers !== undefined && { workers }), rounds: [] };
      cell.rounds.push(r);
      gathering.set(key, cell);
      console.error(
        `    round ${cell.rounds.length}: ${level} ${scenario} c=${connections}: ${r.rps} req/s, p99 ${r.p99} ms${r.cpuUs ? `, ${r.cpuUs} µs CPU/req` : ''}`,
      );
      return;
    }
    const row = { level, scenario, connections, ...(workers !== undefined && { workers }), ...r };
    rows.push(row);
    console.error(
      `  ${level} ${scenario} c=${connections}${workers ? ` w=${workers}` : ''}: ${r.rps} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.errors} errors${r.rssMB ? `, ${r.rssMB} MB` : ''}${r.cpuUs ? `, ${r.cpuUs} µs CPU/req` : ''}`,
    );
  };

  const l0 = await startLevel('L0');
  const l1 = await startLevel('L1');
  const l3 = await startLevel('L3', { DATABASE_URL, VAULT_MASTER_KEYS: MASTER_KEYS });
  if (opts.profile) rmSync(PROFILE_DIR, { recursive: true, force: true });
  const l4 = await startProduct(1, opts.profile, opts.executor);
  const tokenizeBody = () =>
    gql(TOKENIZE, { input: { card: { number: newCard(), expMonth: 12, expYear: EXP_YEAR, holderName: 'Bench Holder' } } });
  const readBody = () => gql(READ, { id: f.storedPm });
  // The product's code paths are many more than a ladder rung's: V8 optimizes them over the first seconds of
  // load, and without this the first L4 cell of a server measured that (tokenize at 16: ~3,500 µs of CPU per
  // request in the first cell, ~1,900 from the second on). Servers in production run warm.
  const warmUp = async (url: string) => {
    for (const body of [tokenizeBody, readBody]) await measure({ url, headers, body }, 16, 4);
  };
  await warmUp(l4.url);
  try {
    for (const c of opts.connections) {
      gathering = opts.rounds > 1 ? new Map() : undefined;
      for (let round = 0; round < opts.rounds; round++) await cellsAt(c);
      const gathered = gathering;
      gathering = undefined;
      for (const cell of gathered?.values() ?? []) record(cell.level, cell.scenario, c, combineRounds(cell.rounds), cell.workers);
    }
  } finally {
    await Promise.all([stop(l0.child), stop(l1.child), stop(l3.child), stop(l4.child)]);
  }

  /** Every wanted cell at concurrency c, once: the ladder's rungs, then the product. */
  async function cellsAt(c: number): Promise<void> {
    const l4Load = (body: () => string): Load => ({ url: l4.url, headers, body });
    const l4Run = async (scenario: Scenario, body: () => string) =>
      wanted(scenario) && record('L4', scenario, c, await measure(l4Load(body), c, opts.duration, l4.child.pid));
    /** A ladder rung's cell: `level`'s server at `url`, its CPU counted by its pid. */
    const rungRun = async (level: Row['level'], scenario: Scenario, url: string, pid: number | undefined, body: () => string) =>
      record(level, scenario, c, await measure({ url, headers, body }, c, opts.duration, pid));
    if (wanted('fixed-json')) await rungRun('L0', 'fixed-json', `http://127.0.0.1:${l0.port}/`, l0.child.pid, () => '{}');
    if (wanted('tokenize-sql')) record('L2', 'tokenize-sql', c, await pgbench(f, c, opts.duration));
    if (wanted('read-masked')) await rungRun('L1', 'read-masked', `http://127.0.0.1:${l1.port}/graphql`, l1.child.pid, readBody);
    if (wanted('tokenize-new')) await rungRun('L3', 'tokenize-new', `http://127.0.0.1:${l3.port}/tokenize`, l3.child.pid, tokenizeBody);
    if (wanted('read-masked')) await rungRun('L3', 'read-masked', `http://127.0.0.1:${l3.port}/read`, l3.child.pid, readBody);
    if (wanted('tokenize-8-merchants')) {
      // The same load over eight merchants: one merchant must scale like many (issue 13).
      const r = await oneEightOne(
        () => measure(l4Load(tokenizeBody), c, opts.duration, l4.child.pid),
        () => measure(overEightMerchants(l4Load(tokenizeBody)), c, opts.duration, l4.child.pid),
      );
      if (wanted('tokenize-new')) record('L4', 'tokenize-new', c, r.one);
      record('L4', 'tokenize-8-merchants', c, r.eight);
    } else await l4Run('tokenize-new', tokenizeBody);
    await l4Run('tokenize-dup', () =>
      gql(TOKENIZE, { input: { card: { number: next(f.stored).number, expMonth: 12, expYear: EXP_YEAR, holderName: 'Bench Holder' } } }),
    );
    await l4Run('read-masked', readBody);
    // The same operations as trusted documents: by id, validation skipped (registered in setUp).
    await l4Run('tokenize-new-id', () =>
      byId(TOKENIZE, { input: { card: { number: newCard(), expMonth: 12, expYear: EXP_YEAR, holderName: 'Bench Holder' } } }),
    );
    await l4Run('read-masked-id', () => byId(READ, { id: f.storedPm }));
    await l4Run('list-customer', () => gql(LIST, { id: f.customerId }));
    await l4Run('pay-stored', () => gql(PAY, { input: { amount: 1999, currency: 'EUR', paymentMethodId: next(f.stored).id } }));
  }
  if (opts.profile) console.log(`\n${summarizeProfiles(PROFILE_DIR)}`);

  if (opts.workers) {
    for (let w = 1; w <= availableParallelism(); w++) {
      const server = await startProduct(w);
      try {
        await warmUp(server.url);
        const c = Math.max(...opts.connections);
        const r = await oneEightOne(
          () => measure({ url: server.url, headers, body: tokenizeBody }, c, opts.duration, server.child.pid),
          () => measure(overEightMerchants({ url: server.url, headers, body: tokenizeBody }), c, opts.duration, server.child.pid),
        );
        record('L4', 'tokenize-new', c, r.one, w);
        record('L4', 'tokenize-8-merchants', c, r.eight, w);
        record('L4', 'read-masked', c, await measure({ url: server.url, headers, body: readBody }, c, opts.duration, server.child.pid), w);
      } finally {
        await stop(server.child);
      }
    }
  }

  let soak: { minutes: number; rps: number; errors: number; rssMB: number[] } | undefined;
  if (opts.soak) {
    const server = await startProduct(1);
    try {
      const samples: number[] = [];
      const sampler = setInterval(() => samples.push(rssMB(server.child.pid!)), 10_000);
      const r = await measure({ url: server.url, headers, body: tokenizeBody }, 16, opts.soakMinutes * 60, server.child.pid);
      clearInterval(sampler);
      soak = { minutes: opts.soakMinutes, rps: r.rps, errors: r.errors, rssMB: samples };
      console.error(`  soak: ${r.rps} req/s for ${opts.soakMinutes} min, ${r.errors} errors, RSS ${samples.join(' ')} MB`);
    } finally {
      await stop(server.child);
    }
  }

  // `vault import`'s domain function on a generated CSV, in a child process of its own (a throwaway database):
  // without customers, and with a customer reference per row (creating customers costs the most).
  const imports: ImportRun[] = [];
  if (wanted('import')) {
    for (const customers of [false, true]) {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', path.join(ROOT, 'bench', 'import-scale.ts'), String(opts.importRows), ...(customers ? [] : ['--no-customers'])],
        { cwd: ROOT, env: { ...process.env, TEST_PG_URL: ADMIN_URL }, maxBuffer: 16 * 1024 * 1024 },
      );
      const run = JSON.parse(stdout.trim().split('\n').at(-1)!) as Omit<ImportRun, 'customers'>;
      imports.push({ ...run, customers });
      console.error(
        `  import ${run.rows} rows${customers ? ' with customers' : ''}: ${run.cardsPerSecond} cards/s, peak RSS ${run.peakRssMiB} MiB`,
      );
    }
  }

  const summary = ratios(rows);
  const merchants = oneVersusEight(rows);
  const report = {
    at: new Date().toISOString(),
    machine,
    duration: opts.duration,
    analyze: opts.analyze,
    filler: opts.filler,
    // The product's extra node flags (BENCH_L4_NODE_FLAGS) and executor: a run with `--trace-gc` or a
    // different heap is not comparable with one without.
    rounds: opts.rounds,
    productNodeFlags: process.env.BENCH_L4_NODE_FLAGS?.split(' ').filter(Boolean) ?? [],
    executor: opts.executor,
    rows,
    ratios: summary,
    oneVersusEightMerchants: merchants,
    soak,
    imports,
  };
  const file = path.join(ROOT, 'bench', 'results', `${report.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(ROOT, 'bench', 'results', 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${machine}\n\n${table(rows)}\n`);
  for (const r of summary) {
    console.log(
      `L4/L3 ${r.scenario} at ${r.connections}: throughput ${r.throughput}, p99 ${r.p99}x` +
        (r.cpu === undefined ? '' : `, CPU per request ${r.cpu}`) +
        (r.ofL1 === undefined ? '' : `; L4/L1 throughput ${r.ofL1}${r.cpuOfL1 === undefined ? '' : `, CPU per request ${r.cpuOfL1}`}`),
    );
  }
  for (const r of merchants) {
    console.log(
      `one merchant / eight at ${r.connections}${r.workers ? ` (${r.workers} workers)` : ''}: throughput ${r.throughput}, p99 ${r.p99}x`,
    );
  }
  if (soak)
    console.log(
      `soak: ${soak.rps} req/s for ${soak.minutes} min, ${soak.errors} errors, RSS ${Math.min(...soak.rssMB)}-${Math.max(...soak.rssMB)} MB`,
    );
  for (const i of imports) {
    console.log(
      `import: ${i.rows} rows${i.customers ? ' (each with a customer reference)' : ''} in ${i.seconds.toFixed(1)} s: ${i.cardsPerSecond} cards/s, peak RSS ${i.peakRssMiB} MiB`,
    );
  }
  console.log(`\nwritten: ${path.relative(ROOT, file)}`);
}

interface ImportRun {
  rows: number;
  customers: boolean;
  seconds: number;
  cardsPerSecond: number;
  peakRssMiB: number;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
