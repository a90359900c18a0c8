import type { App } from '../../app/app.js';
import { jsonOrNull, type Prisma as Client, type Tx } from '../../db/client.js';
import { encodeField, type Billing } from '../../db/encrypted-fields.js';
import { sealFields } from '../../db/encryption.js';
import {
  Prisma as P,
  type Mode,
  type NetworkTokenStatus,
  type PaymentMethod,
  type PaymentMethodType,
  type TokenizationType,
  type UpdaterStatus,
} from '../../generated/prisma/client.js';
import type { CardInput } from '../shared/inputSchemas.js';
import { newId } from '../shared/ids.js';
import { merchantMode, tenant, type Principal, type Tenant } from '../shared/principal.js';
import { actorOf, detailOf } from '../audit/audit.js';
import { bankAccountRetainUntil, retainUntil } from './retention.js';
import type { BankAccountInput } from './inputs.js';
import { eventPayload, outboxCtes, paymentMethodEventObject } from '../webhooks/events.js';

// The payment method store: every statement that touches `payment_methods` (and the tokenization's
// enumeration counters in `card_probes`) is here, once. The rules live in paymentMethods.ts and its
// siblings; they call these functions and never the ORM's `paymentMethod` delegate or SQL of their own.
//
// Two kinds of statement, chosen per operation (docs/adr/0013):
// - The hot ones (the masked read, a new card, a card vaulted again, the duplicate lookup, the enumeration
//   probe) are plain SQL, sent as named prepared statements on the pool, or through a transaction's
//   connection when the caller is inside one. Each has ONE text, used by every caller and replayed by the
//   benchmark's L2 and L3 (bench/). The masked read has a second, for the reads of one turn of the event
//   loop taken together (FIND_PAYMENT_METHODS, ADR 0032); the ladder replays the single one.
// - The others go through Prisma, whose encryption extension (src/db/encryption.ts) seals on write.
// Sealing has one home per kind: the hot writes take plaintext and seal it here (`sealFields`, the same
// function the extension calls) before their statement is sent, so no write can store a field in the clear.

/** Where a statement runs: the pool (prepared, one round trip) or an open transaction's connection. */
export interface Runner {
  sql<R>(text: string, params: unknown[], name?: string): Promise<R[]>;
}

/** The pool of `app` (named statements are prepared once per connection). */
export const onPool = (app: App): Runner => ({
  sql: <R>(text: string, params: unknown[], name?: string) => app.db.sql(text, params, name) as Promise<R[]>,
});

/**
 * A Prisma interactive transaction, so a hot statement joins the caller's transaction. Dates go as ISO
 * strings: Prisma's raw queries send a Date without its offset, which PostgreSQL reads in the session's time
 * zone (in Tokyo a card's retain_until was stored 9 hours early); node-pg on the pool sends the offset.
 */
export const inTransaction = (tx: Tx): Runner => ({
  sql: <R>(text: string, params: unknown[]) =>
    tx.$queryRawUnsafe<R[]>(text, ...params.map((p) => (p instanceof Date ? p.toISOString() : p))),
});

// ---------------------------------------------------------------------------------------------------------
// Columns, derived from the Prisma model: a column added to schema.prisma is read by the raw statements too
// (test/integration/store-columns.test.ts checks the derivation against the database).

/** The database column of a Prisma field: the schema maps every camelCase field to its snake_case column. */
export const columnOf = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Every scalar field of the PaymentMethod model, in the model's order. */
export const PAYMENT_METHOD_FIELDS = Object.values(P.PaymentMethodScalarFieldEnum);

/** The select list of a whole payment method, named as the model names its fields (`t`: the table's alias). */
export const paymentMethodColumns = (t: string) =>
  PAYMENT_METHOD_FIELDS.map((f) => {
    const column = columnOf(f);
    return column === f ? `${t}.${column}` : `${t}.${column} AS "${f}"`;
  }).join(', ');

// ---------------------------------------------------------------------------------------------------------
// The hot statements

/** The masked read: $1 merchant, $2 mode, $3 id, $4 the profile scope (null: every profile). */
export const FIND_PAYMENT_METHOD = {
  name: 'vault_find_payment_method',
  text: `SELECT ${paymentMethodColumns('pm')} FROM payment_methods pm
  WHERE pm.merchant_id = $1 AND pm.mode = $2::"Mode" AND pm.id = $3 AND ($4::text IS NULL OR pm.profile_id = $4)`,
};

/**
 * Masked reads made in one turn of the event loop, in one statement: $1 merchants, $2 modes, $3 ids, $4
 * profile scopes (null: every profile), one element per read. Each element is the masked read's own lookup,
 * run once per element (LATERAL): a plain join was planned, on small tables, as a hash or merge join over the
 * whole primary key index, and a pooled connection kept that plan as the table grew (test/integration/plans.test.ts).
 */
export const FIND_PAYMENT_METHODS = {
  name: 'vault_find_payment_methods',
  text: `SELECT pm.* FROM unnest($1::text[], $2::"Mode"[], $3::text[], $4::text[]) AS k(merchant_id, mode, id, profile_id)
  CROSS JOIN LATERAL (SELECT ${paymentMethodColumns('p')} FROM payment_methods p
   WHERE p.merchant_id = k.merchant_id AND p.mode = k.mode AND p.id = k.id AND (k.profile_id IS NULL OR p.profile_id = k.profile_id)
   LIMIT 1) pm`,
};

/**
 * A new card and its audit event in one statement: $1-$19 the payment method's columns (merchant, id, mode,
 * customer, fingerprint, the sealed number, expiry, holder and nick names, bin, last4, brand, issuer, issuing
 * country, card type, sealed billing, metadata, retain until, now), $20 the audit event id, $21 the key id,
 * $22 the request id, $23 the event's detail, $24 the profile, $25 the payment_method.created webhook payload
 * and $26 its event id (written only when an endpoint of the merchant subscribes: webhooks/events.ts
 * `outboxCtes`). No row when the card is vaulted already (ON CONFLICT DO NOTHING, and no audit or webhook event).
 */
export const INSERT_NEW_CARD = {
  name: 'vault_insert_new_card',
  text: `WITH ins AS (
   INSERT INTO payment_methods (merchant_id, id, mode, customer_id, type, fingerprint, card_number, card_expiry, holder_name, nick_name,
     bin, last4, brand, issuer, issuing_country, card_type, billing, metadata, retain_until, created_at, updated_at, profile_id)
   VALUES ($1, $2, $3::"Mode", $4, 'CARD', $5, $6, $7, $8, $9, $10, $11, $12::"CardBrand", $13, $14, $15::"CardType", $16, $17::jsonb, $18, $19, $19, $24)
   ON CONFLICT DO NOTHING
   RETURNING *),
 ${outboxCtes('ins', { merchant: '$1', mode: '$3', type: "'payment_method.created'", payload: '$25', id: '$26', at: '$19' })}
 SELECT ${paymentMethodColumns('ins')} FROM ins,
   LATERAL audit_append(ins.merchant_id, ins.mode, $20, 'payment_method.create', 'payment_method', ins.id, $21, $22, 'success', $23::jsonb) AS audit`,
};

// The payment method already holding a card in a profile: $1 merchant, $2 mode, $3 fingerprint, $4 profile
// (and $5 customer). Two statements, for a customer and for none: `customer_id IS NOT DISTINCT FROM $n` cannot
// use the dedupe index, and as a prepared statement it scanned the whole table.
const findDuplicate = (customer: string) => `SELECT id, retention_extension_months AS "retentionExtensionMonths" FROM payment_methods
  WHERE merchant_id = $1 AND mode = $2::"Mode" AND fingerprint = $3 AND profile_id = $4 AND ${customer}`;

export const FIND_DUPLICATE = {
  name: 'vault_find_duplicate',
  text: findDuplicate('customer_id = $5'),
};

export const FIND_DUPLICATE_WITHOUT_CUSTOMER = {
  name: 'vault_find_duplicate_without_customer',
  text: findDuplicate('customer_id IS NULL'),
};

/**
 * A card tokenized again: its new expiry (and holder name, when given) on the existing payment method, and
 * the audit event, in one statement. $1 merchant, $2 mode, $3 id, $4 sealed expiry, $5 sealed holder name
 * (null keeps the stored one), $6 retain until, $7 now, $8 the retention extension $6 was computed with (no
 * row if it changed meanwhile), $9 audit event id, $10 key id, $11 request id, $12 the event's detail, $13 the
 * payment_method.updated webhook payload (completed from the row) and $14 its event id.
 */
/**
 * The payment_method.updated payload of a duplicate: $13 as the caller built it from the card it was given, with
 * what only the stored row knows (customer, metadata, creation time, issuer details) merged in from `upd`.
 */
const DUPLICATE_PAYLOAD = `jsonb_set(
     jsonb_set($13::jsonb, '{data,object}', ($13::jsonb #> '{data,object}') || jsonb_build_object('customerId', upd.customer_id,
       'metadata', upd.metadata, 'createdAt', to_char(upd.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))),
     '{data,object,card}', ($13::jsonb #> '{data,object,card}') || jsonb_build_object('issuer', upd.issuer,
       'issuingCountry', upd.issuing_country, 'cardType', upd.card_type))`;

export const UPDATE_DUPLICATE = {
  name: 'vault_update_duplicate',
  text: `WITH upd AS (
   UPDATE payment_methods SET card_expiry = $4, holder_name = COALESCE($5, holder_name), retain_until = $6, updated_at = $7
   WHERE merchant_id = $1 AND mode = $2::"Mode" AND id = $3 AND retention_extension_months = $8
   RETURNING *),
 ${outboxCtes('upd', { merchant: '$1', mode: '$2', type: "'payment_method.updated'", payload: DUPLICATE_PAYLOAD, id: '$14', at: '$7' })}
 SELECT ${paymentMethodColumns('upd')} FROM upd,
   LATERAL audit_append(upd.merchant_id, upd.mode, $9, 'payment_method.update', 'payment_method', upd.id, $10, $11, 'success', $12::jsonb) AS audit`,
};

/** The payload of a bank account tokenized again ($12), completed from the stored row as DUPLICATE_PAYLOAD is. */
const BANK_DUPLICATE_PAYLOAD = `jsonb_set(
     jsonb_set($12::jsonb, '{data,object}', ($12::jsonb #> '{data,object}') || jsonb_build_object('customerId', upd.customer_id,
       'metadata', upd.metadata, 'createdAt', to_char(upd.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       'retainUntil', to_char(upd.retain_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))),
     '{data,object,bankAccount}', ($12::jsonb #> '{data,object,bankAccount}') || jsonb_build_object('bic', upd.bic,
       'accountType', upd.account_type))`;

/**
 * A new bank account and its audit event in one statement, as INSERT_NEW_CARD: $1 merchant, $2 id, $3 mode,
 * $4 customer, $5 fingerprint, $6 the sealed account number (or IBAN), $7 sealed holder name, $8 last4,
 * $9 scheme, $10 bank code, $11 country, $12 bic, $13 account type, $14 sealed billing, $15 metadata,
 * $16 retain until, $17 now, $18 the audit event id, $19 the key id, $20 the request id, $21 the event's detail,
 * $22 the profile, $23 the payment_method.created webhook payload and $24 its event id (as INSERT_NEW_CARD's).
 */
const INSERT_NEW_BANK_ACCOUNT = {
  name: 'vault_insert_new_bank_account',
  text: `WITH ins AS (
   INSERT INTO payment_methods (merchant_id, id, mode, customer_id, type, fingerprint, account_number, holder_name, last4,
     bank_scheme, bank_code, bank_country, bic, account_type, billing, metadata, retain_until, created_at, updated_at, profile_id)
   VALUES ($1, $2, $3::"Mode", $4, 'BANK_ACCOUNT', $5, $6, $7, $8, $9::"BankScheme", $10, $11, $12, $13::"BankAccountType", $14, $15::jsonb, $16, $17, $17, $22)
   ON CONFLICT DO NOTHING
   RETURNING *),
 ${outboxCtes('ins', { merchant: '$1', mode: '$3', type: "'payment_method.created'", payload: '$23', id: '$24', at: '$17' })}
 SELECT ${paymentMethodColumns('ins')} FROM ins,
   LATERAL audit_append(ins.merchant_id, ins.mode, $18, 'payment_method.create', 'payment_method', ins.id, $19, $20, 'success', $21::jsonb) AS audit`,
};

/**
 * A bank account tokenized again: its holder name (and account type and BIC, when given) on the existing
 * payment method, and the audit event. Its retention stays: it follows the account's payments, not its
 * tokenizations. $1 merchant, $2 mode, $3 id, $4 sealed holder name, $5 account type, $6 bic, $7 now,
 * $8 audit event id, $9 key id, $10 request id, $11 the event's detail, $12 the payment_method.updated webhook
 * payload (completed from the row, as DUPLICATE_PAYLOAD) and $13 its event id. No row when the payment method is
 * not a bank account (a fingerprint cannot match a card's, but the statement says so anyway).
 */
const UPDATE_DUPLICATE_BANK_ACCOUNT = {
  name: 'vault_update_duplicate_bank_account',
  text: `WITH upd AS (
   UPDATE payment_methods SET holder_name = $4, account_type = COALESCE($5::"BankAccountType", account_type), bic = COALESCE($6, bic),
     updated_at = $7
   WHERE merchant_id = $1 AND mode = $2::"Mode" AND id = $3 AND type = 'BANK_ACCOUNT'
   RETURNING *),
 ${outboxCtes('upd', { merchant: '$1', mode: '$2', type: "'payment_method.updated'", payload: BANK_DUPLICATE_PAYLOAD, id: '$13', at: '$7' })}
 SELECT ${paymentMethodColumns('upd')} FROM upd,
   LATERAL audit_append(upd.merchant_id, upd.mode, $8, 'payment_method.update', 'payment_method', upd.id, $9, $10, 'success', $11::jsonb) AS audit`,
};

/**
 * The enumeration check of a tokenization (enumeration.ts), in one statement: whether the number is a
 * duplicate (the dedupe index, as the save will find it), how many distinct numbers the key's (bin, last4)
 * group and duplicates group hold within the window, and, when allowed, the number recorded in them. A
 * number the key tokenized already within the window is always allowed (the same card again is normal).
 * $1 merchant, $2 mode, $3 fingerprint, $4/$5 the (bin, last4) group and member tags, $6/$7 the duplicates
 * group and member tags, $8 key id, $9 now, $10 expires at, $11 max numbers, $12 max duplicates (0: off),
 * $13 the profile (duplicates are per profile), ($14 customer). Concurrent requests may pass the threshold together by at most their number.
 * The window test is written `(expires_at > $9) IS TRUE` so that no index can take it: card_probes is read by
 * its primary key only. As a plain range it made the sweep's expires_at index a candidate, which a plan made
 * while the table was small preferred, and then read every live counter of every merchant
 * (test/integration/plans.test.ts, "plans made while the tables were small").
 */
const probeStatement = (customer: string) => `WITH hit AS (
   SELECT $12::int > 0 AND EXISTS (SELECT 1 FROM payment_methods WHERE merchant_id = $1 AND mode = $2::"Mode" AND fingerprint = $3 AND profile_id = $13 AND ${customer}) AS dup),
 grp AS (
   SELECT (SELECT count(*) FROM (SELECT 1 FROM card_probes WHERE merchant_id = $1 AND group_tag = $4 AND (expires_at > $9::timestamptz) IS TRUE LIMIT $11) g)::int AS n,
     EXISTS (SELECT 1 FROM card_probes WHERE merchant_id = $1 AND group_tag = $4 AND member_tag = $5 AND (expires_at > $9) IS TRUE) AS known),
 dup AS (
   SELECT (SELECT count(*) FROM (SELECT 1 FROM card_probes WHERE merchant_id = $1 AND group_tag = $6 AND (expires_at > $9) IS TRUE AND hit.dup LIMIT $12) d)::int AS n,
     hit.dup AND EXISTS (SELECT 1 FROM card_probes WHERE merchant_id = $1 AND group_tag = $6 AND member_tag = $7 AND (expires_at > $9) IS TRUE) AS known
   FROM hit),
 verdict AS (
   SELECT hit.dup, grp.known AS grp_known, dup.known AS dup_known,
     ($11::int = 0 OR grp.known OR grp.n < $11) AS numbers_ok,
     (NOT hit.dup OR dup.known OR dup.n < $12) AS duplicates_ok
   FROM hit, grp, dup),
 rec AS (
   INSERT INTO card_probes (merchant_id, group_tag, member_tag, key_id, expires_at)
   SELECT $1::text, $4::text, $5::text, $8::text, $10::timestamptz FROM verdict WHERE $11::int > 0 AND numbers_ok AND duplicates_ok AND NOT grp_known
   UNION ALL
   SELECT $1::text, $6::text, $7::text, $8::text, $10::timestamptz FROM verdict WHERE numbers_ok AND duplicates_ok AND dup AND NOT dup_known
   ON CONFLICT (merchant_id, group_tag, member_tag) DO UPDATE SET key_id = EXCLUDED.key_id, expires_at = EXCLUDED.expires_at
   RETURNING 1)
 SELECT numbers_ok AS "numbersOk", duplicates_ok AS "duplicatesOk", (SELECT count(*) FROM rec)::int AS recorded FROM verdict`;

export const PROBE_CARD = {
  name: 'vault_probe_card',
  text: probeStatement('customer_id = $14'),
};

export const PROBE_CARD_WITHOUT_CUSTOMER = {
  name: 'vault_probe_card_without_customer',
  text: probeStatement('customer_id IS NULL'),
};

// ---------------------------------------------------------------------------------------------------------
// Reads

/** A payment method of the tenant, whole (sealed fields sealed); null when there is none. */
export async function findPaymentMethodRow(runner: Runner, principal: Tenant, id: string): Promise<PaymentMethod | null> {
  const [row] = await runner.sql<PaymentMethod>(
    FIND_PAYMENT_METHOD.text,
    [principal.merchantId, principal.mode, id, principal.profileScope ?? null],
    FIND_PAYMENT_METHOD.name,
  );
  return row ?? null;
}

/**
 * A payment method of the tenant, whole (sealed fields sealed), or null, read on the pool together with the
 * other reads waiting at the same time: one statement and one round trip for all of them
 * (FIND_PAYMENT_METHODS), which spares the database and the driver a statement per read under concurrent
 * load. A read goes when the turn of the event loop that asked for it ends (setImmediate), with the reads of
 * that turn, unless VAULT_DB_READ_BATCHES of these statements (2) are already running: then it waits for the
 * first of them to finish and goes with every read that waited meanwhile (as group commit does), at most
 * READ_BATCH_SIZE per statement. Each read sees what was committed when its statement began, after it was
 * asked for, as its own statement would.
 */
export function findPaymentMethodBatched(app: App, principal: Tenant, id: string): Promise<PaymentMethod | null> {
  // PostgreSQL stores no NUL in text: no payment method has such an id, and sent along it would fail the
  // statement of the whole turn (the GraphQL and REST layers replace it; this is for every other caller).
  if (id.includes('\u0000')) return Promise.resolve(null);
  const q = queueOf(app);
  if (q.slots === 0) return findPaymentMethodRow(onPool(app), principal, id);
  return new Promise((resolve, reject) => {
    q.pending.push({ tenant: principal, id, resolve, reject });
    if (!q.scheduled && mayGo(q)) schedule(app, q);
  });
}

/** The most reads one statement carries. */
export const READ_BATCH_SIZE = 64;

/** How long a batched statement holds its slot at most; after that, later reads go beside it. */
export const READ_SLOT_RELEASE_MS = 1_000;

interface PendingRead {
  tenant: Tenant;
  id: string;
  resolve: (row: PaymentMethod | null) => void;
  reject: (err: unknown) => void;
}

interface ReadQueue {
  pending: PendingRead[];
  scheduled: boolean;
  inFlight: number;
  /**
   * How many batched statements may run at once (VAULT_DB_READ_BATCHES): two keep PostgreSQL busy while the
   * next batch gathers, and leave the rest of the pool to writes. Under light load every read goes at once
   * (nothing is in flight).
   */
  slots: number;
  /** Told how many reads each statement carries (observeReadBatches). */
  onBatch?: (reads: number) => void;
}

const readQueues = new WeakMap<App, ReadQueue>();

function queueOf(app: App): ReadQueue {
  let q = readQueues.get(app);
  if (!q) {
    // Below the pool's size, so that writes always find a connection the reads do not hold (at least one).
    const poolSize = app.db.pool.options.max ?? Number.POSITIVE_INFINITY;
    const slots = Math.min(app.config.VAULT_DB_READ_BATCHES, Math.max(1, poolSize - 1));
    q = { pending: [], scheduled: false, inFlight: 0, slots };
    readQueues.set(app, q);
  }
  return q;
}

/** Calls `onBatch` with the number of reads each statement of the app's batched reads carries (1: a read alone). */
export function observeReadBatches(app: App, onBatch: (reads: number) => void): void {
  queueOf(app).onBatch = onBatch;
}

function schedule(app: App, q: ReadQueue): void {
  q.scheduled = true;
  setImmediate(() => flushReads(app, q));
}

/**
 * Whether waiting reads may go now: a slot is free, or a whole statement's worth waits (then it goes beside
 * the others, so that reads never pile up behind slow statements: the pool's own wait limit applies to them
 * as it did to a statement per read, when the database is down).
 */
const mayGo = (q: ReadQueue): boolean => q.pending.length > 0 && (q.inFlight < q.slots || q.pending.length >= READ_BATCH_SIZE);

function flushReads(app: App, q: ReadQueue): void {
  q.scheduled = false;
  while (mayGo(q)) {
    const reads = q.pending.splice(0, READ_BATCH_SIZE);
    q.onBatch?.(reads.length);
    q.inFlight++;
    // The slot is given back when the statement settles, or after READ_SLOT_RELEASE_MS if it has not: a
    // statement stuck on a dead connection (no reset seen yet) must not hold up every later read.
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      q.inFlight--;
      if (!q.scheduled && mayGo(q)) schedule(app, q);
    };
    const timer = setTimeout(release, READ_SLOT_RELEASE_MS);
    timer.unref();
    readTogether(app, reads)
      .catch((err: unknown) => {
        for (const r of reads) r.reject(err);
      })
      .finally(() => {
        clearTimeout(timer);
        release();
      });
  }
}

/** Which row answers a read: the primary key and the mode (NUL never occurs in them: ids with one are not sent). */
const readKey = (t: Pick<Tenant, 'merchantId' | 'mode'>, id: string): string => `${t.merchantId}\u0000${t.mode}\u0000${id}`;

/** One statement for the reads; settles every one of them and never rejects. */
async function readTogether(app: App, reads: PendingRead[]): Promise<void> {
  if (reads.length === 1) {
    const [r] = reads as [PendingRead];
    await findPaymentMethodRow(onPool(app), r.tenant, r.id).then(r.resolve, r.reject);
    return;
  }
  let rows: PaymentMethod[];
  try {
    rows = await app.db.sql<PaymentMethod>(
      FIND_PAYMENT_METHODS.text,
      [
        reads.map((r) => r.tenant.merchantId),
        reads.map((r) => r.tenant.mode),
        reads.map((r) => r.id),
        reads.map((r) => r.tenant.profileScope ?? null),
      ],
      FIND_PAYMENT_METHODS.name,
    );
  } catch (err) {
    // A value the database refuses (a data exception, 22xxx, or a limit, 54xxx) fails its own read only: each
    // read again on its own. Anything else (the connection lost, a timeout) fails them all, as it would have.
    const code = (err as { code?: unknown })?.code;
    if (typeof code === 'string' && /^(22|54)/.test(code)) {
      // One after another, in this statement's slot: a refused value must not flood the pool.
      for (const r of reads) await readTogether(app, [r]);
    } else {
      for (const r of reads) r.reject(err);
    }
    return;
  }
  const byKey = new Map<string, PaymentMethod>();
  for (const row of rows) byKey.set(readKey(row, row.id), row);
  const given = new Set<PaymentMethod>();
  for (const r of reads) {
    const row = byKey.get(readKey(r.tenant, r.id));
    // The statement answered for every scope at once: a read scoped to a profile gets only that profile's.
    const scope = r.tenant.profileScope;
    if (!row || (scope !== undefined && row.profileId !== scope)) {
      r.resolve(null);
      continue;
    }
    // Each read its own object, as a statement of its own would give: requests do not share what they hold.
    r.resolve(given.has(row) ? { ...row } : row);
    given.add(row);
  }
}

export interface DuplicateRef {
  id: string;
  retentionExtensionMonths: number;
}

/** The payment method holding the card with this fingerprint for the customer (or for none), in the profile new records go in. */
export async function findDuplicateRow(
  runner: Runner,
  principal: Principal,
  customerId: string | null,
  fingerprint: string,
): Promise<DuplicateRef | null> {
  const find = customerId === null ? FIND_DUPLICATE_WITHOUT_CUSTOMER : FIND_DUPLICATE;
  const params = [principal.merchantId, principal.mode, fingerprint, principal.profileId, ...(customerId === null ? [] : [customerId])];
  const [row] = await runner.sql<DuplicateRef>(find.text, params, find.name);
  return row ?? null;
}

/** The probe statement's parameters after merchant, mode and fingerprint (see PROBE_CARD). */
export interface ProbeParams {
  byBin: { group: string; member: string };
  byHit: { group: string; member: string };
  keyId: string;
  now: Date;
  expiresAt: Date;
  maxNumbers: number;
  maxDuplicates: number;
}

export async function probeCard(
  app: App,
  principal: Principal,
  fingerprint: string,
  customerId: string | null,
  p: ProbeParams,
): Promise<{ numbersOk: boolean; duplicatesOk: boolean } | undefined> {
  const statement = customerId === null ? PROBE_CARD_WITHOUT_CUSTOMER : PROBE_CARD;
  const [verdict] = await app.db.sql<{ numbersOk: boolean; duplicatesOk: boolean }>(
    statement.text,
    [
      principal.merchantId,
      principal.mode,
      fingerprint,
      p.byBin.group,
      p.byBin.member,
      p.byHit.group,
      p.byHit.member,
      p.keyId,
      p.now,
      p.expiresAt,
      p.maxNumbers,
      p.maxDuplicates,
      principal.profileId,
      ...(customerId === null ? [] : [customerId]),
    ],
    statement.name,
  );
  return verdict;
}

/** Deletes enumeration counters past their window. */
export async function deleteExpiredProbes(app: App, now: Date): Promise<number> {
  return (await app.db.prisma.cardProbe.deleteMany({ where: { expiresAt: { lte: now } } })).count;
}

/** The sealed card fields a reveal or a payment opens. */
export async function findSealedCard(client: Tx | Client, principal: Tenant, id: string) {
  return client.paymentMethod.findFirst({
    where: { ...tenant(principal), id },
    select: { merchantId: true, id: true, type: true, cardNumber: true, cardExpiry: true, holderName: true },
  });
}

// ---------------------------------------------------------------------------------------------------------
// Writes of a card (tokenization)

/** Facts for the audit event of a save (which tokens came with it). */
export type SaveDetail = Record<string, string | number | boolean | null>;

/**
 * The card columns shared by payment methods and card tokens, the sealed ones as their plaintext (sealed on
 * write): the number is revealed here, for sealing only.
 */
export function cardColumns(card: Omit<CardInput, 'cvc'>) {
  return {
    cardNumber: encodeField('PaymentMethod', 'cardNumber', card.number),
    cardExpiry: encodeField('PaymentMethod', 'cardExpiry', { month: card.expMonth, year: card.expYear }),
    holderName: card.holderName ?? null,
    nickName: card.nickName ?? null,
    bin: card.bin,
    last4: card.last4,
    brand: card.brand,
    issuer: card.issuer ?? null,
    issuingCountry: card.issuingCountry ?? null,
    cardType: card.cardType ?? null,
  };
}

export interface NewCardRow {
  id: string;
  customerId: string | null;
  fingerprint: string;
  card: Omit<CardInput, 'cvc'>;
  billing?: Billing | null;
  metadata?: unknown;
}

/**
 * Saves a card, converging on the payment method that holds it already: a new one is inserted with its
 * audit event in one statement (ON CONFLICT DO NOTHING on the dedupe index); a card vaulted already, or
 * vaulted by a concurrent request a moment ago (the insert waits for that transaction and then yields), gets
 * its new expiry and holder name with its audit event in one statement, conditional on the retention
 * extension it was computed with. A row that moved in between (deleted, or its retention extended) is
 * tried again. On the pool each statement commits on its own; in a transaction they join it.
 */
export function saveCardRow(
  app: App,
  runner: Runner,
  principal: Principal,
  row: NewCardRow,
  detail: SaveDetail = {},
): Promise<{ paymentMethod: PaymentMethod; duplicate: boolean }> {
  return converge(runner, principal, row, {
    insert: () => insertNewCard(app, runner, principal, row, detail),
    update: (existing) => updateDuplicate(app, runner, principal, existing, row.card, row.fingerprint, detail),
  });
}

export interface NewBankAccountRow {
  id: string;
  customerId: string | null;
  fingerprint: string;
  account: BankAccountInput;
  billing?: Billing | null;
  metadata?: unknown;
}

/** Saves a bank account, converging on the payment method that holds it already, as saveCardRow does a card. */
export function saveBankAccountRow(
  app: App,
  runner: Runner,
  principal: Principal,
  row: NewBankAccountRow,
): Promise<{ paymentMethod: PaymentMethod; duplicate: boolean }> {
  return converge(runner, principal, row, {
    insert: () => insertNewBankAccount(app, runner, principal, row),
    update: (existing) => updateDuplicateBankAccount(app, runner, principal, existing, row.account, row.fingerprint),
  });
}

/**
 * The convergence of a save on the dedupe index, for every type of payment method: insert (ON CONFLICT DO
 * NOTHING), else find the payment method holding the fingerprint and update it; a row that moved in between
 * (deleted, or its retention extended) is tried again.
 */
async function converge(
  runner: Runner,
  principal: Principal,
  row: { customerId: string | null; fingerprint: string },
  save: { insert(): Promise<PaymentMethod | null>; update(existing: DuplicateRef): Promise<PaymentMethod | null> },
): Promise<{ paymentMethod: PaymentMethod; duplicate: boolean }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const created = await save.insert();
    if (created) return { paymentMethod: created, duplicate: false };
    const existing = await findDuplicateRow(runner, principal, row.customerId, row.fingerprint);
    if (!existing) continue; // deleted since the insert met it
    const updated = await save.update(existing);
    if (updated) return { paymentMethod: updated, duplicate: true };
  }
  throw new Error('save: the payment method holding the card or account kept changing');
}

/** A bank account's masked view for its webhook events (what the row will hold; a duplicate's SQL completes it). */
function bankAccountEventObject(
  id: string,
  row: { customerId: string | null; fingerprint: string; metadata?: unknown },
  account: BankAccountInput,
  retain: Date,
  now: Date,
): Record<string, unknown> {
  return paymentMethodEventObject(
    {
      id,
      type: 'BANK_ACCOUNT',
      customerId: row.customerId,
      fingerprint: row.fingerprint,
      metadata: row.metadata ?? null,
      last4: account.last4,
      expMonth: null,
      expYear: null,
      bankScheme: account.scheme,
      bankCode: account.bankCode,
      bankCountry: account.country,
      bic: account.bic ?? null,
      accountType: account.accountType ?? null,
      retainUntil: retain,
      createdAt: now,
      updatedAt: now,
    },
    now,
  );
}

async function insertNewBankAccount(app: App, runner: Runner, principal: Principal, row: NewBankAccountRow) {
  const { account } = row;
  const now = app.clock();
  const sealed = await sealFields(
    app.db.keyring,
    'PaymentMethod',
    {
      accountNumber: encodeField('PaymentMethod', 'accountNumber', account.number),
      holderName: account.holderName,
      billing: encodeField('PaymentMethod', 'billing', row.billing) ?? null,
    },
    { merchantId: principal.merchantId, id: row.id },
  );
  const actor = actorOf(principal);
  const [created] = await runner.sql<PaymentMethod>(
    INSERT_NEW_BANK_ACCOUNT.text,
    [
      principal.merchantId,
      row.id,
      principal.mode,
      row.customerId,
      row.fingerprint,
      sealed.accountNumber,
      sealed.holderName,
      account.last4,
      account.scheme,
      account.bankCode,
      account.country,
      account.bic,
      account.accountType,
      sealed.billing,
      row.metadata === undefined || row.metadata === null ? null : JSON.stringify(row.metadata),
      bankAccountRetainUntil(now),
      now,
      newId('aud'),
      actor.keyId,
      actor.requestId,
      JSON.stringify(detailOf(actor, { duplicate: false, type: 'BANK_ACCOUNT', scheme: account.scheme })),
      principal.profileId,
      eventPayload(
        'payment_method.created',
        bankAccountEventObject(row.id, row, account, bankAccountRetainUntil(now), now),
        undefined,
        now,
      ),
      newId('evt'),
    ],
    INSERT_NEW_BANK_ACCOUNT.name,
  );
  return created ?? null;
}

async function updateDuplicateBankAccount(
  app: App,
  runner: Runner,
  principal: Principal,
  existing: DuplicateRef,
  account: BankAccountInput,
  fingerprint: string,
) {
  const now = app.clock();
  const sealed = await sealFields(
    app.db.keyring,
    'PaymentMethod',
    { holderName: account.holderName },
    { merchantId: principal.merchantId, id: existing.id },
  );
  const actor = actorOf(principal);
  const [updated] = await runner.sql<PaymentMethod>(
    UPDATE_DUPLICATE_BANK_ACCOUNT.text,
    [
      principal.merchantId,
      principal.mode,
      existing.id,
      sealed.holderName,
      account.accountType,
      account.bic,
      now,
      newId('aud'),
      actor.keyId,
      actor.requestId,
      JSON.stringify(detailOf(actor, { duplicate: true, type: 'BANK_ACCOUNT', scheme: account.scheme })),
      eventPayload(
        'payment_method.updated',
        bankAccountEventObject(existing.id, { customerId: null, fingerprint, metadata: null }, account, now, now),
        'duplicate_tokenization',
        now,
      ),
      newId('evt'),
    ],
    UPDATE_DUPLICATE_BANK_ACCOUNT.name,
  );
  return updated ?? null;
}

async function insertNewCard(app: App, runner: Runner, principal: Principal, row: NewCardRow, detail: SaveDetail) {
  const { card } = row;
  const sealed = await sealFields(
    app.db.keyring,
    'PaymentMethod',
    { ...cardColumns(card), billing: encodeField('PaymentMethod', 'billing', row.billing) ?? null },
    { merchantId: principal.merchantId, id: row.id },
  );
  const actor = actorOf(principal);
  const now = app.clock();
  const retain = retainUntil(card.expMonth, card.expYear);
  const [created] = await runner.sql<PaymentMethod>(
    INSERT_NEW_CARD.text,
    [
      principal.merchantId,
      row.id,
      principal.mode,
      row.customerId,
      row.fingerprint,
      sealed.cardNumber,
      sealed.cardExpiry,
      sealed.holderName,
      sealed.nickName,
      card.bin,
      card.last4,
      card.brand,
      card.issuer ?? null,
      card.issuingCountry ?? null,
      card.cardType ?? null,
      sealed.billing,
      row.metadata === undefined || row.metadata === null ? null : JSON.stringify(row.metadata),
      retain,
      now,
      newId('aud'),
      actor.keyId,
      actor.requestId,
      JSON.stringify(detailOf(actor, { duplicate: false, ...detail })),
      principal.profileId,
      eventPayload(
        'payment_method.created',
        paymentMethodEventObject({ ...card, ...row, retainUntil: retain, createdAt: now, updatedAt: now }, now),
        undefined,
        now,
      ),
      newId('evt'),
    ],
    INSERT_NEW_CARD.name,
  );
  return created ?? null;
}

async function updateDuplicate(
  app: App,
  runner: Runner,
  principal: Principal,
  existing: DuplicateRef,
  card: Omit<CardInput, 'cvc'>,
  fingerprint: string,
  detail: SaveDetail,
) {
  const { cardExpiry, holderName } = cardColumns(card);
  const sealed = await sealFields(
    app.db.keyring,
    'PaymentMethod',
    { cardExpiry, holderName },
    { merchantId: principal.merchantId, id: existing.id },
  );
  const actor = actorOf(principal);
  const now = app.clock();
  const retain = retainUntil(card.expMonth, card.expYear, existing.retentionExtensionMonths);
  const [updated] = await runner.sql<PaymentMethod>(
    UPDATE_DUPLICATE.text,
    [
      principal.merchantId,
      principal.mode,
      existing.id,
      sealed.cardExpiry,
      sealed.holderName,
      retain,
      now,
      existing.retentionExtensionMonths,
      newId('aud'),
      actor.keyId,
      actor.requestId,
      JSON.stringify(detailOf(actor, { duplicate: true, ...detail })),
      eventPayload(
        'payment_method.updated',
        paymentMethodEventObject(
          { ...card, ...existing, customerId: null, fingerprint, retainUntil: retain, createdAt: now, updatedAt: now },
          now,
        ),
        'duplicate_tokenization',
        now,
      ),
      newId('evt'),
    ],
    UPDATE_DUPLICATE.name,
  );
  return updated ?? null;
}

// ---------------------------------------------------------------------------------------------------------
// Other writes (through Prisma: the extension seals)

const pmKey = (p: Tenant, id: string) => ({ merchantId_id: { merchantId: p.merchantId, id } });

export interface PaymentMethodChanges {
  holderName?: string | null;
  nickName?: string | null;
  billing?: Billing | null;
  metadata?: unknown;
  expiry?: { month: number; year: number; retainUntil: Date };
}

export function updatePaymentMethodRow(tx: Tx, principal: Tenant, id: string, changes: PaymentMethodChanges) {
  return tx.paymentMethod.update({
    where: pmKey(principal, id),
    data: {
      holderName: changes.holderName,
      nickName: changes.nickName,
      billing: encodeField('PaymentMethod', 'billing', changes.billing),
      metadata: jsonOrNull(changes.metadata),
      ...(changes.expiry && {
        cardExpiry: encodeField('PaymentMethod', 'cardExpiry', { month: changes.expiry.month, year: changes.expiry.year }),
        retainUntil: changes.expiry.retainUntil,
      }),
    },
  });
}

/** A customer's payment methods, newest first (at most `take`): the one-click list. */
export function listCustomerPaymentMethodRows(app: App, principal: Tenant, customerId: string, take: number) {
  return app.db.prisma.paymentMethod.findMany({
    where: { ...tenant(principal), customerId },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take,
  });
}

/** Whether a payment method of the tenant was deleted. */
/** Deletes a payment method in scope; its type (for the deletion's event), or null when there was none. */
export async function deletePaymentMethodRow(tx: Tx, principal: Tenant, id: string): Promise<PaymentMethodType | null> {
  const rows = await tx.$queryRaw<{ type: PaymentMethodType }[]>`
    DELETE FROM payment_methods
     WHERE merchant_id = ${principal.merchantId} AND mode = ${principal.mode}::"Mode" AND id = ${id}
       AND (${principal.profileScope ?? null}::text IS NULL OR profile_id = ${principal.profileScope ?? null})
    RETURNING type`;
  return rows[0]?.type ?? null;
}

/** Deletes every payment method of a customer (a merchant's customers span both modes' ids); how many went. */
export async function deleteCustomerPaymentMethods(tx: Tx, merchantId: string, customerId: string): Promise<number> {
  return (await tx.paymentMethod.deleteMany({ where: { merchantId, customerId } })).count;
}

/**
 * The retention of a payment method, its row locked until the transaction ends: what a change of retention
 * (an extension, a new expiry) computes from cannot change under it. A duplicate tokenization's update
 * (conditional on the extension it read) waits, then finds the extension changed and reads again.
 */
export async function lockRetention(
  tx: Tx,
  principal: Tenant,
  id: string,
): Promise<{ type: PaymentMethodType; retentionExtensionMonths: number; retainUntil: Date } | null> {
  const rows = await tx.$queryRaw<{ type: PaymentMethodType; retentionExtensionMonths: number; retainUntil: Date }[]>`
    SELECT type, retention_extension_months AS "retentionExtensionMonths", retain_until AS "retainUntil" FROM payment_methods
     WHERE merchant_id = ${principal.merchantId} AND mode = ${principal.mode}::"Mode" AND id = ${id}
       AND (${principal.profileScope ?? null}::text IS NULL OR profile_id = ${principal.profileScope ?? null}) FOR NO KEY UPDATE`;
  return rows[0] ?? null;
}

/** Sets a payment method's retention (the caller holds its row lock: lockRetention). */
export async function setRetention(tx: Tx, principal: Tenant, id: string, months: number, retainUntil: Date): Promise<void> {
  await tx.paymentMethod.updateMany({
    where: { ...tenant(principal), id },
    data: { retentionExtensionMonths: months, retainUntil },
  });
}

/** A payment used the payment method (and moved its retention, for a bank account: the caller holds its lock). */
export async function touchLastUsed(tx: Tx, principal: Tenant, id: string, now: Date, retainUntil?: Date): Promise<void> {
  await tx.paymentMethod.updateMany({ where: { ...tenant(principal), id }, data: { lastUsedAt: now, retainUntil } });
}

/** Merchant-initiated payments may use this payment method from now on. */
export async function markCustomerInitiated(client: Tx | Client, principal: Tenant, id: string, now: Date): Promise<void> {
  await client.paymentMethod.updateMany({ where: { ...tenant(principal), id, citCompletedAt: null }, data: { citCompletedAt: now } });
}

/** Locks the payment method's row for the rest of the transaction (its tokens change together). */
export async function lockPaymentMethod(tx: Tx, principal: Tenant, id: string): Promise<void> {
  await tx.$queryRaw`SELECT 1 AS locked FROM payment_methods WHERE merchant_id = ${principal.merchantId} AND id = ${id} FOR NO KEY UPDATE`;
}

/**
 * One batch of payment methods past their retention, deleted (locked rows are skipped); oldest merchants
 * first. The instant goes as an ISO string: a Date through Prisma's raw queries is read in the session's time
 * zone (in New York the purge took cards 5 hours early).
 */
export function deleteExpiredBatch(tx: Tx, now: Date, batchSize: number) {
  return tx.$queryRaw<{ merchantId: string; id: string; mode: Mode; type: PaymentMethodType }[]>`
    DELETE FROM payment_methods WHERE (merchant_id, id) IN (
      SELECT merchant_id, id FROM payment_methods WHERE retain_until <= ${now.toISOString()}::timestamptz
      ORDER BY merchant_id LIMIT ${batchSize} FOR UPDATE SKIP LOCKED)
    RETURNING merchant_id AS "merchantId", id, mode, type`;
}

/** A page of a merchant's test-mode payment methods after `after` (by id), sealed, for re-fingerprinting. */
export function testCardsAfter(tx: Tx, merchantId: string, after: string, take: number) {
  return tx.paymentMethod.findMany({
    where: { merchantId, mode: 'TEST', id: { gt: after } },
    select: { merchantId: true, id: true, type: true, cardNumber: true, accountNumber: true, bankScheme: true, bankCode: true },
    orderBy: { id: 'asc' },
    take,
  });
}

/** New fingerprints for test-mode cards, in one statement. */
export async function setTestFingerprints(tx: Tx, merchantId: string, ids: string[], fingerprints: string[]): Promise<void> {
  await tx.$executeRaw`
    UPDATE payment_methods p SET fingerprint = v.fp
      FROM unnest(${ids}::text[], ${fingerprints}::text[]) AS v(id, fp)
     WHERE p.merchant_id = ${merchantId} AND p.mode = 'TEST' AND p.id = v.id`;
}

// ---------------------------------------------------------------------------------------------------------
// PSP tokens of a payment method (through Prisma: the extension seals the token)

export interface PspTokenRow {
  connectorId: string;
  token: string;
  tokenizationType: TokenizationType;
  requestReferenceId?: string | null;
}

/** Retires the connector's active tokens and adds a new active one (the caller holds the payment method's lock). */
export async function replaceActivePspToken(tx: Tx, principal: Tenant, paymentMethodId: string, token: PspTokenRow) {
  await tx.pspToken.updateMany({
    where: { ...merchantMode(principal), paymentMethodId, connectorId: token.connectorId, status: 'ACTIVE' },
    data: { status: 'INACTIVE' },
  });
  return tx.pspToken.create({
    data: {
      ...merchantMode(principal),
      id: newId('pspt'),
      paymentMethodId,
      connectorId: token.connectorId,
      token: token.token,
      tokenizationType: token.tokenizationType,
      connectorTokenRequestReferenceId: token.requestReferenceId ?? null,
    },
  });
}

/** The payment method's PSP tokens, newest first (at most `take`); the caller found the payment method in its tenant. */
export function listPspTokenRows(app: App, principal: Tenant, paymentMethodId: string, take: number) {
  return app.db.prisma.pspToken.findMany({
    // Merchant and mode, as every statement on the token table (its rows carry no more of the tenant).
    where: { merchantId: principal.merchantId, mode: principal.mode, paymentMethodId },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take,
  });
}

/** The newest active token of a connector on the payment method (of one tokenization type, if given). */
export function findActivePspToken(
  app: App,
  principal: Tenant,
  paymentMethodId: string,
  connectorId: string,
  tokenizationType?: TokenizationType,
) {
  return app.db.prisma.pspToken.findFirst({
    where: { ...merchantMode(principal), paymentMethodId, connectorId, status: 'ACTIVE', ...(tokenizationType && { tokenizationType }) },
    orderBy: { createdAt: 'desc' },
  });
}

/** Marks an active token used (and spent, if single-use); false when another payment claimed it first. */
export async function markPspTokenUsed(app: App, principal: Tenant, id: string, spend: boolean, now: Date): Promise<boolean> {
  const { count } = await app.db.prisma.pspToken.updateMany({
    where: { ...merchantMode(principal), id, status: 'ACTIVE' },
    data: spend ? { status: 'INACTIVE', usedAt: now } : { usedAt: now },
  });
  return count === 1;
}

// ---------------------------------------------------------------------------------------------------------
// The network token of a payment method, and the lifecycle events applied to it

/** The payment method's network token row, if any (any status). */
export function findNetworkTokenRow(client: Tx | Client, principal: Tenant, paymentMethodId: string) {
  return client.networkToken.findFirst({ where: { ...merchantMode(principal), paymentMethodId } });
}

/** A network token's sealed fields and state as a write takes them (plaintext: the extension seals). */
export interface NetworkTokenFields {
  tspId: string;
  tokenReferenceId: string;
  number: string;
  expiry: string;
  last4: string;
  status: NetworkTokenStatus;
  lastEventAt: Date;
}

export function updateNetworkTokenRow(client: Tx | Client, merchantId: string, id: string, data: Partial<NetworkTokenFields>) {
  return client.networkToken.update({ where: { merchantId_id: { merchantId, id } }, data });
}

/** A new network token on the payment method; null when it got one meanwhile (the unique index). */
export async function insertNetworkToken(client: Tx | Client, principal: Tenant, paymentMethodId: string, fields: NetworkTokenFields) {
  const [created] = await client.networkToken.createManyAndReturn({
    data: [{ ...merchantMode(principal), id: newId('ntk'), paymentMethodId, ...fields }],
    skipDuplicates: true,
  });
  return created ?? null;
}

/** Every token a TSP's reference names (one per merchant that vaulted the card with it). */
export function networkTokensByReference(app: App, tspId: string, tokenReferenceId: string) {
  return app.db.prisma.networkToken.findMany({ where: { tspId, tokenReferenceId } });
}

/** Records that an event was applied to a token; false when it was already (insert-or-ignore on the key). */
export async function recordAppliedEvent(
  tx: Tx,
  row: { merchantId: string; networkTokenId: string; tspId: string; eventId: string; expiresAt: Date },
): Promise<boolean> {
  const { count } = await tx.networkTokenEvent.createMany({ data: [row], skipDuplicates: true });
  return count === 1;
}

/** Forgets applied event ids that expired before `now`. */
export async function deleteAppliedEventsBefore(app: App, now: Date): Promise<number> {
  return (await app.db.prisma.networkTokenEvent.deleteMany({ where: { expiresAt: { lt: now } } })).count;
}

// ---------------------------------------------------------------------------------------------------------
// Webhooks: cards about to expire (webhooks/expiring.ts)

/**
 * Cards whose expiry month ends within 30 days, of merchants subscribed to payment_method.expiring, not
 * notified yet for this expiry. The expiry is sealed, but the retention rule gives its month's end in the
 * clear: retain_until is the 1st of (expiry month + 14 months) plus any extension, so the month ends
 * 13 months (plus the extension) before it. The range on retain_until (extensions are at most 24 months)
 * keeps the scan on its index. $1 now, $2 batch size.
 */
const EXPIRING_CARDS = `SELECT pm.merchant_id AS "merchantId", pm.id, pm.mode, d.expiry_end AS "expiryEnd"
  FROM payment_methods pm,
    LATERAL (SELECT (pm.retain_until AT TIME ZONE 'UTC' - make_interval(months => 13 + pm.retention_extension_months)) AT TIME ZONE 'UTC' AS expiry_end) d
  WHERE pm.type = 'CARD' -- a bank account has no expiry (its retention follows its payments)
    AND pm.retain_until > $1::timestamptz + interval '13 months'
    AND pm.retain_until <= $1::timestamptz + interval '30 days' + interval '37 months'
    AND d.expiry_end > $1::timestamptz AND d.expiry_end <= $1::timestamptz + interval '30 days'
    AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.merchant_id = pm.merchant_id AND e.mode = pm.mode
                AND e.events && ARRAY['payment_method.expiring', '*'])
    AND NOT EXISTS (SELECT 1 FROM webhook_expiring_notices n
                    WHERE n.merchant_id = pm.merchant_id AND n.payment_method_id = pm.id AND n.expiry_end = d.expiry_end)
  LIMIT $2`;

export async function expiringCards(app: App, now: Date, batchSize: number) {
  return (await app.db.sql(EXPIRING_CARDS, [now, batchSize])) as { merchantId: string; id: string; mode: Mode; expiryEnd: Date }[];
}

// The account updater (accountUpdater.ts)

/** A page of cards the updater has not asked about, in the given modes (and merchant), by merchant then id. */
export function updaterPendingPage(
  client: Client,
  modes: Mode[],
  merchantId: string | undefined,
  after: { merchantId: string; id: string } | null,
  take: number,
) {
  return client.paymentMethod.findMany({
    where: {
      mode: { in: modes },
      updaterCheckedAt: null,
      // The card networks' updater knows cards only.
      type: 'CARD',
      ...(merchantId !== undefined && { merchantId }),
      ...(after && { OR: [{ merchantId: { gt: after.merchantId } }, { merchantId: after.merchantId, id: { gt: after.id } }] }),
    },
    orderBy: [{ merchantId: 'asc' }, { id: 'asc' }],
    take,
    select: { merchantId: true, id: true, mode: true, profileId: true, cardNumber: true, cardExpiry: true, holderName: true, brand: true },
  });
}

/** Locks a card the updater has not asked about yet (null: asked meanwhile, or gone). */
export async function lockUnchecked(
  tx: Tx,
  principal: Tenant,
  id: string,
): Promise<{ customerId: string | null; retentionExtensionMonths: number } | null> {
  const rows = await tx.$queryRaw<{ customerId: string | null; retentionExtensionMonths: number }[]>`
    SELECT customer_id AS "customerId", retention_extension_months AS "retentionExtensionMonths" FROM payment_methods
     WHERE merchant_id = ${principal.merchantId} AND mode = ${principal.mode}::"Mode" AND id = ${id}
       AND updater_checked_at IS NULL FOR NO KEY UPDATE`;
  return rows[0] ?? null;
}

export interface UpdaterChanges {
  checkedAt: Date;
  status?: UpdaterStatus;
  expiry?: { month: number; year: number; retainUntil: Date };
  /** A new number: its columns (sealed on write) and fingerprint. */
  card?: Omit<CardInput, 'cvc'>;
  fingerprint?: string;
}

/** Records the updater's answer on a payment method (the caller holds its row lock). */
export function applyUpdaterChanges(tx: Tx, principal: Tenant, id: string, changes: UpdaterChanges) {
  const card = changes.card && cardColumns(changes.card);
  return tx.paymentMethod.update({
    where: pmKey(principal, id),
    data: {
      updaterCheckedAt: changes.checkedAt,
      ...(changes.status && { updaterStatus: changes.status }),
      ...(changes.expiry && {
        cardExpiry: encodeField('PaymentMethod', 'cardExpiry', { month: changes.expiry.month, year: changes.expiry.year }),
        retainUntil: changes.expiry.retainUntil,
      }),
      ...(card && { cardNumber: card.cardNumber, bin: card.bin, last4: card.last4, brand: card.brand }),
      ...(changes.fingerprint && { fingerprint: changes.fingerprint }),
    },
  });
}

// ---------------------------------------------------------------------------------------------------------
// Imports (importCards.ts: the per-file record, counts only) and exports (exportCards.ts)

/** The last data row of this file whose batch committed (0: none), creating the record on first sight. */
export async function startImportRecord(app: App, t: Tenant, fileHash: string): Promise<{ rowsDone: number; finished: boolean }> {
  const row = await app.db.prisma.cardImport.upsert({
    where: { merchantId_mode_fileHash: { merchantId: t.merchantId, mode: t.mode, fileHash } },
    create: { merchantId: t.merchantId, mode: t.mode, fileHash },
    update: {},
  });
  return { rowsDone: row.rowsDone, finished: row.finishedAt !== null };
}

export async function recordImportProgress(app: App, t: Tenant, fileHash: string, rowsDone: number, finished = false): Promise<void> {
  await app.db.prisma.cardImport.update({
    where: { merchantId_mode_fileHash: { merchantId: t.merchantId, mode: t.mode, fileHash } },
    data: { rowsDone, ...(finished && { finishedAt: app.clock() }) },
  });
}

/** One page of the tenant's payment methods after `afterId`, by id, with the sealed card and the customer's reference. */
export function exportPage(app: App, t: Tenant, afterId: string | null, take: number) {
  return app.db.prisma.paymentMethod.findMany({
    // Cards only: the export's columns are a card's (bank accounts are not exported yet).
    where: { merchantId: t.merchantId, mode: t.mode, type: 'CARD', ...(afterId !== null && { id: { gt: afterId } }) },
    orderBy: { id: 'asc' },
    take,
    select: {
      merchantId: true,
      id: true,
      cardNumber: true,
      cardExpiry: true,
      holderName: true,
      customer: { select: { merchantReferenceId: true } },
    },
  });
}
