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
});
