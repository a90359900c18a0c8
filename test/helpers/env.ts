// Fixed test-only master key (never used outside tests).
export const TEST_MASTER_KEYS = `test1:${Buffer.alloc(32, 7).toString('base64')}`;
export const ADMIN_PG_URL = process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    graphqlUrl: string;
    serverLog: string;
  }
}
