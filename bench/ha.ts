// `npm run ha`: the vault under a real high-availability stack, on this machine's loopback:
//   etcd (one member)  <-  Patroni x2  ->  PostgreSQL 15 x2 (synchronous_mode + synchronous_mode_strict)
//   HAProxy (routes to whichever node Patroni's REST API calls the primary)  <-  two vault server processes
// Everything lives under one directory of its own (<tmpdir>/vault-ha) on its own ports (254xx), runs as
// children of this script, and is torn down when it exits (Ctrl-C included). A crashed earlier run is
// cleaned up first: every process this script starts names that directory on its command line or in its
// environment, so the leftovers are found by it (never by a broad name).
//
//   npm run ha                    bring everything up, print where it is, wait for Ctrl-C
//   npm run ha -- --drill         tokenize load, SIGKILL the leader's postmaster, keep loading through the
//                                 failover, then report (table + bench/results/ha-drill-<time>.json); exit 1 if an
//                                 acknowledged write is missing or `audit verify` fails
//   npm run ha -- --drill --switchover   the same through a planned Patroni switchover instead
//   npm run ha -- --drill --host-loss --nodes 3
//                                 the leader's whole host lost (Patroni killed too), with a third node so that a
//                                 synchronous standby remains (with two nodes, strict mode stops writes until it is back)
//   npm run ha -- --bench         tokenize req/s: through HAProxy vs straight to the leader, synchronous
//                                 replication on vs off, one merchant vs eight (bench/results/ha-bench-<time>.json)
//   --keep                        after --drill/--bench, stay up until Ctrl-C
//   --keep-dir                    leave the directory (data, logs) behind after teardown
//   --connections N --seconds N   load shape (default 16 concurrent requests; drill warm-up / bench duration)
//
// Runs as root (apt-get, and the PostgreSQL/Patroni processes run as the `postgres` OS user).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import pg from 'pg';
import { pino } from 'pino';
import { createApp } from '../src/app/app.js';
import { parseConfig } from '../src/app/config.js';
import { luhnValid } from '../src/card/number.js';
import { createMerchant } from '../src/domain/merchants/merchants.js';
import { EXP_YEAR } from '../test/helpers/expiry.js';
import { startVaultServer, stopProcess } from '../test/helpers/serverProcess.js';
import { median } from './stats.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BASE = path.join(tmpdir(), 'vault-ha');
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const SCOPE = 'vault-ha';
const PORTS = {
  haproxy: 25400,
  haproxyStats: 25401,
  etcdClient: 25479,
  etcdPeer: 25480,
  vault: [25441, 25442],
  vaultDirect: 25443,
} as const;
interface PgNode {
  name: string;
  pgPort: number;
  restPort: number;
}
/** Every node a run may have (`--nodes 3` adds pg3); the stale-run cleanup looks at all their ports. */
const ALL_NODES: readonly PgNode[] = [1, 2, 3].map((i) => ({ name: `pg${i}`, pgPort: 25431 + i, restPort: 25407 + i }));
/** This run's nodes: two by default. Set once, before anything starts. */
let NODES: readonly PgNode[] = ALL_NODES.slice(0, 2);
type NodeName = string;
const ALL_PORTS = [
  PORTS.haproxy,
  PORTS.haproxyStats,
  PORTS.etcdClient,
  PORTS.etcdPeer,
  ...PORTS.vault,
  PORTS.vaultDirect,
  ...ALL_NODES.flatMap((n) => [n.pgPort, n.restPort]),
];
/** Marks the vault processes (whose command line is just node + src/main.ts) as this script's. */
const MARK_ENV = 'VAULT_HA_DIR';

// ---------------------------------------------------------------------------------------------------------
// Small things

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const say = (msg: string) => process.stdout.write(`[ha ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);

const steps: Array<{ step: string; seconds: number }> = [];
async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  say(`${name} …`);
  const result = await fn();
  const seconds = (Date.now() - started) / 1000;
  steps.push({ step: name, seconds });
  say(`${name}: ${seconds.toFixed(1)} s`);
  return result;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}

async function getJson<T>(url: string, timeoutMs = 2000): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

function newCard(): string {
  const partial = `4${String(Math.floor(Math.random() * 1e14)).padStart(14, '0')}`;
  return partial + [...'0123456789'].find((d) => luhnValid(partial + d))!;
}

// ---------------------------------------------------------------------------------------------------------
// Packages

const PACKAGES = { patroni: 'patroni', etcd: 'etcd-server', haproxy: 'haproxy' } as const;

function installed(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', `-f=${'$'}{Status}`, pkg], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .includes('install ok installed');
  } catch {
    return false;
  }
}

function ensurePackages(): void {
  const missing = Object.values(PACKAGES).filter((p) => !installed(p));
  if (!existsSync(path.join(PG_BIN, 'postgres'))) throw new Error(`no PostgreSQL 15 binaries in ${PG_BIN} (set PG_BIN)`);
  if (missing.length === 0) return;
  say(`installing ${missing.join(', ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
  // The packages' own services (a default etcd on 2379, haproxy on its default config) are not ours to run;
  // in containers policy-rc.d keeps them from starting, elsewhere stop them only if the install just started them.
  for (const service of ['etcd', 'haproxy', 'patroni']) {
    try {
      execFileSync('systemctl', ['is-active', '--quiet', service], { stdio: 'ignore' });
      say(`note: the package started the system's ${service} service; this script does not use it`);
    } catch {
      // not running, or no systemd: nothing to do
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Stale processes and directories of an earlier run

/** Processes whose command line names our directory, whose environment carries our mark, or that listen on our ports. */
function ourProcesses(): Array<{ pid: number; cmd: string; why: string }> {
  const listening = listeningInodes();
  const found: Array<{ pid: number; cmd: string; why: string }> = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || pid === process.ppid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (!cmd) continue;
      if (cmd.includes(`${BASE}/`) || cmd.endsWith(BASE)) {
        found.push({ pid, cmd, why: 'names the directory' });
        continue;
      }
      let environ = '';
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      } catch {
        // another user's process
      }
      if (environ.split('\0').includes(`${MARK_ENV}=${BASE}`)) {
        found.push({ pid, cmd, why: 'carries the mark' });
        continue;
      }
      if (listening.size > 0) {
        for (const fd of readdirSync(`/proc/${pid}/fd`)) {
          const link = safeReadlink(`/proc/${pid}/fd/${fd}`);
          const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
          if (inode && listening.has(inode)) {
            found.push({ pid, cmd, why: `listens on ${listening.get(inode)}` });
            break;
          }
        }
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function safeReadlink(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '';
  }
}

/** Socket inodes listening on one of our ports (127.0.0.1 or any address), with the port. */
function listeningInodes(): Map<string, number> {
  const map = new Map<string, number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue; // 0A: LISTEN
      const port = Number.parseInt(cols[1]!.split(':')[1]!, 16);
      if ((ALL_PORTS as number[]).includes(port)) map.set(cols[9]!, port);
    }
  }
  return map;
}

function isOurs(p: { cmd: string; why: string }): boolean {
  if (p.why !== 'names the directory' && p.why !== 'carries the mark') {
    // Listening on our port without naming our directory: a postgres postmaster of ours started by Patroni names
    // its data directory; anything else is somebody else's and we refuse to touch it.
    return false;
  }
  return true;
}

async function killStale(): Promise<void> {
  const procs = ourProcesses();
  const foreign = procs.filter((p) => !isOurs(p));
  const ours = procs.filter(isOurs);
  if (ours.length > 0) {
    say(`a previous run left ${ours.length} process(es) behind; killing them:`);
    for (const p of ours) say(`  ${p.pid} ${p.cmd.slice(0, 120)}`);
    for (const p of ours) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await waitFor('stale processes to exit', async () => (ours.every((p) => !existsSync(`/proc/${p.pid}`)) ? true : undefined), 10_000);
    // Orphaned postgres backends notice their postmaster's death and exit shortly after.
    await waitFor('stale ports to free', async () => (listeningInodes().size === 0 ? true : undefined), 15_000).catch(() => undefined);
  }
  const still = ourProcesses().filter((p) => !isOurs(p));
  if (still.length > 0 || (foreign.length > 0 && listeningInodes().size > 0)) {
    const list = (still.length > 0 ? still : foreign).map((p) => `${p.pid} (${p.why}): ${p.cmd.slice(0, 100)}`).join('\n  ');
    throw new Error(`ports in the 254xx range this script uses are taken by processes that are not its own:\n  ${list}`);
  }
  rmSync(BASE, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------------
// Children

interface Child {
  name: string;
  proc: ChildProcess;
  log: string;
}
const children: Child[] = [];

function postgresIds(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  };
}

function spawnLogged(
  name: string,
  cmd: string,
  args: string[],
  opts: { log: string; uid?: number; gid?: number; env?: NodeJS.ProcessEnv },
): Child {
  const fd = openSync(opts.log, 'a');
  const proc = spawn(cmd, args, {
    stdio: ['ignore', fd, fd],
    // Its own process group: Ctrl-C reaches this script only, which then stops everything in order.
    detached: true,
    env: { ...(opts.env ?? process.env), [MARK_ENV]: BASE },
    ...(opts.uid !== undefined && { uid: opts.uid, gid: opts.gid }),
  });
  closeSync(fd);
  const child = { name, proc, log: opts.log };
  children.push(child);
  proc.once('exit', (code, signal) => {
    if (!tearingDown) say(`${name} exited (${signal ?? code}); see ${opts.log}`);
  });
  return child;
}

// ---------------------------------------------------------------------------------------------------------
// etcd, Patroni, HAProxy

async function startEtcd(): Promise<void> {
  const dir = path.join(BASE, 'etcd');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const client = `http://127.0.0.1:${PORTS.etcdClient}`;
  const peer = `http://127.0.0.1:${PORTS.etcdPeer}`;
  spawnLogged(
    'etcd',
    'etcd',
    [
      '--name',
      SCOPE,
      '--data-dir',
      path.join(dir, 'data'),
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `${SCOPE}=${peer}`,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      SCOPE,
      '--enable-v2=false',
    ],
    { log: path.join(dir, 'etcd.log') },
  );
  await waitFor(
    'etcd',
    async () => ((await getJson<{ health: string }>(`${client}/health`)).body.health === 'true' ? true : undefined),
    30_000,
  );
}

interface Secrets {
  superuser: string;
  replication: string;
  vault: string;
  masterKeys: string;
}

function patroniConfig(node: PgNode, secrets: Secrets): object {
  const dir = path.join(BASE, node.name);
  return {
    scope: SCOPE,
    namespace: '/service/',
    name: node.name,
    log: { level: 'INFO' },
    restapi: { listen: `127.0.0.1:${node.restPort}`, connect_address: `127.0.0.1:${node.restPort}` },
    // Patroni 3.0 speaks etcd's v3 API (through its gRPC gateway) with the `etcd3` section.
    etcd3: { hosts: [`127.0.0.1:${PORTS.etcdClient}`], protocol: 'http' },
    bootstrap: {
      dcs: {
        // A fast drill: the leader key expires 10 s after its holder stops renewing; Patroni's loop runs every 2 s.
        // (Patroni wants loop_wait + 2 * retry_timeout <= ttl.)
        ttl: 10,
        loop_wait: 2,
        retry_timeout: 4,
        maximum_lag_on_failover: 1048576,
        // A crashed primary is failed over at once instead of being restarted in place (default: 300 s of trying).
        primary_start_timeout: 0,
        // Every commit waits for the synchronous standby; strict: with no standby, commits wait rather than
        // run unreplicated, so an acknowledged commit is always on both nodes.
        synchronous_mode: true,
        synchronous_mode_strict: true,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: {
            max_connections: 200,
            wal_level: 'replica',
            hot_standby: 'on',
            wal_log_hints: 'on',
            max_wal_senders: 10,
            max_replication_slots: 10,
            wal_keep_size: '256MB',
            synchronous_commit: 'on',
            // A standby re-pointed at a new primary (or following its new timeline) retries every 0.5 s instead of
            // 5 s: in strict synchronous mode no commit returns until it streams again.
            wal_retrieve_retry_interval: '500ms',
            password_encryption: 'scram-sha-256',
          },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, 'data-checksums'],
    },
    postgresql: {
      listen: `127.0.0.1:${node.pgPort}`,
      connect_address: `127.0.0.1:${node.pgPort}`,
      data_dir: path.join(dir, 'data'),
      bin_dir: PG_BIN,
      pgpass: path.join(dir, 'pgpass'),
      authentication: {
        superuser: { username: 'postgres', password: secrets.superuser },
        replication: { username: 'replicator', password: secrets.replication },
        rewind: { username: 'postgres', password: secrets.superuser },
      },
      parameters: {
        unix_socket_directories: dir,
        cluster_name: `${SCOPE}-${node.name}`,
        log_destination: 'stderr',
        logging_collector: 'off',
        log_line_prefix: '%m [%p] %q%u@%d ',
      },
      // Loopback only, passwords everywhere over TCP; the socket (in this node's directory) trusts its owner.
      pg_hba: ['local all all trust', 'host replication replicator 127.0.0.1/32 scram-sha-256', 'host all all 127.0.0.1/32 scram-sha-256'],
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
}

async function startPatroni(secrets: Secrets): Promise<void> {
  const { uid, gid } = postgresIds();
  for (const node of NODES) {
    const dir = path.join(BASE, node.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // YAML is a superset of JSON.
    const file = path.join(dir, 'patroni.yml');
    writeFileSync(file, JSON.stringify(patroniConfig(node, secrets), null, 2), { mode: 0o600 });
    writeFileSync(path.join(dir, 'patroni.log'), '');
    for (const p of [dir, file, path.join(dir, 'patroni.log')]) chownSync(p, uid, gid);
    spawnLogged(`patroni ${node.name}`, 'patroni', [file], {
      log: path.join(dir, 'patroni.log'),
      uid,
      gid,
      env: { PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: dir },
    });
  }
}

interface ClusterMember {
  name: string;
  role: string;
  state: string;
  host: string;
  port: number;
  timeline?: number;
  lag?: number | string;
}

async function clusterState(): Promise<ClusterMember[]> {
  for (const node of NODES) {
    try {
      const { body } = await getJson<{ members: ClusterMember[] }>(`http://127.0.0.1:${node.restPort}/cluster`, 1500);
      return body.members;
    } catch {
      // ask the other one
    }
  }
  throw new Error('no Patroni REST API answers');
}

/** The leader, once one node leads and the other streams as the synchronous standby. */
async function waitHealthy(timeoutMs = 120_000, notLeader?: NodeName): Promise<{ leader: ClusterMember; standby: ClusterMember }> {
  return waitFor(
    'a leader with a synchronous standby',
    async () => {
      const members = await clusterState();
      const leader = members.find((m) => m.role === 'leader' && m.state === 'running');
      const standby = members.find((m) => m.role === 'sync_standby' && (m.state === 'streaming' || m.state === 'running'));
      if (!leader || !standby || leader.name === notLeader) return undefined;
      return { leader, standby };
    },
    timeoutMs,
    250,
  );
}

async function startHaproxy(): Promise<void> {
  const dir = path.join(BASE, 'haproxy');
  mkdirSync(dir, { recursive: true });
  const cfg = path.join(dir, 'haproxy.cfg');
  const servers = NODES.map((n) => `  server ${n.name} 127.0.0.1:${n.pgPort} maxconn 200 check port ${n.restPort}`).join('\n');
  writeFileSync(
    cfg,
    `# Written by bench/ha.ts: PostgreSQL clients connect to ${PORTS.haproxy} and reach the current primary.
global
  maxconn 1000
  log stdout format raw local0 info

defaults
  log global
  mode tcp
  option tcplog
  retries 2
  timeout connect 2s
  # Pooled connections idle for long: only the health check decides when a server is gone.
  timeout client 30m
  timeout server 30m
  timeout check 2s

listen postgres_primary
  bind 127.0.0.1:${PORTS.haproxy}
  # Patroni's REST API answers 200 on /primary only on the node holding the leader key and running as primary.
  option httpchk GET /primary
  http-check expect status 200
  # Checked every second; two failures mark a server down, and its open sessions are cut at once, so pooled
  # connections to a demoted or dead primary fail fast instead of hanging.
  default-server inter 1s fastinter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
${servers}

listen stats
  mode http
  bind 127.0.0.1:${PORTS.haproxyStats}
  stats enable
  stats uri /
  stats refresh 2s
`,
  );
  execFileSync('haproxy', ['-c', '-q', '-f', cfg]);
  spawnLogged('haproxy', 'haproxy', ['-db', '-f', cfg], { log: path.join(dir, 'haproxy.log') });
  // Servers start out UP until their checks fail: wait until exactly the leader is UP.
  await waitUntilRouted(60_000);
}

/** HAProxy's view: which servers of the primary backend are UP (from its stats page). */
async function haproxyUp(): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${PORTS.haproxyStats}/;csv`, { signal: AbortSignal.timeout(2000) });
  const rows = (await res.text()).split('\n').map((l) => l.split(','));
  return rows.filter((r) => r[0] === 'postgres_primary' && r[1] !== 'FRONTEND' && r[1] !== 'BACKEND' && r[17] === 'UP').map((r) => r[1]!);
}

async function waitUntilRouted(timeoutMs: number, leaderName?: string): Promise<string> {
  return waitFor(
    'HAProxy to route to the primary only',
    async () => {
      const up = await haproxyUp();
      const leader = leaderName ?? (await clusterState()).find((m) => m.role === 'leader')?.name;
      return up.length === 1 && up[0] === leader ? up[0] : undefined;
    },
    timeoutMs,
  );
}

let secrets: Secrets;
const superuserUrl = (port: number, db = 'postgres') => `postgresql://postgres:${secrets.superuser}@127.0.0.1:${port}/${db}`;
const vaultUrl = (port: number) => `postgresql://vault:${secrets.vault}@127.0.0.1:${port}/vault`;

// ---------------------------------------------------------------------------------------------------------
// The vault: database, migrations, merchants, servers

async function prepareVaultDatabase(): Promise<void> {
  const c = new pg.Client({ connectionString: superuserUrl(PORTS.haproxy) });
  await c.connect();
  try {
    await c.query(`CREATE ROLE vault LOGIN PASSWORD ${pg.escapeLiteral(secrets.vault)}`);
    await c.query('CREATE DATABASE vault OWNER vault');
  } finally {
    await c.end();
  }
}

function vaultConfigEnv(databaseUrl: string): Record<string, string> {
  return { NODE_ENV: 'production', DATABASE_URL: databaseUrl, VAULT_MASTER_KEYS: secrets.masterKeys };
}

async function migrateAndCreateMerchants(count: number): Promise<Array<{ merchantId: string; secretKey: string }>> {
  // The project's migration runner (what `npm run db:migrate` runs), through HAProxy like the servers.
  const config = parseConfig({ ...vaultConfigEnv(vaultUrl(PORTS.haproxy)), DATABASE_POOL_SIZE: '2' });
  const app = await createApp(config, pino({ level: 'warn' }), { migrate: true });
  try {
    const merchants = [];
    for (let i = 0; i < count; i++) {
      const m = await createMerchant(app, { name: `HA merchant ${i + 1}` });
      merchants.push({ merchantId: m.merchantId, secretKey: m.secretKey });
    }
    return merchants;
  } finally {
    await app.stop();
  }
}

interface VaultServer {
  name: string;
  url: string;
  child: ChildProcess;
  log: string;
  /** The PostgreSQL port it connects to. */
  dbPort: number;
}

const leaderPortOf = (s: VaultServer) => s.dbPort;

async function startVault(name: string, port: number, databaseUrl: string): Promise<VaultServer> {
  const log = path.join(BASE, `${name}.log`);
  const { url, child } = await startVaultServer({
    name,
    env: {
      ...process.env,
      ...vaultConfigEnv(databaseUrl),
      [MARK_ENV]: BASE,
      PORT: String(port),
      HOST: '127.0.0.1',
      VAULT_WORKERS: '1',
      // The load is one api key (or eight); the per-key limit would refuse most of it.
      VAULT_RATE_LIMIT: '0',
      VAULT_DEMO_MERCHANT: 'false',
      LOG_LEVEL: 'info',
    },
    log: { file: log },
    timeoutMs: 90_000,
  });
  const server = { name, url, child, log, dbPort: Number(new URL(databaseUrl).port) };
  child.once('exit', (code, signal) => {
    if (!tearingDown) say(`${name} exited (${signal ?? code}); see ${log}`);
  });
  children.push({ name, proc: child, log });
  return server;
}

// ---------------------------------------------------------------------------------------------------------
// Load

const TOKENIZE =
  'mutation($input: TokenizeCardInput!) { tokenizeCard(input: $input) { __typename ... on TokenizeCardSuccess { duplicate paymentMethod { id card { last4 } } } ... on Error { code message } } }';
const READ = 'query($id: ID!) { paymentMethod(id: $id) { id card { last4 } } }';

interface Attempt {
  startedMs: number;
  endedMs: number;
  server: string;
  number: string;
  outcome: 'acked' | 'failed';
  /** acked: the payment method; failed: how (HTTP status and error code, or the network error). */
  id?: string;
  duplicate?: boolean;
  detail?: string;
}

async function gqlPost(url: string, key: string, query: string, variables: unknown, timeoutMs = 60_000) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': key },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json: { data?: Record<string, unknown> | null; errors?: Array<{ message?: string; extensions?: { code?: string } }> } | undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

async function tokenizeOnce(url: string, server: string, key: string, number = newCard()): Promise<Attempt> {
  const startedMs = Date.now();
  const done = (a: Omit<Attempt, 'startedMs' | 'endedMs' | 'server' | 'number'>): Attempt => ({
    startedMs,
    endedMs: Date.now(),
    server,
    number,
    ...a,
  });
  try {
    const { status, json } = await gqlPost(url, key, TOKENIZE, {
      input: { card: { number, expMonth: 12, expYear: EXP_YEAR, holderName: 'HA Drill' } },
    });
    const r = json?.data?.tokenizeCard as
      | { __typename: string; duplicate?: boolean; paymentMethod?: { id: string; card: { last4: string } }; code?: string }
      | undefined;
    if (status === 200 && r?.__typename === 'TokenizeCardSuccess' && r.paymentMethod?.card.last4 === number.slice(-4))
      return done({ outcome: 'acked', id: r.paymentMethod.id, duplicate: r.duplicate });
    const codes = [...new Set((json?.errors ?? []).map((e) => e.extensions?.code ?? '?'))].join(',');
    return done({
      outcome: 'failed',
      detail: `HTTP ${status} ${r?.__typename ? `${r.__typename} ${r.code ?? ''}` : codes || 'no JSON'}`.trim(),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const what = e.name === 'TimeoutError' ? 'no answer within 60 s' : (e.cause?.code ?? e.message);
    return done({ outcome: 'failed', detail: `network ${what}` });
  }
}

/** `connections` loops tokenizing fresh cards, round-robin over `targets`, until `stop()`. */
function runLoad(targets: VaultServer[], keys: string[], connections: number) {
  const attempts: Attempt[] = [];
  let running = true;
  let n = 0;
  const loops = Array.from({ length: connections }, async (_, i) => {
    while (running) {
      const target = targets[(n + i) % targets.length]!;
      const key = keys[n++ % keys.length]!;
      attempts.push(await tokenizeOnce(`${target.url}`, target.name, key));
    }
  });
  return {
    attempts,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---------------------------------------------------------------------------------------------------------
// The drill

function postmasterPid(node: NodeName): number {
  const text = readFileSync(path.join(BASE, node, 'data', 'postmaster.pid'), 'utf8');
  return Number(text.split('\n')[0]);
}

async function runCli(args: string[], databaseUrl: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...vaultConfigEnv(databaseUrl), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out: out.trim() }));
  });
}

function countInLog(file: string, re: RegExp): number {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => re.test(l)).length;
  } catch {
    return 0;
  }
}

async function drill(
  servers: VaultServer[],
  key: string,
  connections: number,
  warmupSeconds: number,
  how: 'kill' | 'switchover' | 'host-loss',
): Promise<boolean> {
  const before = await clusterState();
  const oldLeader = before.find((m) => m.role === 'leader')!;
  const oldStandby = before.find((m) => m.role === 'sync_standby')!;
  const oldNode = oldLeader.name as NodeName;

  say(`load: ${connections} concurrent tokenizations over ${servers.map((s) => s.name).join(' + ')}; warm-up ${warmupSeconds} s`);
  const load = runLoad(servers, [key], connections);
  await sleep(warmupSeconds * 1000);

  const pid = postmasterPid(oldNode);
  const killedAt = Date.now();
  if (how === 'kill') {
    process.kill(pid, 'SIGKILL');
    say(`SIGKILL to ${oldNode}'s postmaster (pid ${pid}); the load keeps running`);
  } else if (how === 'host-loss') {
    // The whole host gone: its Patroni first (so nothing restarts PostgreSQL there), then the postmaster.
    const patroni = children.find((c) => c.name === `patroni ${oldNode}`)!;
    patroni.proc.kill('SIGKILL');
    process.kill(pid, 'SIGKILL');
    say(`SIGKILL to ${oldNode}'s Patroni (pid ${patroni.proc.pid}) and postmaster (pid ${pid}): the host is lost; the load keeps running`);
  } else {
    // A planned switchover (maintenance): Patroni demotes the leader cleanly and promotes the sync standby.
    const res = await fetch(`http://127.0.0.1:${NODES.find((n) => n.name === oldNode)!.restPort}/switchover`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ leader: oldNode, candidate: oldStandby.name }),
    });
    say(`switchover ${oldNode} -> ${oldStandby.name}: HTTP ${res.status} ${(await res.text()).trim()}`);
  }

  // The new leader: the other node holding the leader key and answering as primary.
  const promoted = await waitFor(
    'a new leader',
    async () => {
      const m = (await clusterState()).find((x) => x.role === 'leader' && x.state === 'running' && x.name !== oldNode);
      return m;
    },
    120_000,
    200,
  );
  const promotedAt = Date.now();
  say(`${promoted.name} leads (timeline ${promoted.timeline}) after ${((promotedAt - killedAt) / 1000).toFixed(1)} s`);
  const routedAt = await waitUntilRouted(120_000, promoted.name).then(
    () => Date.now(),
    () => undefined,
  );
  if (routedAt) say(`HAProxy routes to ${promoted.name} ${((routedAt - killedAt) / 1000).toFixed(1)} s after the kill`);

  // Writes succeed again: an acknowledgement of a request sent after the first failure that followed the event (a
  // switchover's old leader still acknowledges for a moment; with no failure at all, a request sent after the event).
  const firstAck = await waitFor(
    'an acknowledged write sent after the outage began',
    async () => {
      const firstFailure = load.attempts.find((a) => a.outcome === 'failed' && a.endedMs >= killedAt);
      const from = firstFailure ? firstFailure.endedMs : killedAt;
      return load.attempts.find((a) => a.outcome === 'acked' && a.startedMs > from);
    },
    how === 'host-loss' ? 90_000 : 180_000,
    100,
  ).catch(() => undefined);
  const writesBackAt = firstAck?.endedMs;
  if (writesBackAt) say(`writes succeed again ${((writesBackAt - killedAt) / 1000).toFixed(1)} s after the kill`);
  const healthy = await waitHealthy(how === 'host-loss' && NODES.length < 3 ? 1000 : 180_000, oldNode).catch(() => undefined);
  const healthyAt = Date.now();
  if (healthy)
    say(`${healthy.standby.name} is back as the synchronous standby ${((healthyAt - killedAt) / 1000).toFixed(1)} s after the kill`);
  // A few seconds of load on the new leader.
  await sleep(5000);
  await load.stop();
  const loadEndedAt = Date.now();

  const attempts = load.attempts;
  const acked = attempts.filter((a) => a.outcome === 'acked');
  const failed = attempts.filter((a) => a.outcome === 'failed');
  say(`load stopped: ${acked.length} acknowledged, ${failed.length} failed`);

  // Every acknowledged payment method, read back through the API (masked read), alternating servers.
  const readStarted = Date.now();
  const unreadable: Array<{ id: string; detail: string }> = [];
  // With writes never back (two nodes, host lost: every pooled connection waits in COMMIT), each read waits out its
  // timeout too; a sample shows it.
  const toRead = writesBackAt === undefined ? acked.slice(0, 32) : acked;
  const queue = [...toRead];
  await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      for (let a = queue.pop(); a; a = queue.pop()) {
        const s = servers[i % servers.length]!;
        try {
          const { status, json } = await gqlPost(s.url, key, READ, { id: a.id });
          const pm = json?.data?.paymentMethod as { id: string; card: { last4: string } } | null | undefined;
          if (status !== 200 || !pm || pm.id !== a.id || pm.card.last4 !== a.number.slice(-4))
            unreadable.push({
              id: a.id!,
              detail: `HTTP ${status} ${pm ? 'wrong card' : 'not found'} ${(json?.errors ?? []).map((e) => e.extensions?.code).join(',')}`,
            });
        } catch (err) {
          unreadable.push({ id: a.id!, detail: (err as Error).message });
        }
      }
    }),
  );
  const readSeconds = (Date.now() - readStarted) / 1000;
  say(`read back ${toRead.length - unreadable.length}/${toRead.length} acknowledged payment methods in ${readSeconds.toFixed(1)} s`);

  // Each failed request's card, tokenized again: `duplicate: true` means the failed request was stored anyway
  // (its commit reached the database, its answer did not).
  const storedAnyway: Attempt[] = [];
  const notStored: Attempt[] = [];
  const unchecked: Attempt[] = [];
  for (const f of failed) {
    // Only once writes work again (otherwise each would just wait out its timeout), and at most a few hundred: a vault that cannot write any more (see --host-loss with two nodes) fails thousands.
    if (writesBackAt === undefined || storedAnyway.length + notStored.length + unchecked.length >= 500) {
      unchecked.push(f);
      continue;
    }
    const s = servers.find((x) => x.child.exitCode === null && x.child.signalCode === null) ?? servers[0]!;
    const again = await tokenizeOnce(s.url, s.name, key, f.number);
    if (again.outcome !== 'acked') unchecked.push(f);
    else (again.duplicate ? storedAnyway : notStored).push(f);
  }

  // Failures by kind (status + code or network error).
  const byKind = new Map<string, { count: number; storedAnyway: number; firstMs: number; lastMs: number }>();
  for (const f of failed) {
    const k = byKind.get(f.detail!) ?? { count: 0, storedAnyway: 0, firstMs: f.endedMs, lastMs: f.endedMs };
    k.count++;
    if (storedAnyway.includes(f)) k.storedAnyway++;
    k.firstMs = Math.min(k.firstMs, f.endedMs);
    k.lastMs = Math.max(k.lastMs, f.endedMs);
    byKind.set(f.detail!, k);
  }

  // audit verify through the CLI, against the new leader directly (not through HAProxy).
  const newLeaderPort = NODES.find((n) => n.name === promoted.name)!.pgPort;
  const auditStarted = Date.now();
  const audit = await runCli(['audit', 'verify', '--json'], vaultUrl(newLeaderPort));
  const auditSeconds = (Date.now() - auditStarted) / 1000;
  let auditOk = false;
  try {
    auditOk =
      audit.code === 0 && (JSON.parse(audit.out.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { ok?: boolean }).ok === true;
  } catch {
    auditOk = false;
  }

  // What the servers and PostgreSQL logged (after the kill).
  const logged = servers.map((s) => serverLogSince(s.log, killedAt));
  const cacheBackAt = logged.map((l) => l.find((e) => e.msg === 'api-key cache on (listening for revocations)')?.time);
  const serverCauses = new Map<string, number>();
  for (const l of logged)
    for (const e of l) if (e.msg === 'unexpected error') serverCauses.set(e.cause ?? '?', (serverCauses.get(e.cause ?? '?') ?? 0) + 1);
  const syncCancelled = NODES.reduce(
    (sum, n) => sum + countInLog(path.join(BASE, n.name, 'patroni.log'), /canceling wait for synchronous replication/),
    0,
  );

  const latencies = acked.map((a) => a.endedMs - a.startedMs).sort((a, b) => a - b);
  const sinceKill = (ms?: number) => (ms === undefined ? null : Math.round((ms - killedAt) / 100) / 10);
  const lastAckBefore = Math.max(...acked.filter((a) => a.endedMs <= killedAt).map((a) => a.endedMs));
  const outageFailures = failed.filter((f) => f.endedMs >= killedAt);
  const report = {
    when: new Date().toISOString(),
    stack: {
      patroni: cmdVersion('patroni', ['--version']),
      etcd: cmdVersion('etcd', ['--version']).split('\n')[0],
      haproxy: cmdVersion('haproxy', ['-v']).split('\n')[0],
      postgres: cmdVersion(path.join(PG_BIN, 'postgres'), ['--version']),
      synchronous_mode: true,
      synchronous_mode_strict: true,
      ttl: 10,
      loop_wait: 2,
      retry_timeout: 4,
      vaultServers: servers.length,
      connections,
    },
    event: {
      kill: 'SIGKILL of the leader postmaster',
      'host-loss': 'SIGKILL of the leader Patroni and postmaster',
      switchover: 'Patroni switchover',
    }[how],
    nodes: NODES.length,
    killed: { node: oldNode, postmasterPid: pid, standbyBefore: oldStandby.name },
    newLeader: promoted.name,
    load: {
      seconds: Math.round((loadEndedAt - (attempts[0]?.startedMs ?? loadEndedAt)) / 100) / 10,
      requests: attempts.length,
      acknowledged: acked.length,
      acknowledgedDuplicates: acked.filter((a) => a.duplicate).length,
      failed: failed.length,
      latencyMs: { p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies.at(-1) ?? 0 },
    },
    readBack: {
      acknowledged: acked.length,
      checked: toRead.length,
      readable: toRead.length - unreadable.length,
      missing: unreadable.slice(0, 20),
      seconds: readSeconds,
    },
    failures: {
      total: failed.length,
      duringOutage: outageFailures.length,
      storedAnyway: storedAnyway.length,
      notStored: notStored.length,
      notChecked: unchecked.length,
      byKind: [...byKind.entries()].map(([kind, k]) => ({
        kind,
        count: k.count,
        storedAnyway: k.storedAnyway,
        firstAtS: sinceKill(k.firstMs),
        lastAtS: sinceKill(k.lastMs),
      })),
    },
    timeline: {
      lastAckBeforeKillS: sinceKill(lastAckBefore),
      newLeaderAtS: sinceKill(promotedAt),
      haproxyRoutesAtS: sinceKill(routedAt),
      writesSucceedAgainAtS: sinceKill(writesBackAt),
      syncStandbyBackAtS: healthy ? sinceKill(healthyAt) : null,
      failoverDetail: 'seconds after the SIGKILL',
    },
    vault: {
      apiKeyCacheBackAtS: cacheBackAt.map((t) => sinceKill(t)),
      unexpectedErrorsByCause: Object.fromEntries(serverCauses),
      restarted: servers.map((s) => s.child.exitCode !== null || s.child.signalCode !== null),
    },
    postgres: { syncWaitsCancelled: syncCancelled },
    audit: {
      ok: auditOk,
      exitCode: audit.code,
      output: audit.out.slice(0, 500),
      seconds: auditSeconds,
      against: `${promoted.name} (127.0.0.1:${newLeaderPort})`,
    },
    steps,
  };
  const pass = unreadable.length === 0 && auditOk && writesBackAt !== undefined;

  const rows: Array<[string, string]> = [
    ['event', `${report.event} (${oldNode}, pid ${pid}); ${NODES.length} nodes`],
    ['new leader', promoted.name],
    ['load', `${connections} concurrent, ${report.load.seconds} s, ${attempts.length} requests`],
    ['acknowledged tokenizations', String(acked.length)],
    [
      'readable after failover',
      `${toRead.length - unreadable.length} / ${toRead.length}${toRead.length < acked.length ? ` (a sample of ${acked.length})` : ''}${unreadable.length ? '  MISSING!' : ''}`,
    ],
    ['failed requests', `${failed.length} (during the outage: ${outageFailures.length})`],
    ...[...byKind.entries()].map(([kind, k]): [string, string] => [
      `  ${kind}`,
      `${k.count} (stored anyway: ${k.storedAnyway}), at +${sinceKill(k.firstMs)}..+${sinceKill(k.lastMs)} s`,
    ]),
    [
      'failed but stored anyway',
      `${storedAnyway.length} (re-tokenized: duplicate)${unchecked.length ? `; ${unchecked.length} not checked` : ''}`,
    ],
    ['last ack before kill', `${report.timeline.lastAckBeforeKillS} s`],
    ['new leader elected', `+${report.timeline.newLeaderAtS} s`],
    ['HAProxy routes to it', `+${report.timeline.haproxyRoutesAtS} s`],
    ['writes succeed again', writesBackAt ? `+${report.timeline.writesSucceedAgainAtS} s` : 'NEVER'],
    ['sync standby back', healthy ? `+${report.timeline.syncStandbyBackAtS} s` : 'not within 180 s'],
    ['latency of acks (ms)', `p50 ${report.load.latencyMs.p50}, p99 ${report.load.latencyMs.p99}, max ${report.load.latencyMs.max}`],
    ['api-key cache back on', cacheBackAt.map((t) => (t ? `+${sinceKill(t)} s` : 'NOT BACK')).join(' / ')],
    ...[...serverCauses.entries()].map(([cause, n]): [string, string] => [`  server log: ${cause.slice(0, 28)}`, String(n)]),
    ['sync waits cancelled (pg log)', String(syncCancelled)],
    ['vault restarted', report.vault.restarted.some(Boolean) ? 'YES' : 'no'],
    ['audit verify (new leader)', `${auditOk ? 'ok' : 'FAILED'}: ${audit.out.split('\n').at(-1)?.slice(0, 100)}`],
    ['result', pass ? 'PASS' : 'FAIL'],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n\n`);

  const file = path.join(
    ROOT,
    'bench',
    'results',
    `ha-${how === 'kill' ? 'drill' : how}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ ...report, pass }, null, 2)}\n`);
  say(`report: ${path.relative(ROOT, file)}`);
  return pass;
}

/** The JSON lines a vault server logged at or after `sinceMs`: message, time, and the error's message if any. */
function serverLogSince(file: string, sinceMs: number): Array<{ msg: string; time: number; cause?: string }> {
  const out = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { msg?: string; time?: string | number; err?: { message?: string } };
      const time = typeof j.time === 'number' ? j.time : Date.parse(j.time ?? '');
      if (time >= sinceMs) out.push({ msg: j.msg ?? '', time, cause: j.err?.message });
    } catch {
      // a partial line
    }
  }
  return out;
}

function cmdVersion(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return '?';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Throughput: through HAProxy vs straight to the leader, synchronous replication on vs off

async function setSynchronous(on: boolean): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${NODES[0]!.restPort}/config`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ synchronous_mode: on, synchronous_mode_strict: on }),
  });
  if (!res.ok) throw new Error(`PATCH /config: HTTP ${res.status}`);
  // Patroni applies it within a loop; wait until the leader's synchronous_standby_names says so.
  await waitFor(`synchronous replication ${on ? 'on' : 'off'}`, async () => {
    const c = new pg.Client({ connectionString: superuserUrl(PORTS.haproxy) });
    await c.connect();
    try {
      const { rows } = await c.query<{ s: string }>("SELECT current_setting('synchronous_standby_names') AS s");
      return (rows[0]!.s !== '') === on ? true : undefined;
    } finally {
      await c.end();
    }
  });
}

/**
 * One connection committing single-row INSERTs one after another: the commit latency, which bounds one merchant's
 * writes while the audit chain serializes them (src/domain/audit: one merchant's changes commit one at a time).
 */
async function commitLatency(port: number, commits: number): Promise<{ commitMs: number; commitsPerSecond: number }> {
  const c = new pg.Client({ connectionString: superuserUrl(port) });
  await c.connect();
  try {
    await c.query('CREATE TABLE IF NOT EXISTS ha_commit_probe (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())');
    const started = process.hrtime.bigint();
    for (let i = 0; i < commits; i++) await c.query('INSERT INTO ha_commit_probe DEFAULT VALUES');
    const ms = Number(process.hrtime.bigint() - started) / 1e6 / commits;
    return { commitMs: Math.round(ms * 100) / 100, commitsPerSecond: Math.round(1000 / ms) };
  } finally {
    await c.end();
  }
}

async function measureTokenize(server: VaultServer, keys: string[], connections: number, seconds: number) {
  const warm = runLoad([server], keys, connections);
  await sleep(1000);
  await warm.stop();
  const load = runLoad([server], keys, connections);
  const started = Date.now();
  await sleep(seconds * 1000);
  await load.stop();
  const elapsed = (Date.now() - started) / 1000;
  const acked = load.attempts.filter((a) => a.outcome === 'acked');
  const lat = acked.map((a) => a.endedMs - a.startedMs).sort((a, b) => a - b);
  return {
    rps: Math.round(acked.length / elapsed),
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    errors: load.attempts.length - acked.length,
  };
}

async function throughput(
  viaHaproxy: VaultServer,
  direct: VaultServer,
  merchants: Array<{ secretKey: string }>,
  connections: number,
  seconds: number,
  rounds: number,
) {
  // Interleaved rounds (the machine is shared: a neighbour's burst hits every configuration alike), median per cell.
  const samples = new Map<string, Array<{ rps: number; p50: number; p99: number; errors: number; load1: number }>>();
  const commits: Array<Record<string, string | number>> = [];
  for (let round = 1; round <= rounds; round++) {
    for (const sync of [true, false]) {
      await setSynchronous(sync);
      for (const [via, port] of [
        ['HAProxy', PORTS.haproxy],
        ['direct', leaderPortOf(direct)],
      ] as const) {
        const r = { replication: sync ? 'synchronous' : 'asynchronous', path: via, ...(await commitLatency(port, 300)) };
        say(`round ${round}: single-row commits ${JSON.stringify(r)}`);
        commits.push(r);
      }
      for (const spread of [1, 8]) {
        const keys = merchants.slice(0, spread).map((m) => m.secretKey);
        for (const [via, server] of [
          ['HAProxy', viaHaproxy],
          ['direct', direct],
        ] as const) {
          const r = await measureTokenize(server, keys, connections, seconds);
          const cell = `${sync ? 'synchronous' : 'asynchronous'}|${via}|${spread}`;
          const sample = { ...r, load1: Math.round(loadavg()[0]! * 10) / 10 };
          samples.set(cell, [...(samples.get(cell) ?? []), sample]);
          say(`round ${round}: tokenize ${cell} ${JSON.stringify(sample)}`);
        }
      }
    }
  }
  await setSynchronous(true);
  const rows = [...samples.entries()].map(([cell, xs]) => {
    const [replication, via, spread] = cell.split('|');
    return {
      replication: replication!,
      path: via!,
      merchants: Number(spread),
      connections,
      rps: median(xs.map((x) => x.rps)),
      p50: median(xs.map((x) => x.p50)),
      p99: median(xs.map((x) => x.p99)),
      errors: xs.reduce((n, x) => n + x.errors, 0),
      samplesRps: xs.map((x) => x.rps).join(' '),
      load1: xs.map((x) => x.load1).join(' '),
    };
  });
  const header = ['replication', 'path', 'merchants', 'connections', 'rps', 'p50', 'p99', 'errors', 'samplesRps', 'load1'] as const;
  process.stdout.write(
    `\n${header.map((h) => h.padEnd(14)).join('')}\n${rows.map((r) => header.map((h) => String(r[h]).padEnd(14)).join('')).join('\n')}\n\n`,
  );
  const file = path.join(ROOT, 'bench', 'results', `ha-bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  for (const cell of ['synchronous|HAProxy', 'synchronous|direct', 'asynchronous|HAProxy', 'asynchronous|direct']) {
    const xs = commits.filter((c) => `${c.replication}|${c.path}` === cell).map((c) => Number(c.commitMs));
    process.stdout.write(`single-row commit, one connection, ${cell.replace('|', ', ')}: median ${median(xs)} ms (${xs.join(' ')})\n`);
  }
  writeFileSync(
    file,
    `${JSON.stringify({ when: new Date().toISOString(), seconds, rounds, cpus: cpus().length, rows, samples: Object.fromEntries(samples), commits }, null, 2)}\n`,
  );
  say(`results: ${path.relative(ROOT, file)}`);
}

// ---------------------------------------------------------------------------------------------------------
// Teardown

let tearingDown = false;
let keepDir = false;

let tornDown: Promise<void> | undefined;

/** Stops everything once; a second caller (Ctrl-C during the drill's own teardown) waits for the same one. */
function teardown(): Promise<void> {
  tornDown ??= stopEverything();
  return tornDown;
}

async function stopEverything(): Promise<void> {
  tearingDown = true;
  say('tearing down');
  const stopOne = async (c: Child, graceMs: number) => {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
    await stopProcess(c.proc, 'SIGTERM', graceMs).catch(() => undefined);
  };
  // Clients first (vault servers), then the proxy, then Patroni (which stops its PostgreSQL), then etcd.
  const order = ['vault', 'haproxy', 'patroni', 'etcd'];
  for (const prefix of order) {
    await Promise.all(children.filter((c) => c.name.startsWith(prefix)).map((c) => stopOne(c, prefix === 'patroni' ? 30_000 : 10_000)));
  }
  // Whatever is left (a postmaster whose Patroni was killed, orphaned backends): by our directory, our mark, our ports.
  for (let i = 0; i < 20; i++) {
    const left = ourProcesses().filter(isOurs);
    if (left.length === 0) break;
    for (const p of left) {
      try {
        process.kill(p.pid, i < 5 ? 'SIGTERM' : 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(500);
  }
  const left = ourProcesses();
  if (left.length > 0) {
    say(`WARNING: still running after teardown:\n  ${left.map((p) => `${p.pid} ${p.cmd.slice(0, 100)}`).join('\n  ')}`);
    process.exitCode = process.exitCode || 1;
  } else say('nothing of this run is left running');
  if (!keepDir) rmSync(BASE, { recursive: true, force: true });
  else say(`kept ${BASE}`);
}

// ---------------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const program = new Command('ha')
    .option('--drill', 'tokenize load, SIGKILL the leader, report')
    .option('--switchover', 'with --drill: a planned Patroni switchover instead of the SIGKILL')
    .option('--host-loss', "with --drill: SIGKILL the leader's Patroni too (the host is gone; try with --nodes 3)")
    .option('--nodes <n>', 'PostgreSQL nodes (2 or 3)', (v) => Number(v), 2)
    .option('--bench', 'tokenize req/s through HAProxy vs direct, synchronous vs asynchronous')
    .option('--keep', 'after --drill/--bench, stay up until Ctrl-C')
    .option('--keep-dir', 'leave the directory (data, logs) behind')
    .option('--connections <n>', 'concurrent requests', (v) => Number(v), 16)
    .option('--rounds <n>', 'bench rounds (interleaved; the median is reported)', (v) => Number(v), 3)
    .option('--seconds <n>', 'drill warm-up / bench measurement seconds', (v) => Number(v), 10)
    .parse(process.argv);
  const opts = program.opts<{
    drill?: boolean;
    switchover?: boolean;
    hostLoss?: boolean;
    nodes: number;
    rounds: number;
    bench?: boolean;
    keep?: boolean;
    keepDir?: boolean;
    connections: number;
    seconds: number;
  }>();
  keepDir = Boolean(opts.keepDir);
  if (opts.nodes !== 2 && opts.nodes !== 3) throw new Error('--nodes: 2 or 3');
  NODES = ALL_NODES.slice(0, opts.nodes);

  if (process.getuid?.() !== 0) throw new Error('run as root: it installs packages and runs PostgreSQL as the postgres user');
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    say(`${signal}`);
    void teardown().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  await step('packages', async () => ensurePackages());
  await step('clean up a previous run', killStale);
  mkdirSync(BASE, { recursive: true, mode: 0o755 });
  secrets = {
    superuser: randomBytes(12).toString('hex'),
    replication: randomBytes(12).toString('hex'),
    vault: randomBytes(12).toString('hex'),
    masterKeys: `ha1:${randomBytes(32).toString('base64')}`,
  };
  writeFileSync(path.join(BASE, 'secrets.json'), JSON.stringify(secrets, null, 2), { mode: 0o600 });

  await step('etcd', startEtcd);
  await step('Patroni: bootstrap leader and synchronous standby', async () => {
    await startPatroni(secrets);
    await waitHealthy(180_000);
  });
  await step('HAProxy', startHaproxy);
  await step('vault database and role', prepareVaultDatabase);
  const merchants = await step('migrations + merchants', () => migrateAndCreateMerchants(opts.bench ? 8 : 1));
  const servers = await step('two vault servers behind HAProxy', () =>
    Promise.all(PORTS.vault.map((port, i) => startVault(`vault${i + 1}`, port, vaultUrl(PORTS.haproxy)))),
  );

  const { leader, standby } = await waitHealthy();
  const leaderPort = NODES.find((n) => n.name === leader.name)!.pgPort;
  process.stdout.write(`
Vault HA stack (directory ${BASE}):
  etcd               http://127.0.0.1:${PORTS.etcdClient}          (log ${BASE}/etcd/etcd.log)
${NODES.map((n) => `  Patroni ${n.name}        http://127.0.0.1:${n.restPort}/cluster  PostgreSQL 127.0.0.1:${n.pgPort}  ${n.name === leader.name ? 'LEADER' : n.name === standby.name ? 'sync standby' : ''}  (log ${BASE}/${n.name}/patroni.log)`).join('\n')}
  HAProxy            postgresql://127.0.0.1:${PORTS.haproxy} -> primary;  stats http://127.0.0.1:${PORTS.haproxyStats}/
  vault database     ${vaultUrl(PORTS.haproxy)}
  superuser          ${superuserUrl(PORTS.haproxy)}
${servers.map((s) => `  ${s.name.padEnd(18)} ${s.url}  (log ${s.log})`).join('\n')}
  merchant           ${merchants[0]!.merchantId}  api-key: ${merchants[0]!.secretKey}
  master keys        VAULT_MASTER_KEYS=${secrets.masterKeys}
  patronictl         patronictl -c ${BASE}/${leader.name}/patroni.yml list
  CLI                DATABASE_URL=${vaultUrl(PORTS.haproxy)} VAULT_MASTER_KEYS=... npm run vault -- audit verify
  (leader now: ${leader.name} on ${leaderPort})
`);

  let ok = true;
  if (opts.drill)
    ok = await drill(
      servers,
      merchants[0]!.secretKey,
      opts.connections,
      opts.seconds,
      opts.switchover ? 'switchover' : opts.hostLoss ? 'host-loss' : 'kill',
    );
  if (opts.bench) {
    const direct = await step('a third vault server straight to the leader', () =>
      startVault('vault-direct', PORTS.vaultDirect, vaultUrl(leaderPort)),
    );
    await throughput(servers[0]!, direct, merchants, opts.connections, opts.seconds, opts.rounds);
  }
  if (!opts.drill && !opts.bench) say('up; Ctrl-C tears everything down');
  if ((!opts.drill && !opts.bench) || opts.keep) await new Promise(() => undefined);
  await teardown();
  process.exit(ok && !process.exitCode ? 0 : 1);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  await teardown().catch(() => undefined);
  process.exit(1);
});
