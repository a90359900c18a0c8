// The hottest statements, run as prepared statements on the plain pool (`app.db.sql(text, params, name)`):
// each connection parses and plans them once. Kept here, away from the ORM, so the benchmark's ladder
// (bench/run.ts L2, bench/levels.ts L3) replays exactly what the product sends.

/** An api key by its hash: $1 key hash. */
export const AUTHENTICATE = {
  name: 'vault_authenticate',
  text: `SELECT merchant_id AS "merchantId", id, kind::text AS kind, mode::text AS mode, allow_reveal AS "allowReveal"
  FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL LIMIT 1`,
};

// The columns of a payment method as the PaymentMethod model names them (`t` is the table's alias).
const pmColumns = (
  t: string,
) => `${t}.merchant_id AS "merchantId", ${t}.id, ${t}.mode::text AS mode, ${t}.customer_id AS "customerId", ${t}.type::text AS type,
  ${t}.fingerprint, ${t}.card_number AS "cardNumber", ${t}.card_expiry AS "cardExpiry", ${t}.holder_name AS "holderName", ${t}.nick_name AS "nickName",
  ${t}.bin, ${t}.last4, ${t}.brand::text AS brand, ${t}.issuer, ${t}.issuing_country AS "issuingCountry", ${t}.card_type::text AS "cardType", ${t}.billing,
  ${t}.metadata, ${t}.retention_extension_months AS "retentionExtensionMonths", ${t}.retain_until AS "retainUntil", ${t}.last_used_at AS "lastUsedAt",
  ${t}.cit_completed_at AS "citCompletedAt", ${t}.created_at AS "createdAt", ${t}.updated_at AS "updatedAt"`;

/** The masked read: $1 merchant, $2 mode, $3 id. */
export const FIND_PAYMENT_METHOD = {
  name: 'vault_find_payment_method',
  text: `SELECT ${pmColumns('pm')} FROM payment_methods pm WHERE pm.merchant_id = $1 AND pm.mode = $2::"Mode" AND pm.id = $3`,
};

/**
 * A new card and its audit event in one statement: $1-$19 the payment method's columns (merchant, id, mode,
 * customer, fingerprint, the sealed number, expiry, holder and nick names, bin, last4, brand, issuer, issuing
 * country, card type, sealed billing, metadata, retain until, now), $20 the audit event id, $21 the key id,
 * $22 the request id. No row when the card is vaulted already (ON CONFLICT DO NOTHING, and no audit event).
 */
export const INSERT_NEW_CARD = {
  name: 'vault_insert_new_card',
  text: `WITH ins AS (
   INSERT INTO payment_methods (merchant_id, id, mode, customer_id, type, fingerprint, card_number, card_expiry, holder_name, nick_name,
     bin, last4, brand, issuer, issuing_country, card_type, billing, metadata, retain_until, created_at, updated_at)
   VALUES ($1, $2, $3::"Mode", $4, 'CARD', $5, $6, $7, $8, $9, $10, $11, $12::"CardBrand", $13, $14, $15::"CardType", $16, $17::jsonb, $18, $19, $19)
   ON CONFLICT DO NOTHING
   RETURNING *)
 SELECT ${pmColumns('ins')} FROM ins,
   LATERAL audit_append(ins.merchant_id, ins.mode, $20, 'payment_method.create', 'payment_method', ins.id, $21, $22, 'success', '{"duplicate": false}'::jsonb) AS audit`,
};

// The payment method already holding a card: $1 merchant, $2 mode, $3 fingerprint (and $4 customer). Two
// statements, for a customer and for none: `customer_id IS NOT DISTINCT FROM $n` cannot use the dedupe index,
// and as a prepared statement it scanned the whole table.
const findDuplicate = (customer: string) => `SELECT id, retention_extension_months AS "retentionExtensionMonths" FROM payment_methods
  WHERE merchant_id = $1 AND mode = $2::"Mode" AND fingerprint = $3 AND ${customer}`;

export const FIND_DUPLICATE = {
  name: 'vault_find_duplicate',
  text: findDuplicate('customer_id = $4'),
};

export const FIND_DUPLICATE_WITHOUT_CUSTOMER = {
  name: 'vault_find_duplicate_without_customer',
  text: findDuplicate('customer_id IS NULL'),
};

/**
 * A card tokenized again: its new expiry (and holder name, when given) on the existing payment method, and
 * the audit event, in one statement. $1 merchant, $2 mode, $3 id, $4 sealed expiry, $5 sealed holder name
 * (null keeps the stored one), $6 retain until, $7 now, $8 the retention extension $6 was computed with (no
 * row if it changed meanwhile), $9 audit event id, $10 key id, $11 request id.
 */
export const UPDATE_DUPLICATE = {
  name: 'vault_update_duplicate',
  text: `WITH upd AS (
   UPDATE payment_methods SET card_expiry = $4, holder_name = COALESCE($5, holder_name), retain_until = $6, updated_at = $7
   WHERE merchant_id = $1 AND mode = $2::"Mode" AND id = $3 AND retention_extension_months = $8
   RETURNING *)
 SELECT ${pmColumns('upd')} FROM upd,
   LATERAL audit_append(upd.merchant_id, upd.mode, $9, 'payment_method.update', 'payment_method', upd.id, $10, $11, 'success', '{"duplicate": true}'::jsonb) AS audit`,
};

/**
 * The enumeration check of a tokenization (src/domain/paymentMethods/enumeration.ts), in one statement: whether the number
 * is a duplicate (the dedupe index, as the save will find it), how many distinct numbers the key's (bin,
 * last4) group and duplicates group hold within the window, and, when allowed, the number recorded in them.
 * A number the key tokenized already within the window is always allowed (the same card again is normal).
 * $1 merchant, $2 mode, $3 fingerprint, $4/$5 the (bin, last4) group and member tags, $6/$7 the duplicates
 * group and member tags, $8 key id, $9 now, $10 expires at, $11 max numbers, $12 max duplicates (0: off),
 * ($13 customer). Concurrent requests may pass the threshold together by at most their number.
 */
const probeCard = (customer: string) => `WITH hit AS (
   SELECT $12::int > 0 AND EXISTS (SELECT 1 FROM payment_methods WHERE merchant_id = $1 AND mode = $2::"Mode" AND fingerprint = $3 AND ${customer}) AS dup),
 grp AS (
   SELECT (SELECT count(*) FROM (SELECT 1 FROM card_probes WHERE merchant_id = $1 AND group_tag = $4 AND expires_at > $9::timestamptz LIMIT $11) g)::int AS n,
     EXISTS (SELECT 1 FROM card_probes WHERE merchant_id = $1 AND group_tag = $4 AND member_tag = $5 AND expires_at > $9) AS known),
 dup AS (
   SELECT (SELECT count(*) FROM (SELECT 1 FROM card_probes WHERE merchant_id = $1 AND group_tag = $6 AND expires_at > $9 AND hit.dup LIMIT $12) d)::int AS n,
     hit.dup AND EXISTS (SELECT 1 FROM card_probes WHERE merchant_id = $1 AND group_tag = $6 AND member_tag = $7 AND expires_at > $9) AS known
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
  text: probeCard('customer_id = $13'),
};

export const PROBE_CARD_WITHOUT_CUSTOMER = {
  name: 'vault_probe_card_without_customer',
  text: probeCard('customer_id IS NULL'),
};
