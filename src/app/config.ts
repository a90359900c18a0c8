import { z } from 'zod';
import { parseAuditSigningKey } from '../crypto/auditSigningKey.js';

// Every environment variable the vault reads is declared here, parsed once, and a bad value stops start-up
// with a message naming the variable (never its value: some of these are secrets).
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/**
 * A whole number written in decimal digits. Not `z.coerce.number()`, which reads an empty or blank value (`VAR=`
 * in an env file) as 0, turning a limit or an interval off, and accepts `0x10` and `1e2`.
 */
const whole = (min: number, max: number = Number.MAX_SAFE_INTEGER) =>
  z.string().trim().regex(/^\d+$/, 'must be a whole number (decimal digits)').transform(Number).pipe(z.number().int().min(min).max(max));

/** The longest delay Node's timers keep (2^31 - 1 ms, about 24.8 days); a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: postgresUrl.optional(),
  /**
   * A direct connection to the primary (not through a transaction-pooling proxy) for what needs a session of
   * its own: the api-key cache's LISTEN, the audit sealer's election lock and migrations. Default: DATABASE_URL.
   */
  DATABASE_DIRECT_URL: postgresUrl.optional(),
  DATABASE_POOL_SIZE: whole(1, 200).default(10),
  /**
   * Named prepared statements for the hottest queries (each connection plans them once). Behind a pooler
   * that cannot keep them (PgBouncer before 1.21 in transaction mode) the vault turns them off by itself
   * the first time a statement turns out missing or taken; `false` never sends them.
   */
  VAULT_DB_PREPARED_STATEMENTS: bool.default(true),
  /**
   * How many batched masked-read statements run at once per process (src/domain/paymentMethods/store.ts):
   * reads asked for meanwhile wait for the first to finish and go together. Raise it for a vault whose reads
   * mostly come from disk (a batch reads its rows one after another); at most DATABASE_POOL_SIZE - 1 run. 0
   * sends a statement per read.
   */
  VAULT_DB_READ_BATCHES: whole(0, 64).default(2),
  PORT: whole(0, 65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  VAULT_MASTER_KEYS: z.string().min(1).optional(),
  VAULT_DATA_DIR: z.string().min(1).default('.vault-data'),
  VAULT_DEMO_MERCHANT: bool.optional(),
  VAULT_PURGE_INTERVAL_SECONDS: whole(0, MAX_TIMER_SECONDS).default(60),
  /**
   * How often a server runs the account updater over cards it has not asked about (0: never; the operator
   * runs `vault updater run`). Off by default: only test mode has an updater (the sandbox) in this build.
   */
  VAULT_UPDATER_INTERVAL_SECONDS: whole(0, MAX_TIMER_SECONDS).default(0),
  VAULT_SHUTDOWN_TIMEOUT_MS: whole(0, MAX_TIMER_MS).default(10_000),
  /** Where customers reach the vault (behind a proxy): the base of the links it hands out, such as 3-D Secure challenges. */
  VAULT_PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })
    .refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), 'must not contain credentials (they would be in every challenge link)')
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  /** forwardRequest: the whole upstream exchange, redirects and body included. */
  VAULT_FORWARD_TIMEOUT_MS: whole(100, 120_000).default(15_000),
  /** forwardRequest: the largest upstream response body returned (larger ones fail with FORWARD_FAILED). */
  VAULT_FORWARD_MAX_RESPONSE_BYTES: whole(1024, 16 * 1024 * 1024).default(1024 * 1024),
  /** GraphiQL at GET /graphql; default: on, except with NODE_ENV=production. */
  VAULT_GRAPHIQL: bool.optional(),
  /**
   * /metrics on a listener of its own (VAULT_METRICS_HOST, default 127.0.0.1), off the public port. Without it,
   * /metrics is on the public port outside production only; with VAULT_METRICS_TOKEN, wherever it is served,
   * it needs `Authorization: Bearer <token>` (and with a token it stays on the public port in production too).
   */
  VAULT_METRICS_PORT: whole(0, 65535).optional(),
  VAULT_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  VAULT_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** GraphQL introspection; default: on, except with NODE_ENV=production. */
  VAULT_INTROSPECTION: bool.optional(),
  /**
   * Trusted documents (persisted operations, registered with `vault documents push`): `allow` runs documents
   * sent by id (`{"documentId": "sha256:…"}`) and any document sent as text; `require` runs only documents
   * sent by id and refuses text with PERSISTED_DOCUMENT_REQUIRED (GraphiQL then cannot run anything); `off`
   * accepts text only.
   */
  VAULT_TRUSTED_DOCUMENTS: z.enum(['off', 'allow', 'require']).default('allow'),
  /**
   * What executes GraphQL operations: `graphql-js`, or `jit` (graphql-jit: each document compiled to
   * JavaScript once; same results, statements and errors, see src/http/plugins/compiledExecutor.ts).
   */
  VAULT_GRAPHQL_EXECUTOR: z.enum(['graphql-js', 'jit']).default('jit'),
  /**
   * Plain GraphQL requests (a JSON POST to /graphql with a key, no Origin, no Idempotency-Key) served from
   * Node's request straight to the GraphQL pipeline, without yoga's HTTP layer (src/http/fastPath.ts): the
   * same answers, less CPU. `false`: every request through yoga's HTTP layer.
   */
  VAULT_GRAPHQL_FAST_PATH: bool.default(true),
  /** Requests per api key per window (0: no limit). */
  VAULT_RATE_LIMIT: whole(0).default(200),
  VAULT_RATE_LIMIT_WINDOW_SECONDS: whole(1, 3600).default(1),
  /** Failed authentications (unknown or revoked keys) per client address per window, then 429 (0: no limit). */
  VAULT_AUTH_FAILURE_LIMIT: whole(0).default(20),
  VAULT_AUTH_FAILURE_WINDOW_SECONDS: whole(1, 86_400).default(60),
  /** Shares rate-limit budgets between instances; absent: each process counts on its own. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  /** Whole request (headers and body) must arrive within this; slow clients get 408. */
  VAULT_REQUEST_TIMEOUT_MS: whole(100, 600_000).default(30_000),
  VAULT_HEADERS_TIMEOUT_MS: whole(100, 600_000).default(10_000),
  /** Longest SQL statement; also how long a request waits for a pooled connection. */
  VAULT_STATEMENT_TIMEOUT_MS: whole(100, 600_000).default(15_000),
  /** How long a process keeps unwrapped data keys; after a data-key rotation it encrypts under the new key within this. */
  VAULT_KEY_CACHE_SECONDS: whole(1, 3600).default(30),
  /**
   * Server processes cache authenticated api keys this long at most (0: no cache). Revocations evict at once
   * through LISTEN/NOTIFY; the TTL only bounds a notification lost without the connection failing.
   */
  VAULT_API_KEY_CACHE_SECONDS: whole(0, 3600).default(60),
  /**
   * Enumeration limit (PCI DSS 3.5.1.1): an api key may tokenize at most this many distinct card numbers
   * sharing one bin and last four within the window (more are refused with TOO_MANY_ATTEMPTS and audited as
   * card.enumeration_suspected). Recovering a stored card from its visible bin and last four takes up to
   * ~10^5 such numbers; a merchant sees two distinct cards with the same bin and last four rarely. 0: off.
   */
  VAULT_ENUMERATION_MAX_NUMBERS: whole(0, 1_000_000).default(20),
  /**
   * At most this many distinct stored cards an api key's tokenizations may hit as duplicates (the same card
   * again for the same customer) within the window; the same card again and again counts once. 0: off.
   */
  VAULT_ENUMERATION_MAX_DUPLICATES: whole(0, 1_000_000).default(10_000),
  /** How long a tokenized number counts toward the enumeration limits. */
  VAULT_ENUMERATION_WINDOW_SECONDS: whole(60, 30 * 86_400).default(86_400),
  /**
   * Signs audit checkpoints (`audit checkpoint`) and checks them (`audit verify --checkpoint`): id:base64 of a
   * 32-byte Ed25519 seed. Default outside production: one generated into VAULT_DATA_DIR.
   */
  VAULT_AUDIT_SIGNING_KEY: z
    .string()
    .min(1)
    .refine((v) => {
      try {
        parseAuditSigningKey(v);
        return true;
      } catch {
        return false;
      }
    }, 'must be id:base64 of a 32-byte Ed25519 seed')
    .optional(),
  /** How often server processes try to seal the audit chain (one of them, elected, does); 0: never (not in production). */
  VAULT_AUDIT_SEAL_INTERVAL_MS: whole(0, 5000).default(1000),
  /** How often server processes look for due webhook deliveries (0: this process delivers none). */
  VAULT_WEBHOOK_POLL_MS: whole(0, 60_000).default(1000),
  /** Longest wait for a merchant endpoint's answer; no answer counts as a failed attempt. */
  VAULT_WEBHOOK_TIMEOUT_MS: whole(100, 60_000).default(10_000),
  /** The first retry's delay (±20% jitter); each later retry doubles it, up to VAULT_WEBHOOK_RETRY_MAX_MS. */
  VAULT_WEBHOOK_RETRY_BASE_MS: whole(10, 30_000).default(5000),
  VAULT_WEBHOOK_RETRY_MAX_MS: whole(10, 86_400_000).default(3_600_000),
  /** Retries go on this long after the event (at least 24 hours by default), then the delivery is given up. */
  VAULT_WEBHOOK_RETRY_WINDOW_MS: whole(100, 7 * 86_400_000).default(25 * 3_600_000),
  /** Deliveries in flight per process. */
  VAULT_WEBHOOK_CONCURRENCY: whole(1, 256).default(16),
  /** HTTP worker processes (node:cluster); default: one per core with DATABASE_URL, 1 with the embedded database. */
  VAULT_WORKERS: whole(1, 256).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof envSchema>;

/**
 * GraphQL limits, pinned here (not configurable: merchants' documents are written against them). Documents
 * over any of them are refused before execution.
 */
export const GRAPHQL_LIMITS = {
  maxDepth: 10,
  maxAliases: 15,
  /**
   * graphql-armor's cost, configured as an upper bound of the values a document can return: 1 per field,
   * multiplied by the `first` of each list it is in. customers(first: 50) with paymentMethods(first: 10) of
   * a dozen fields each costs about 6,500; customers(first: 100) × paymentMethods(first: 100) is refused.
   */
  maxCost: 50_000,
  maxTokens: 2000,
  maxDirectives: 20,
  /** Request bodies larger than this answer 413. */
  maxBodyBytes: 1024 * 1024,
} as const;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * `readOnly`: for commands that read no encrypted data and write nothing (`audit verify`): master keys are not
 * required, even in production (an auditor does not hold them).
 */
export function parseConfig(env: NodeJS.ProcessEnv = process.env, { readOnly = false } = {}): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const config = result.data;
  if (config.NODE_ENV === 'production' && !config.VAULT_MASTER_KEYS && !readOnly) {
    throw new ConfigError(
      'Invalid configuration:\n  VAULT_MASTER_KEYS: required when NODE_ENV=production (comma-separated id:base64 keys)',
    );
  }
  // Events must be linked into the audit chain within seconds (and `audit verify` fails after a minute).
  if (config.NODE_ENV === 'production' && config.VAULT_AUDIT_SEAL_INTERVAL_MS === 0) {
    throw new ConfigError('Invalid configuration:\n  VAULT_AUDIT_SEAL_INTERVAL_MS: 0 (no sealer) is not allowed when NODE_ENV=production');
  }
  // The embedded database is one in-process backend for development and demos: no replication, no backups,
  // transactions one at a time.
  if (config.NODE_ENV === 'production' && !config.DATABASE_URL) {
    throw new ConfigError(
      'Invalid configuration:\n  DATABASE_URL: required when NODE_ENV=production (the embedded database is for development)',
    );
  }
  return config;
}
