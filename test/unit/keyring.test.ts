import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseMasterKeys } from '../../src/crypto/masterKeys.js';
import { Keyring } from '../../src/crypto/keyring.js';
import type { DataKey } from '../../src/generated/prisma/client.js';
import { TEST_MASTER_KEYS } from '../helpers/env.js';

// The keyring against an in-memory key store whose reads can be held open: what a request waits for.
function store() {
  const rows: DataKey[] = [];
  let gate: Promise<void> = Promise.resolve();
  const s = {
    reads: 0,
    hold() {
      let open!: () => void;
      gate = new Promise<void>((r) => (open = r));
      return () => open();
    },
    dataKey: {
      async create({ data }: { data: Record<string, unknown> }) {
        rows.push({ active: true, createdAt: new Date(), ...data } as unknown as DataKey);
      },
      async findMany() {
        s.reads++;
        await gate;
        return [...rows];
      },
    },
  };
  return s;
}

describe('keyring cache', () => {
  afterEach(() => vi.useRealTimers());

  it('refreshes ahead in the background after half the TTL, so callers never wait, and never serves keys older than the TTL', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const s = store();
    const keyring = new Keyring(s as never, parseMasterKeys(TEST_MASTER_KEYS), 1_000);
    await keyring.createMerchantKeys(s as never, 'mer_1');
    const first = await keyring.merchantKeys('mer_1');
    expect(s.reads).toBe(1);

    vi.advanceTimersByTime(400); // under half the TTL: cached, nothing read
    expect(await keyring.merchantKeys('mer_1')).toBe(first);
    expect(s.reads).toBe(1);

    // Past half the TTL, with the store slow: the cached keys come back at once, a reload starts behind.
    vi.advanceTimersByTime(200);
    const release = s.hold();
    let answered = false;
    void keyring.merchantKeys('mer_1').then(() => (answered = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(answered).toBe(true);
    expect(s.reads).toBe(2);
    void keyring.merchantKeys('mer_1'); // one reload at a time
    expect(s.reads).toBe(2);
    release();
    await vi.waitFor(async () => expect(await keyring.merchantKeys('mer_1')).not.toBe(first));

    // The reloaded keys count from when the reload started (t=600): at t=1,500 they are still fresh (read
    // ahead again, not waited for); past t=1,600 + TTL without use, a caller waits for a reload.
    vi.advanceTimersByTime(900);
    const reads = s.reads;
    await keyring.merchantKeys('mer_1');
    expect(s.reads).toBe(reads + 1); // refresh-ahead started (age 900 > 500)
    vi.advanceTimersByTime(5_000);
    const waiting = s.hold();
    let loaded = false;
    void keyring.merchantKeys('mer_1').then(() => (loaded = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(loaded).toBe(false); // expired: this caller waits for the store
    waiting();
    await vi.waitFor(() => expect(loaded).toBe(true));
  });
});
