import { describe, expect, it } from 'vitest';
import { isTransientConnectError } from '../../src/db/connectRetry.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('isTransientConnectError: which failed connection attempts are worth another', () => {
  it('retries refused and cut connections and a server starting, stopping or recovering', () => {
    expect(isTransientConnectError(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'))).toBe(true);
    expect(isTransientConnectError(withCode('read ECONNRESET', 'ECONNRESET'))).toBe(true);
    // HAProxy with no primary behind it accepts and closes at once.
    expect(isTransientConnectError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientConnectError(new Error('Connection terminated due to connection timeout'))).toBe(true);
    expect(isTransientConnectError(withCode('the database system is starting up', '57P03'))).toBe(true);
    expect(isTransientConnectError(withCode('the database system is shutting down', '57P03'))).toBe(true);
    expect(isTransientConnectError(withCode('terminating connection due to administrator command', '57P01'))).toBe(true);
    expect(isTransientConnectError(withCode('connection failure', '08006'))).toBe(true);
  });

  it('fails at once on what waiting cannot fix', () => {
    expect(isTransientConnectError(withCode('password authentication failed for user "vault"', '28P01'))).toBe(false);
    expect(isTransientConnectError(withCode('database "vault" does not exist', '3D000'))).toBe(false);
    expect(isTransientConnectError(withCode('too many connections for role "vault"', '53300'))).toBe(false);
    // The pool's own wait for a free client already used the whole budget.
    expect(isTransientConnectError(new Error('timeout exceeded when trying to connect'))).toBe(false);
    expect(isTransientConnectError(new Error('Cannot use a pool after calling end on the pool'))).toBe(false);
    expect(isTransientConnectError('ECONNREFUSED')).toBe(false);
  });
});
