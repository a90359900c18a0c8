import { describe, expect, it } from 'vitest';
import { isConnectionLoss } from '../../src/db/connectionLoss.js';

describe('isConnectionLoss', () => {
  it('recognises a lost or refused connection, however deep the driver wrapped it', () => {
    expect(isConnectionLoss(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionLoss(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isConnectionLoss({ name: 'DriverAdapterError', cause: { kind: 'postgres', originalCode: '57P01' } })).toBe(true);
    expect(
      isConnectionLoss(new Error('outer', { cause: { code: '25006', message: 'cannot execute INSERT in a read-only transaction' } })),
    ).toBe(true);
    // Prisma's PrismaClientKnownRequestError keeps the adapter's error in meta.
    expect(isConnectionLoss({ meta: { driverAdapterError: { cause: { kind: 'ConnectionClosed' } } } })).toBe(true);
  });

  it('leaves statement failures alone: they did not commit, and they are not unavailability', () => {
    expect(isConnectionLoss(Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' }))).toBe(false);
    expect(isConnectionLoss(new Error('Internal server error'))).toBe(false);
    expect(isConnectionLoss(undefined)).toBe(false);
  });
});
