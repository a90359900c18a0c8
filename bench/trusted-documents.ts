// A short in-process micro-measurement (no HTTP, no autocannon): the masked read sent to yoga.fetch as text
// and as a trusted document id (per-request validation skipped), in alternating rounds so that drift on a
// shared machine hits both alike. Needs DATABASE_URL (a scratch database: it migrates it and adds a merchant,
// a card and one trusted document) and VAULT_MASTER_KEYS.
//
//   DATABASE_URL=postgres://… VAULT_MASTER_KEYS=… npx tsx bench/trusted-documents.ts [requests] [concurrency] [rounds]

import { createApp } from '../src/app/app.js';
import { parseConfig } from '../src/app/config.js';
import { createLogger } from '../src/app/logger.js';
import { pushDocuments } from '../src/cli/commands/documents.js';
import { createMerchant } from '../src/domain/merchants/merchants.js';
import { documentIdOf } from '../src/domain/trustedDocuments/trustedDocuments.js';
import { createVaultYoga } from '../src/http/yoga.js';
import { median } from './stats.js';

const [requests = 4000, concurrency = 8, rounds = 4] = process.argv.slice(2).map(Number);
const READ = 'query ReadMasked($id: ID!) { paymentMethod(id: $id) { id card { bin last4 brand expMonth expYear } } }';
const READ_ID = documentIdOf(READ);

const app = await createApp(parseConfig(), createLogger('warn'), { migrate: true, apiKeyCache: true });
try {
  const merchant = await createMerchant(app, { name: 'trusted-documents bench' });
  const yoga = createVaultYoga({ app, ready: async () => true, trustedDocuments: 'allow' });
  const post = async (body: object) => {
    const res = await yoga.fetch('http://vault.local/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': merchant.secretKey },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
    if (json.errors) throw new Error(JSON.stringify(json.errors));
    return json.data;
  };
  const tokenized = (await post({
    query:
      'mutation { tokenizeCard(input: { card: { number: "4242424242424242", expMonth: 12, expYear: 35 } }) { ... on TokenizeCardSuccess { paymentMethod { id } } } }',
  })) as { tokenizeCard: { paymentMethod: { id: string } } };
  const id = tokenized.tokenizeCard.paymentMethod.id;
  const pushed = await pushDocuments(app, { [READ_ID]: READ });
  if (pushed.refused.length > 0) throw new Error(JSON.stringify(pushed.refused));

  const bodies = { text: { query: READ, variables: { id } }, id: { documentId: READ_ID, variables: { id } } };
  // Throughput, and this process's CPU time per request (less sensitive than wall time to other load on the machine).
  const run = async (body: object): Promise<{ ops: number; cpuUs: number }> => {
    let left = requests;
    const start = performance.now();
    const cpu = process.cpuUsage();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (left-- > 0) await post(body);
      }),
    );
    const used = process.cpuUsage(cpu);
    return { ops: (requests / (performance.now() - start)) * 1000, cpuUs: (used.user + used.system) / requests };
  };
  await run(bodies.text); // warm-up: JIT, caches, the pool
  await run(bodies.id);
  const results: Record<'text' | 'id', Array<{ ops: number; cpuUs: number }>> = { text: [], id: [] };
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? (['text', 'id'] as const) : (['id', 'text'] as const)) {
      results[mode].push(await run(bodies[mode]));
    }
  }
  for (const mode of ['text', 'id'] as const) {
    const ops = results[mode].map((r) => r.ops);
    const cpu = results[mode].map((r) => r.cpuUs);
    console.log(
      `${mode.padEnd(4)}  ops/s ${ops.map((x) => x.toFixed(0)).join(' ')} (median ${median(ops).toFixed(0)});` +
        `  CPU µs/request ${cpu.map((x) => x.toFixed(0)).join(' ')} (median ${median(cpu).toFixed(0)})`,
    );
  }
  const ratios = results.id.map((r, i) => r.ops / (results.text[i]?.ops ?? Number.NaN));
  console.log(`id/text ops per round: ${ratios.map((x) => x.toFixed(2)).join(' ')} (median ${median(ratios).toFixed(2)})`);
} finally {
  await app.stop();
}
