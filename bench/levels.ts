// The ladder's own servers, each run as a child process by bench/run.ts (`node --import tsx bench/levels.ts
// <level>`), printing `LISTENING <port>` once ready:
//
//   L0  a bare node:http handler answering fixed JSON: the ceiling of HTTP on this machine;
//   L1  graphql-yoga (the product's server) with a two-type schema answering a masked read from memory, no
//       database, no plugins: the ceiling of the GraphQL stack the product is built on;
//   L3  node:http + pg doing what one tokenize (or masked read) must do and nothing else: the api key lookup
//       (once per key, then from a Map, as the product's cache does), card checks, the same fingerprint and
//       AES-256-GCM envelopes, and the same prepared statements as the product (the stores' statements, imported:
//       the new card and its audit event in one statement; the masked read's lookup). The practical limit
//       a vault with these guarantees can reach here.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';
import { aadFor, open, seal } from '../src/crypto/aead.js';
import { unwrapDataKey } from '../src/crypto/dataKeys.js';
import { fingerprint, probeTags } from '../src/crypto/fingerprint.js';
import { parseMasterKeys } from '../src/crypto/masterKeys.js';
import { Secret } from '../src/crypto/secret.js';
import { AUTHENTICATE } from '../src/domain/merchants/store.js';
import { FIND_PAYMENT_METHOD, INSERT_NEW_CARD, PROBE_CARD_WITHOUT_CUSTOMER } from '../src/domain/paymentMethods/store.js';
import { retainUntil } from '../src/domain/paymentMethods/retention.js';
import { newId } from '../src/domain/shared/ids.js';
import { bin, checkCardNumber, last4 } from '../src/card/number.js';

const level = process.argv[2];

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): void {
  const server = createServer(handler);
  server.keepAliveTimeout = 5_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

async function body(req: IncomingMessage): Promise<string> {
  let data = '';
  for await (const chunk of req) data += chunk;
  return data;
}

function send(res: ServerResponse, status: number, json: unknown): void {
  const text = JSON.stringify(json);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

if (level === 'L0') {
  const answer = JSON.stringify({ data: { ok: true } });
  listen((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
      res.end(answer);
    });
  });
} else if (level === 'L1') {
  const { createSchema, createYoga } = await import('graphql-yoga');
  const card = { bin: '424242', last4: '4242', brand: 'VISA', expMonth: 12, expYear: 2031 };
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: `enum CardBrand { VISA MASTERCARD }
        type CardView { bin: String! last4: String! brand: CardBrand! expMonth: Int! expYear: Int! }
        type PaymentMethod { id: ID! card: CardView }
        type Query { paymentMethod(id: ID!): PaymentMethod }`,
      resolvers: { Query: { paymentMethod: (_root: unknown, { id }: { id: string }) => ({ id, card }) } },
    }),
    logging: false,
    landingPage: false,
    graphiql: false,
  });
  listen((req, res) => void yoga(req, res));
} else if (level === 'L3') {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_SIZE ?? 10) });
  const master = parseMasterKeys(process.env.VAULT_MASTER_KEYS!);
  type Keys = { encId: string; enc: Buffer; fp: Buffer; byId: Map<string, Buffer> };
  const keys = new Map<string, Promise<Keys>>();

  const merchantKeys = (merchantId: string) => {
    let entry = keys.get(merchantId);
    if (!entry) {
      entry = pool
        .query('SELECT id, purpose, mode, master_key_id, wrapped_key, active FROM data_keys WHERE merchant_id = $1 ORDER BY created_at', [
          merchantId,
        ])
        .then(({ rows }) => {
          const byId = new Map<string, Buffer>();
          let encId = '';
          let fp: Buffer = Buffer.alloc(0);
          for (const r of rows) {
            const key = unwrapDataKey(
              master,
              { merchantId, dataKeyId: r.id, purpose: r.purpose },
              { masterKeyId: r.master_key_id, wrappedKey: r.wrapped_key },
            );
            if (r.purpose === 'ENCRYPTION') byId.set(r.id, key);
            if (r.active && r.purpose === 'ENCRYPTION') encId = r.id;
            // The bench's keys are test-mode keys.
            if (r.active && r.purpose === 'FINGERPRINT' && r.mode === 'TEST') fp = key;
          }
          return { encId, enc: byId.get(encId)!, fp, byId };
        });
      keys.set(merchantId, entry);
    }
    return entry;
  };

  type KeyRow = { merchantId: string; id: string; mode: string; profileId: string | null; defaultProfileId: string };
  const principals = new Map<string, KeyRow>();
  const authenticate = async (req: IncomingMessage) => {
    const hash = createHash('sha256')
      .update(String(req.headers['api-key'] ?? ''))
      .digest('hex');
    const known = principals.get(hash);
    if (known) return known;
    const { rows } = await pool.query<KeyRow>({ name: AUTHENTICATE.name, text: AUTHENTICATE.text, values: [hash] });
    if (rows[0]) principals.set(hash, rows[0]);
    return rows[0];
  };

  const tokenize = async (req: IncomingMessage, res: ServerResponse) => {
    const principal = await authenticate(req);
    if (!principal) return send(res, 401, { errors: [{ message: 'unauthenticated' }] });
    const input = JSON.parse(await body(req)).variables.input;
    const checked = checkCardNumber(input.card.number);
    if (!checked.ok) return send(res, 200, { data: { tokenizeCard: { __typename: 'ValidationError' } } });
    const m = principal.merchantId;
    const k = await merchantKeys(m);
    const id = newId('pm');
    const sealed = (field: string, value: string) => seal(k.enc, k.encId, value, aadFor(m, 'PaymentMethod', field, id));
    // As the product's input schema does: the number travels as a Secret.
    const number = new Secret(checked.digits);
    const fp = fingerprint(k.fp, number);
    // The product's enumeration check (src/domain/paymentMethods/enumeration.ts) with its default thresholds.
    const byBin = probeTags(k.fp, ['bin-last4', principal.id, bin(checked.digits), last4(checked.digits)], number);
    const byHit = probeTags(k.fp, ['duplicates', principal.id], number);
    const now = new Date();
    await pool.query({
      name: PROBE_CARD_WITHOUT_CUSTOMER.name,
      text: PROBE_CARD_WITHOUT_CUSTOMER.text,
      values: [
        m,
        principal.mode,
        fp,
        byBin.group,
        byBin.member,
        byHit.group,
        byHit.member,
        principal.id,
        now,
        new Date(now.getTime() + 86_400_000),
        20,
        10_000,
        principal.profileId ?? principal.defaultProfileId,
      ],
    });
    const { rows } = await pool.query({
      name: INSERT_NEW_CARD.name,
      text: INSERT_NEW_CARD.text,
      values: [
        m,
        id,
        principal.mode,
        null,
        fp,
        sealed('cardNumber', checked.digits),
        sealed('cardExpiry', JSON.stringify({ month: input.card.expMonth, year: input.card.expYear })),
        input.card.holderName ? sealed('holderName', input.card.holderName) : null,
        null,
        bin(checked.digits),
        last4(checked.digits),
        checked.brand,
        null,
        null,
        null,
        null,
        null,
        retainUntil(input.card.expMonth, input.card.expYear),
        new Date(),
        newId('aud'),
        principal.id,
        'bench',
        '{"duplicate": false}',
        principal.profileId ?? principal.defaultProfileId,
        '{}',
        newId('evt'),
      ],
    });
    send(res, 200, { data: { tokenizeCard: { __typename: 'TokenizeCardSuccess', duplicate: rows.length === 0, paymentMethod: { id } } } });
  };

  const read = async (req: IncomingMessage, res: ServerResponse) => {
    const principal = await authenticate(req);
    if (!principal) return send(res, 401, { errors: [{ message: 'unauthenticated' }] });
    const { id } = JSON.parse(await body(req)).variables;
    const { rows } = await pool.query({
      name: FIND_PAYMENT_METHOD.name,
      text: FIND_PAYMENT_METHOD.text,
      values: [principal.merchantId, principal.mode, id, principal.profileId],
    });
    const row = rows[0];
    if (!row) return send(res, 200, { data: { paymentMethod: null } });
    const k = await merchantKeys(row.merchantId);
    const opened = (field: string, envelope: string) =>
      open(envelope, (kid) => k.byId.get(kid)!, aadFor(row.merchantId, 'PaymentMethod', field, row.id)).toString('utf8');
    const expiry = JSON.parse(opened('cardExpiry', row.cardExpiry));
    send(res, 200, {
      data: {
        paymentMethod: {
          id: row.id,
          card: { bin: row.bin, last4: row.last4, brand: row.brand, expMonth: expiry.month, expYear: expiry.year },
        },
      },
    });
  };

  listen((req, res) => {
    const route = req.url === '/tokenize' ? tokenize : req.url === '/read' ? read : undefined;
    if (!route) return send(res, 404, {});
    route(req, res).catch((err: Error) => send(res, 500, { errors: [{ message: err.message }] }));
  });
} else {
  console.error('usage: bench/levels.ts L0|L1|L3');
  process.exit(2);
}
