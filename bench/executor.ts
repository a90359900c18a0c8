// In-process comparison of the two executors (VAULT_GRAPHQL_EXECUTOR): graphql-js and graphql-jit, each
// answering the masked read and the nested customer list through `yoga.fetch` (no HTTP), on a throwaway
// database, in alternating rounds so that drift on a shared machine falls on both. Short by design.
//
//   npx tsx bench/executor.ts [--rounds 5] [--seconds 1.5] [--concurrency 1,16]
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createApp } from '../src/app/app.js';
import { parseConfig } from '../src/app/config.js';
import { migrate } from '../src/db/migrate.js';
import { createCustomer } from '../src/domain/customers/customers.js';
import { createMerchant } from '../src/domain/merchants/merchants.js';
import { tokenizeCard } from '../src/domain/paymentMethods/paymentMethods.js';
import { createVaultYoga } from '../src/http/yoga.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { TEST_MASTER_KEYS } from '../test/helpers/env.js';
import { EXP_YEAR } from '../test/helpers/expiry.js';
import { principalOf, withLuhn } from '../test/helpers/vault.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '1.5' },
    concurrency: { type: 'string', default: '1,16' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const concurrencies = values.concurrency.split(',').map(Number);

const MASKED = 'query($id: ID!) { paymentMethod(id: $id) { id card { bin last4 brand expMonth expYear } } }';
const NESTED = `{ customers(first: 50) { edges { node { id name email defaultBillingAddress { city }
  paymentMethods(first: 10) { edges { node { id fingerprint retainUntil card { bin last4 brand expMonth holderName } billing { email } customer { id } } } } } } } }`;

const db = await createTestDatabase();
try {
  await migrate(db.url);
  const config = parseConfig({ NODE_ENV: 'test', DATABASE_URL: db.url, VAULT_MASTER_KEYS: TEST_MASTER_KEYS, DATABASE_POOL_SIZE: '10' });
  const app = await createApp(config, pino({ level: 'silent' }), { apiKeyCache: true });
  const m = await createMerchant(app, { name: 'executor bench' });
  const principal = principalOf(m);
  let pmId = '';
  for (let c = 0; c < 6; c++) {
    const customer = await createCustomer(app, principal, { name: `Customer ${c}`, email: `c${c}@example.com` });
    for (let p = 0; p < 3; p++) {
      const r = await tokenizeCard(app, principal, {
        customerId: customer.id,
        card: { number: withLuhn(`4000${c}${p}`.padEnd(15, '7')), expMonth: 5, expYear: EXP_YEAR, holderName: `H${c}${p}` },
      });
      pmId ||= (r as { paymentMethod: { id: string } }).paymentMethod.id;
    }
  }
  const yogas = {
    'graphql-js': createVaultYoga({ app, ready: async () => true, executor: 'graphql-js' }),
    jit: createVaultYoga({ app, ready: async () => true, executor: 'jit' }),
  };
  const scenarios = { masked: { query: MASKED, variables: { id: pmId } }, nested: { query: NESTED } };

  const once = async (yoga: (typeof yogas)['jit'], body: string) => {
    const res = await yoga.fetch('http://vault.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': m.secretKey },
      body,
    });
    const text = await res.text();
    if (res.status !== 200 || text.includes('"errors"')) throw new Error(`unexpected answer: ${text.slice(0, 300)}`);
  };
  /** Operations per second, and this process's CPU time per operation (µs): steadier on a shared machine. */
  const measure = async (yoga: (typeof yogas)['jit'], body: string, concurrency: number): Promise<[number, number]> => {
    const until = performance.now() + seconds * 1000;
    const cpu = process.cpuUsage();
    let done = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          await once(yoga, body);
          done++;
        }
      }),
    );
    const used = process.cpuUsage(cpu);
    return [done / seconds, (used.user + used.system) / done];
  };

  const results: Record<string, number[]> = {};
  const cpus: Record<string, number[]> = {};
  for (const [name, scenario] of Object.entries(scenarios)) {
    const body = JSON.stringify(scenario);
    for (const yoga of Object.values(yogas)) for (let i = 0; i < 200; i++) await once(yoga, body); // warm up
    for (const concurrency of concurrencies) {
      for (let round = 0; round < rounds; round++) {
        // Alternating which goes first.
        const order = round % 2 === 0 ? (['graphql-js', 'jit'] as const) : (['jit', 'graphql-js'] as const);
        for (const executor of order) {
          const key = `${name} c=${concurrency} ${executor}`;
          const [rate, cpu] = await measure(yogas[executor], body, concurrency);
          results[key] = [...(results[key] ?? []), rate];
          cpus[key] = [...(cpus[key] ?? []), cpu];
        }
      }
    }
  }
  for (const [name] of Object.entries(scenarios)) {
    for (const concurrency of concurrencies) {
      const key = `${name} c=${concurrency}`;
      const [js, jit] = [results[`${key} graphql-js`]!, results[`${key} jit`]!];
      const [jsCpu, jitCpu] = [cpus[`${key} graphql-js`]!, cpus[`${key} jit`]!];
      console.log(
        `${key.padEnd(12)} ops/s graphql-js ${js.map((r) => r.toFixed(0)).join('/')}  jit ${jit.map((r) => r.toFixed(0)).join('/')}` +
          `  (median jit/js ${(median(jit) / median(js)).toFixed(2)});  CPU µs/op graphql-js ${median(jsCpu).toFixed(0)}` +
          `  jit ${median(jitCpu).toFixed(0)}  (jit/js ${(median(jitCpu) / median(jsCpu)).toFixed(2)})`,
      );
    }
  }
  await app.stop();
} finally {
  await db.drop();
}
