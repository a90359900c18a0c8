// The import at scale (kept out of `npm test`): `npx tsx bench/import-scale.ts [rows] [--encrypted]` writes a
// CSV of `rows` cards (default 100,000), optionally OpenPGP-encrypts it (binary), imports it into a new
// merchant of a throwaway database, and prints cards/s and the peak RSS sampled during the import.
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import * as openpgp from 'openpgp';
import { migrate } from '../src/db/migrate.js';
import { createMerchant } from '../src/domain/merchants/merchants.js';
import { importCards } from '../src/domain/paymentMethods/importCards.js';
import { encryptTo } from '../src/crypto/openpgp.js';
import { createTestApp, createTestDatabase } from '../test/helpers/db.js';
import { randomCardNumber } from '../test/helpers/cards.js';

const rows = Number(process.argv[2] ?? 100_000);
const encrypted = process.argv.includes('--encrypted');
const withCustomers = !process.argv.includes('--no-customers');

const dir = mkdtempSync(path.join(tmpdir(), 'vault-import-scale-'));
const csv = path.join(dir, 'cards.csv');
const out = createWriteStream(csv);
out.write('card_number,exp_month,exp_year,holder_name,customer_reference,metadata\n');
const year = new Date().getUTCFullYear() + 3;
for (let i = 0; i < rows; i++) {
  const line = `${randomCardNumber(['4', '51', '52', '53'][i % 4]!)},${(i % 12) + 1},${year},Holder ${i},${withCustomers ? `cust-${i % 20_000}` : ''},"{""n"":${i}}"\n`;
  if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
}
await new Promise<void>((r) => out.end(() => r()));

let file = csv;
let decryptKey: string | undefined;
if (encrypted) {
  const { publicKey, privateKey } = await openpgp.generateKey({ userIDs: [{ name: 'bench' }], format: 'armored' });
  decryptKey = path.join(dir, 'private.asc');
  writeFileSync(decryptKey, privateKey);
  file = path.join(dir, 'cards.csv.gpg');
  const lines = async function* () {
    for await (const l of createInterface({ input: createReadStream(csv) })) yield `${l}\n`;
  };
  await encryptTo(await openpgp.readKey({ armoredKey: publicKey }), lines(), createWriteStream(file), false);
  rmSync(csv);
}

const database = await createTestDatabase();
await migrate(database.url);
const app = await createTestApp(database.url, {}, { DATABASE_POOL_SIZE: '16' });
try {
  const { merchantId } = await createMerchant(app, { name: 'scale' });
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  const started = Date.now();
  let last = 0;
  const r = await importCards(app, {
    merchantId,
    mode: 'TEST',
    file,
    decryptKey,
    onProgress: (n) => {
      if (n - last >= 10_000) {
        last = n;
        process.stderr.write(`${n} rows, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB\n`);
      }
    },
  });
  clearInterval(sampler);
  const seconds = (Date.now() - started) / 1000;
  console.log(
    JSON.stringify({
      rows,
      encrypted,
      created: r.created,
      failed: r.failed,
      duplicates: r.duplicates,
      seconds,
      cardsPerSecond: Math.round(rows / seconds),
      peakRssMiB: Math.round(peak / 2 ** 20),
    }),
  );
} finally {
  await app.stop();
  await database.drop();
  rmSync(dir, { recursive: true, force: true });
}
