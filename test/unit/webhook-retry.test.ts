import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.js';
import { retryDelayMs } from '../../src/domain/webhooks/dispatcher.js';

describe('webhook retry schedule', () => {
  const config = parseConfig({ NODE_ENV: 'test', VAULT_MASTER_KEYS: `k:${Buffer.alloc(32, 1).toString('base64')}` });
  const base = config.VAULT_WEBHOOK_RETRY_BASE_MS;
  const max = config.VAULT_WEBHOOK_RETRY_MAX_MS;

  it('retries first within 30 seconds, doubling, capped, with ±20% jitter', () => {
    expect(retryDelayMs(1, base, max, () => 1)).toBeLessThanOrEqual(30_000);
    expect(retryDelayMs(1, 5000, max, () => 0)).toBe(4000);
    expect(retryDelayMs(1, 5000, max, () => 1)).toBe(6000);
    expect(retryDelayMs(2, 5000, max, () => 0.5)).toBe(10_000);
    expect(retryDelayMs(40, 5000, 3_600_000, () => 0.5)).toBe(3_600_000);
  });

  it('keeps retrying for at least 24 hours by default', () => {
    expect(config.VAULT_WEBHOOK_RETRY_WINDOW_MS).toBeGreaterThanOrEqual(24 * 3_600_000);
    // Even with the shortest jitter every time, the attempts spread over the window rather than ending early:
    // the delays stay bounded by the cap, so the window (not a count) decides when to give up.
    expect(max).toBeLessThan(config.VAULT_WEBHOOK_RETRY_WINDOW_MS);
  });
});
