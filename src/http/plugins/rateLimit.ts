import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { Code } from '../../domain/shared/errors.js';
import { requestError } from '../requestErrors.js';

// Rate limiting (rate-limiter-flexible), fixed windows of `points` per `windowSeconds`: requests per api key,
// and failed authentications per client address. In memory by default (each process counts on its own); with
// REDIS_URL every instance shares one budget per key, and a Redis outage falls back to the in-memory count
// rather than refusing or waving everything.

export interface RateLimiter {
  /** Counts one request of the key; throws the 429 GraphQL error once its budget is spent. */
  consume(keyId: string): Promise<void>;
  close(): Promise<void>;
}

export interface RateLimitOptions {
  points: number;
  windowSeconds: number;
  redisUrl?: string;
  log: Logger;
}

/** A limiter in memory, or in Redis with the memory one as insurance; Redis only loaded when configured. */
function limiterStore({ points, windowSeconds, redisUrl, log }: RateLimitOptions, keyPrefix: string) {
  const memory = new RateLimiterMemory({ points, duration: windowSeconds, keyPrefix });
  let redis: Redis | undefined;
  let limiter: RateLimiterAbstract = memory;
  // ioredis is loaded only when Redis is configured (it is ~12 MB of every process's memory otherwise).
  const loading = redisUrl
    ? import('ioredis').then(({ Redis: RedisClient }) => {
        redis = new RedisClient(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
        redis.on('error', (err: Error) => log.warn({ err: err.message }, 'rate limiter: redis unavailable, counting in memory'));
        limiter = new RateLimiterRedis({ storeClient: redis, points, duration: windowSeconds, keyPrefix, insuranceLimiter: memory });
      })
    : undefined;
  return {
    async limiter(): Promise<RateLimiterAbstract> {
      if (loading) await loading;
      return limiter;
    },
    async close() {
      await loading;
      redis?.disconnect();
    },
  };
}

function rateLimited(message: string, msBeforeNext: number) {
  const retryAfter = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return requestError(Code.RATE_LIMITED, `${message}; retry after ${retryAfter} s`, {
    status: 429,
    headers: { 'retry-after': String(retryAfter) },
  });
}

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const { points, windowSeconds } = options;
  if (points === 0) return { consume: async () => undefined, close: async () => undefined };
  const store = limiterStore(options, 'vault-rl');
  return {
    async consume(keyId) {
      try {
        await (await store.limiter()).consume(keyId);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        throw rateLimited(`Rate limit of ${points} requests per ${windowSeconds} s for this api key exceeded`, rejection.msBeforeNext);
      }
    },
    close: store.close,
  };
}

export interface AuthFailureLimiter {
  /**
   * Runs `authenticate` for a request from `address` unless the address has spent its failures of the window
   * (then throws the 429 GraphQL error without running it); a null result counts as one failure.
   */
  guard<T>(address: string, authenticate: () => Promise<T | null>): Promise<T | null>;
  close(): Promise<void>;
}

/**
 * Failed authentications per client address: `points` unknown or revoked keys per `windowSeconds`, then 429
 * until the window ends, without looking any key up (guessing keys, or making the vault hash and look up
 * keys at full speed, costs a window per `points` tries). Keys that authenticate are not counted.
 */
export function createAuthFailureLimiter(options: RateLimitOptions): AuthFailureLimiter {
  const { points, windowSeconds } = options;
  if (points === 0) return { guard: (_address, authenticate) => authenticate(), close: async () => undefined };
  const store = limiterStore(options, 'vault-authfail');
  return {
    async guard(address, authenticate) {
      const limiter = await store.limiter();
      const spent = await limiter.get(address);
      if (spent && spent.consumedPoints >= points) {
        throw rateLimited(`Too many failed authentications from this address (${points} per ${windowSeconds} s)`, spent.msBeforeNext);
      }
      const result = await authenticate();
      if (result === null) await limiter.penalty(address, 1);
      return result;
    },
    close: store.close,
  };
}
