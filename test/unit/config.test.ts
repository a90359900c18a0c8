import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.js';

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
});
