import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The layout's rules that a reviewer would otherwise have to remember (docs/architecture.md): each table has
// one store, so a statement on it exists once and every write to it is sealed by that store or by the
// encryption extension.

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** The source files (relative to src/) in which `pattern` occurs. */
function filesMatching(pattern: RegExp): string[] {
  return sources(SRC)
    .filter((f) => pattern.test(readFileSync(f, 'utf8')))
    .map((f) => relative(SRC, f))
    .sort();
}

describe('layout', () => {
  const ORM = (delegate: string) => new RegExp(`\\.${delegate}\\.(find|create|update|delete|upsert|count|aggregate|groupBy)`);

  it.each([
    ['payment_methods', 'paymentMethod', 'domain/paymentMethods/store.ts'],
    ['card_probes', 'cardProbe', 'domain/paymentMethods/store.ts'],
    ['psp_tokens', 'pspToken', 'domain/paymentMethods/store.ts'],
    ['network_tokens', 'networkToken', 'domain/paymentMethods/store.ts'],
    ['network_token_events', 'networkTokenEvent', 'domain/paymentMethods/store.ts'],
    ['customers', 'customer', 'domain/customers/store.ts'],
    ['card_tokens', 'cardToken', 'domain/cardTokens/store.ts'],
    ['payments', 'payment', 'domain/payments/store.ts'],
    // Merchants without a fingerprint key, and every merchant's chain head, are found by joining merchants.
    ['merchants', 'merchant', 'domain/merchants/store.ts', 'domain/merchants/fingerprintKeys.ts', 'domain/audit/checkpoint.ts'],
    ['api_keys', 'apiKey', 'domain/merchants/store.ts'],
    // The payments store finds payments whose idempotency record expired by joining the records.
    ['idempotency_keys', 'idempotencyKey', 'domain/idempotency/store.ts', 'domain/payments/store.ts'],
    ['trusted_documents', 'trustedDocument', 'domain/trustedDocuments/store.ts'],
    ['card_imports', 'cardImport', 'domain/paymentMethods/store.ts'],
  ])('only its store touches %s, in SQL or through the ORM', (table, delegate, store, ...joinedBy: string[]) => {
    const sql = filesMatching(new RegExp(`\\b(INTO|FROM|UPDATE|JOIN)\\s+${table}\\b`));
    expect(sql.filter((f) => f !== store && !joinedBy.includes(f))).toEqual([]);
    expect(filesMatching(ORM(delegate))).toEqual([store]);
  });

  it('no module keeps app state in a module-level let', () => {
    const offenders = sources(SRC).flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => /^(export )?(let|var) /.test(l))
        .map((l) => `${relative(SRC, f)}: ${l}`),
    );
    // What remains is not app state: a pool of CSPRNG bytes (crypto/random.ts), the correlation counter of
    // the cluster's metrics messages, and the time of one synchronous validation call (zod passes no
    // context to refinements; set and cleared around the call).
    expect(offenders).toEqual([
      'crypto/random.ts: let pool = Buffer.alloc(0);',
      'crypto/random.ts: let offset = 0;',
      'domain/shared/inputSchemas.ts: let clock: Date | undefined;',
      'http/plugins/metrics.ts: let nextId = 0;',
    ]);
  });
});

describe("the README's source tree", () => {
  const readme = readFileSync(join(SRC, '..', 'README.md'), 'utf8');
  const tree = readme.slice(readme.indexOf('\nsrc/\n'), readme.indexOf('```', readme.indexOf('\nsrc/\n')));
  const folders = (dir: string) =>
    readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== 'generated')
      .map((e) => e.name);

  it('names every folder of src/ and of src/domain/', () => {
    expect(tree.length).toBeGreaterThan(0);
    const missing = [...folders(SRC), ...folders(join(SRC, 'domain')), ...folders(join(SRC, 'http'))].filter(
      (name) => !new RegExp(`\\b${name}/`).test(tree),
    );
    expect(missing).toEqual([]);
  });
});
