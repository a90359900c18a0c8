import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.js';
import { parseAuditSigningKey } from '../../src/crypto/auditSigningKey.js';

const KEYS = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

describe('configuration', () => {
  it('refuses production on the embedded database, naming DATABASE_URL', () => {
    expect(() => parseConfig({ NODE_ENV: 'production', VAULT_MASTER_KEYS: KEYS })).toThrow(
      /DATABASE_URL: required when NODE_ENV=production/,
    );
    expect(parseConfig({ NODE_ENV: 'production', VAULT_MASTER_KEYS: KEYS, DATABASE_URL: 'postgresql://vault@db/vault' }).NODE_ENV).toBe(
      'production',
    );
    expect(parseConfig({ NODE_ENV: 'development' }).DATABASE_URL).toBeUndefined();
  });

  it('VAULT_DB_PREPARED_STATEMENTS: on by default, off with false or 0, anything else refused by name', () => {
    expect(parseConfig({}).VAULT_DB_PREPARED_STATEMENTS).toBe(true);
    expect(parseConfig({ VAULT_DB_PREPARED_STATEMENTS: 'false' }).VAULT_DB_PREPARED_STATEMENTS).toBe(false);
    expect(parseConfig({ VAULT_DB_PREPARED_STATEMENTS: '0' }).VAULT_DB_PREPARED_STATEMENTS).toBe(false);
    expect(() => parseConfig({ VAULT_DB_PREPARED_STATEMENTS: 'off' })).toThrow(/VAULT_DB_PREPARED_STATEMENTS/);
  });

  it('VAULT_DB_READ_BATCHES: 2 by default, 0 (a statement per read) to 64, anything else refused by name', () => {
    expect(parseConfig({}).VAULT_DB_READ_BATCHES).toBe(2);
    expect(parseConfig({ VAULT_DB_READ_BATCHES: '0' }).VAULT_DB_READ_BATCHES).toBe(0);
    expect(parseConfig({ VAULT_DB_READ_BATCHES: '8' }).VAULT_DB_READ_BATCHES).toBe(8);
    for (const bad of ['-1', '65', '1.5', 'many', '', ' ', '0x2', '2e0']) {
      expect(() => parseConfig({ VAULT_DB_READ_BATCHES: bad })).toThrow(/VAULT_DB_READ_BATCHES/);
    }
  });

  it('numbers are whole decimal numbers: an empty value (VAR= in an env file) is refused, not read as 0', () => {
    // Read as 0 these would turn the rate limit, the failed-authentication limit and the purge off.
    for (const name of ['VAULT_RATE_LIMIT', 'VAULT_AUTH_FAILURE_LIMIT', 'VAULT_PURGE_INTERVAL_SECONDS', 'PORT']) {
      for (const bad of ['', '  ', '0x10', '1e2', '+5', '3.0']) {
        expect(() => parseConfig({ [name]: bad }), `${name}=${bad}`).toThrow(new RegExp(`${name}: must be a whole number`));
      }
    }
    expect(parseConfig({ VAULT_RATE_LIMIT: ' 50 ' }).VAULT_RATE_LIMIT).toBe(50);
    expect(parseConfig({ PORT: '0' }).PORT).toBe(0);
  });

  it("intervals and timeouts stay within what Node's timers keep (a longer one would fire at once, over and over)", () => {
    expect(parseConfig({ VAULT_PURGE_INTERVAL_SECONDS: '2147483' }).VAULT_PURGE_INTERVAL_SECONDS).toBe(2_147_483);
    expect(() => parseConfig({ VAULT_PURGE_INTERVAL_SECONDS: '2147484' })).toThrow(/VAULT_PURGE_INTERVAL_SECONDS/);
    expect(() => parseConfig({ VAULT_UPDATER_INTERVAL_SECONDS: '99999999' })).toThrow(/VAULT_UPDATER_INTERVAL_SECONDS/);
    expect(() => parseConfig({ VAULT_SHUTDOWN_TIMEOUT_MS: '2147483648' })).toThrow(/VAULT_SHUTDOWN_TIMEOUT_MS/);
  });

  it('every setting is in the README and in docs/api.md', () => {
    // Settings without a default are absent from a parsed empty environment: read the declarations instead.
    const declared = [
      ...readFileSync(new URL('../../src/app/config.ts', import.meta.url), 'utf8').matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm),
    ].map((m) => m[1]!);
    expect(declared).toContain('VAULT_DB_READ_BATCHES');
    for (const doc of ['../../README.md', '../../docs/api.md']) {
      const text = readFileSync(new URL(doc, import.meta.url), 'utf8');
      expect(
        declared.filter((name) => !text.includes(`| \`${name}\``)),
        doc,
      ).toEqual([]);
    }
  });

  it('VAULT_GRAPHQL_EXECUTOR: jit by default, or graphql-js; anything else refused by name', () => {
    expect(parseConfig({}).VAULT_GRAPHQL_EXECUTOR).toBe('jit');
    expect(parseConfig({ VAULT_GRAPHQL_EXECUTOR: 'graphql-js' }).VAULT_GRAPHQL_EXECUTOR).toBe('graphql-js');
    expect(parseConfig({ VAULT_GRAPHQL_EXECUTOR: 'jit' }).VAULT_GRAPHQL_EXECUTOR).toBe('jit');
    expect(() => parseConfig({ VAULT_GRAPHQL_EXECUTOR: 'graphql-jit' })).toThrow(/VAULT_GRAPHQL_EXECUTOR/);
  });
});

describe('the audit checkpoint signing key', () => {
  const seed = Buffer.alloc(32, 3).toString('base64');
  const DB = 'postgresql://vault@db/vault';

  it('is id:base64 of a 32-byte Ed25519 seed; a bad one stops start-up, named, without its value', () => {
    expect(parseConfig({ VAULT_AUDIT_SIGNING_KEY: `a1:${seed}` }).VAULT_AUDIT_SIGNING_KEY).toBe(`a1:${seed}`);
    for (const bad of [seed, `a1:${Buffer.alloc(16, 3).toString('base64')}`, 'a 1:abcd', `a1:${seed}!`]) {
      let message = '';
      try {
        parseConfig({ VAULT_AUDIT_SIGNING_KEY: bad });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/VAULT_AUDIT_SIGNING_KEY: must be id:base64 of a 32-byte Ed25519 seed/);
      expect(message).not.toContain(bad);
    }
  });

  it('signs so that only the same key verifies, and any change to the message fails', () => {
    const key = parseAuditSigningKey(`a1:${seed}`);
    const other = parseAuditSigningKey(`a2:${Buffer.alloc(32, 4).toString('base64')}`);
    const signature = key.sign('head');
    expect(Buffer.from(signature, 'base64')).toHaveLength(64);
    expect(key.verify('head', signature)).toBe(true);
    expect(key.verify('heae', signature)).toBe(false);
    expect(other.verify('head', signature)).toBe(false);
    expect(key.verify('head', 'not a signature')).toBe(false);
    // Deterministic (Ed25519): the same seed, the same signature.
    expect(parseAuditSigningKey(`a1:${seed}`).sign('head')).toBe(signature);
  });

  it('refuses production without a sealer', () => {
    expect(() =>
      parseConfig({ NODE_ENV: 'production', VAULT_MASTER_KEYS: KEYS, DATABASE_URL: DB, VAULT_AUDIT_SEAL_INTERVAL_MS: '0' }),
    ).toThrow(/VAULT_AUDIT_SEAL_INTERVAL_MS/);
    expect(parseConfig({ NODE_ENV: 'production', VAULT_MASTER_KEYS: KEYS, DATABASE_URL: DB }).VAULT_AUDIT_SEAL_INTERVAL_MS).toBe(1000);
  });
});
