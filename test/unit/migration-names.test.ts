import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { maskPans } from '../../src/card/pan.js';
import { describeMigration } from '../../src/db/migrate.js';

// Migrations are named by a 14-digit timestamp, which is often Luhn-valid: the log scrubber masked every one
// that was ("Applying migration tokens_payments ([PAN ****7000]0)"), as it must mask anything shaped like a
// card number. The names the logs show must come through the scrubber as they are.
const MIGRATIONS = join(import.meta.dirname, '..', '..', 'prisma', 'migrations');

describe('migration names in the logs', () => {
  it('pass the card-number scrubber unchanged, for every migration on disk', () => {
    const names = readdirSync(MIGRATIONS, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) {
      const line = `Applying migration ${describeMigration(name)}`;
      expect(maskPans(line)).toBe(line);
    }
  });

  it('show the name and when the migration was written', () => {
    expect(describeMigration('20261121170000_tokens_payments')).toBe('tokens_payments (2026-11-21 at 17:00:00)');
    // Digits that are no time of day (two names used them as a sequence) are not shown as one.
    expect(describeMigration('20261203500000_webhooks')).toBe('webhooks (2026-12-03)');
  });
});
