import { describe, expect, it } from 'vitest';
import { classifyConnectionCode, classifyConnectionMessage } from '../../src/db/connectionErrors.js';
import { isTransientConnectError } from '../../src/db/connectRetry.js';
import { isConnectionLoss } from '../../src/db/connectionLoss.js';

// connectRetry.ts and connectionLoss.ts used to keep a list each; both now read connectionErrors.ts. Every
// entry of either former list is here, and both predicates still answer what they answered for it (or, where
// the lists differed, what the other list said: the union).

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

// The former connectRetry.ts list (EAI_AGAIN only there) and connectionLoss.ts list (ECONNABORTED only there).
const SOCKET_CODES = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED'];
// Class 08, 57P01-57P03 (both lists).
const LOST_SQLSTATES = ['08000', '08001', '08003', '08004', '08006', '08007', '08P01', '57P01', '57P02', '57P03'];
// Messages without a code: pg's, the server's, and Prisma's driver-adapter kinds (connectionLoss.ts's list,
// which held connectRetry.ts's three "Connection terminated" forms).
const LOST_MESSAGES = [
  'Connection terminated',
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Client has encountered a connection error and is not queryable',
  'connection timeout',
  'ConnectionClosed',
  'DatabaseNotReachable',
  'SocketTimeout',
  'the database system is shutting down',
  'the database system is starting up',
  'the database system is in recovery mode',
  'terminating connection due to administrator command',
];

describe('one list of connection failures for connect retries and for requests', () => {
  it('classifies every socket code, SQLSTATE and message of both former lists', () => {
    for (const code of [...SOCKET_CODES, ...LOST_SQLSTATES]) expect(classifyConnectionCode(code), code).toBe('lost');
    for (const kind of ['ConnectionClosed', 'DatabaseNotReachable', 'SocketTimeout'])
      expect(classifyConnectionCode(kind), kind).toBe('lost');
    expect(classifyConnectionCode('25006')).toBe('read-only');
    for (const message of LOST_MESSAGES) expect(classifyConnectionMessage(message), message).toBe('lost');
    expect(classifyConnectionMessage('timeout exceeded when trying to connect')).toBe('no-free-connection');
  });

  it('retries a connection attempt on every lost-connection entry', () => {
    for (const code of [...SOCKET_CODES, ...LOST_SQLSTATES])
      expect(isTransientConnectError(withCode(`failed: ${code}`, code)), code).toBe(true);
    for (const message of LOST_MESSAGES) expect(isTransientConnectError(new Error(message)), message).toBe(true);
  });

  it('answers SERVICE_UNAVAILABLE for every entry, read-only standby and full pool included', () => {
    for (const code of [...SOCKET_CODES, ...LOST_SQLSTATES, '25006']) {
      expect(isConnectionLoss(withCode('failed', code)), code).toBe(true);
      expect(isConnectionLoss({ name: 'DriverAdapterError', cause: { kind: 'postgres', originalCode: code } }), code).toBe(true);
    }
    for (const message of [...LOST_MESSAGES, 'timeout exceeded when trying to connect']) {
      expect(isConnectionLoss(new Error('outer', { cause: new Error(message) })), message).toBe(true);
    }
  });

  it('does not retry a connection on what waiting cannot fix, nor call statement failures a lost connection', () => {
    // A server error's SQLSTATE decides over its message for a connection attempt.
    for (const [code, message] of [
      ['28P01', 'password authentication failed for user "vault"'],
      ['3D000', 'database "vault" does not exist'],
      ['53300', 'too many connections for role "vault"'],
      ['25006', 'cannot execute INSERT in a read-only transaction'],
      ['ENOTFOUND', 'getaddrinfo ENOTFOUND db.invalid'],
    ] as const) {
      expect(isTransientConnectError(withCode(message, code)), code).toBe(false);
    }
    expect(isTransientConnectError(new Error('timeout exceeded when trying to connect'))).toBe(false);
    for (const code of ['23505', '40001', '57014', '28P01', '3D000', '0800', '080001']) {
      expect(isConnectionLoss(withCode('statement failed', code)), code).toBe(false);
    }
  });
});
