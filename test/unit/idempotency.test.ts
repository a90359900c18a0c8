import { describe, expect, it } from 'vitest';
import { References, returnsCardData } from '../../src/http/plugins/idempotency.js';
import { schema } from '../../src/schema/index.js';

describe('Idempotency-Key never replays card data', () => {
  it('the mutations whose result type can hold full card data are found by type (RevealedCard), not by a list of names', () => {
    const mutations = Object.keys(schema.getMutationType()!.getFields());
    expect(mutations.filter((name) => returnsCardData(schema, name))).toEqual(['revealCard']);
  });
});

describe('References.note', () => {
  const pm = 'pm_0123456789abcdefABCDEF';
  const cus = 'cus_0123456789abcdefABCDEF';

  it('notes the ids an object holds, in lists, and once a pending value resolves', async () => {
    const refs = new References();
    refs.note({ id: pm, customerId: null, last4: '4242', other: 'pm_short' });
    expect([...refs.ids]).toEqual([pm]);
    const later = new References();
    later.note(Promise.resolve([Promise.resolve({ id: cus }), { id: pm }]));
    await new Promise((resolve) => setImmediate(resolve));
    expect([...later.ids].sort()).toEqual([cus, pm]);
  });

  it('ignores a rejected value (the field fails on its own)', async () => {
    const refs = new References();
    const failed = Promise.reject(new Error('no'));
    refs.note(failed);
    await failed.catch(() => undefined);
    expect(refs.ids.size).toBe(0);
  });
});
