import { describe, expect, it } from 'vitest';
import { returnsCardData } from '../../src/http/plugins/idempotency.js';
import { schema } from '../../src/schema/index.js';

describe('Idempotency-Key never replays card data', () => {
  it('the mutations whose result type can hold full card data are found by type (RevealedCard), not by a list of names', () => {
    const mutations = Object.keys(schema.getMutationType()!.getFields());
    expect(mutations.filter((name) => returnsCardData(schema, name))).toEqual(['revealCard']);
  });
});
