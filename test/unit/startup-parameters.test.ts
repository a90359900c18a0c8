import { describe, expect, it } from 'vitest';
import { refusedStartupParameter } from '../../src/db/client.js';

// The pool drops a startup parameter a pooler refuses (src/db/client.ts); an unrecognised wording would make
// every connection fail instead. PgBouncer 1.18 is what the poolers test runs; later versions word it otherwise.
describe('startup parameters a pooler refuses', () => {
  it('are recognised in every wording PgBouncer and Neon use', () => {
    expect(refusedStartupParameter('unsupported startup parameter: statement_timeout')).toBe('statement_timeout');
    expect(refusedStartupParameter('unsupported startup parameter: options')).toBe('options');
    expect(refusedStartupParameter('unsupported startup parameter in options: enable_seqscan')).toBe('options');
    expect(refusedStartupParameter('unsupported options startup parameter')).toBe('options');
  });

  it('are not read into other errors', () => {
    expect(refusedStartupParameter('password authentication failed for user "vault"')).toBeUndefined();
    expect(refusedStartupParameter('unsupported startup parameter: application_name')).toBeUndefined();
  });
});
