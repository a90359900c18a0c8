import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.js';

describe('VAULT_PUBLIC_URL', () => {
  it('refuses credentials, which every challenge link would carry', () => {
    expect(() => parseConfig({ VAULT_PUBLIC_URL: 'https://ops:hunter2-pass@vault.example' })).toThrow(
      /VAULT_PUBLIC_URL: must not contain credentials/,
    );
    expect(() => parseConfig({ VAULT_PUBLIC_URL: 'https://ops:hunter2-pass@vault.example' })).not.toThrow(/hunter2/);
    expect(parseConfig({ VAULT_PUBLIC_URL: 'https://vault.example/' }).VAULT_PUBLIC_URL).toBe('https://vault.example');
  });
});
