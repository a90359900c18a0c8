import { GraphQLError } from 'graphql';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

// Per api key rate limiting (rate-limiter-flexible): a fixed window of `points` requests per `windowSeconds`.
// In memory by default (each process counts on its own); with REDIS_URL every instance shares one budget
// per key, and a Redis outage falls back to the in-memory count rather than refusing or waving everything.

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

export function createRateLimiter({ points, windowSeconds, redisUrl, log }: RateLimitOptions): RateLimiter {
  if (points === 0) return { consume: async () => undefined, close: async () => undefined };
  const memory = new RateLimiterMemory({ points, duration: windowSeconds, keyPrefix: 'vault-rl' });
  let redis: Redis | undefined;
  let limiter: RateLimiterAbstract = memory;
  // ioredis is loaded only when Redis is configured (it is ~12 MB of every process's memory otherwise).
  const loading = redisUrl
    ? import('ioredis').then(({ Redis: RedisClient }) => {
        redis = new RedisClient(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
        redis.on('error', (err: Error) => log.warn({ err: err.message }, 'rate limiter: redis unavailable, counting in memory'));
        limiter = new RateLimiterRedis({ storeClient: redis, points, duration: windowSeconds, keyPrefix: 'vault-rl', insuranceLimiter: memory });
      })
    : undefined;
  return {
    async consume(keyId) {
      if (loading) await loading;
      try {
        await limiter.consume(keyId);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        throw new GraphQLError(`Rate limit of ${points} requests per ${windowSeconds} s for this api key exceeded; retry after ${retryAfter} s`, {
          extensions: { code: 'RATE_LIMITED', http: { status: 429, headers: { 'retry-after': String(retryAfter) } } },
        });
      }
    },
    async close() {
      await loading;
      redis?.disconnect();
    },
  };
}
