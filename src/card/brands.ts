import creditCardType from 'credit-card-type';

// Card brands: IIN ranges, lengths and security-code sizes come from braintree's credit-card-type (the
// maintained table, updated with the package); this module only maps its networks onto the contract's
// CardBrand enum and indexes its ranges for speed. Luhn stays ours (src/card/number.ts).
//
// Ranges overlap (Elo inside Visa's 4 and Discover's 65, Hipercard inside Maestro's 6, UnionPay's
// 622126-622925 among Maestro's 6...): the longest matching prefix wins, as in credit-card-type itself; at
// equal prefix length the package's own test order decides (it lists Verve before Maestro).

export type CardBrand =
  | 'VISA'
  | 'MASTERCARD'
  | 'AMEX'
  | 'DISCOVER'
  | 'DINERS_CLUB'
  | 'JCB'
  | 'UNIONPAY'
  | 'MAESTRO'
  | 'MIR'
  | 'ELO'
  | 'HIPERCARD'
  | 'UNKNOWN';

export const MIN_CARD_LENGTH = 12;
export const MAX_CARD_LENGTH = 19;

/**
 * credit-card-type's networks that the contract's enum names. Hiper is Itaú's sibling of Hipercard (its
 * 637xxx ranges were HIPERCARD in our own table before). Troy, Naranja and Verve have no enum member: they
 * are UNKNOWN to the API, but still card ranges for the PAN detector.
 */
const ENUM_BRAND: Readonly<Record<string, CardBrand>> = {
  visa: 'VISA',
  mastercard: 'MASTERCARD',
  'american-express': 'AMEX',
  discover: 'DISCOVER',
  'diners-club': 'DINERS_CLUB',
  jcb: 'JCB',
  unionpay: 'UNIONPAY',
  maestro: 'MAESTRO',
  mir: 'MIR',
  elo: 'ELO',
  hiper: 'HIPERCARD',
  hipercard: 'HIPERCARD',
};

interface Network {
  brand: CardBrand;
  lengths: readonly number[];
  /** Bit n set when n digits is one of the network's lengths. */
  lengthMask: number;
  cvcSize: number;
}

interface IinRange {
  network: number;
  prefixLength: number;
  min: number;
  max: number;
}

// Read once, in the package's test order (creditCardType.types lists its networks in that order); never
// modified (addCard/updateCard would change the package's shared state).
const NETWORKS: readonly Network[] = Object.values(creditCardType.types).map((type) => {
  const info = creditCardType.getTypeInfo(type);
  return {
    brand: ENUM_BRAND[type] ?? 'UNKNOWN',
    lengths: [...info.lengths].sort((a, b) => a - b),
    lengthMask: info.lengths.reduce((mask, n) => mask | (1 << n), 0),
    cvcSize: info.code.size,
  };
});

const RANGES: readonly IinRange[] = Object.values(creditCardType.types).flatMap((type, network) =>
  creditCardType.getTypeInfo(type).patterns.map((pattern) => {
    const [first, last] = Array.isArray(pattern) ? pattern.map(String) : [String(pattern), String(pattern)];
    if (!first || !last || first.length !== last.length || !/^\d+$/.test(first + last)) {
      throw new Error(`credit-card-type: unexpected ${type} pattern ${JSON.stringify(pattern)}`);
    }
    return { network, prefixLength: first.length, min: Number(first), max: Number(last) };
  }),
);

const TABLE_DIGITS = 6;
/** Set in a table cell when some range longer than six digits starts with that cell's six digits. */
const HAS_LONGER = 0x80;

/** Ranges longer than the table's six digits (Troy's and Hiper's 8-digit ones), longest first. */
const LONG_RANGES = RANGES.filter((r) => r.prefixLength > TABLE_DIGITS).sort(
  (a, b) => b.prefixLength - a.prefixLength || a.network - b.network,
);

/**
 * The network of every 6-digit IIN (index + 1 into NETWORKS, 0 for none; HAS_LONGER marks the IINs to look
 * up further in LONG_RANGES). Filled shortest prefixes first, and at equal length the package's later
 * networks first, so the longest prefix and then the package's order win. Built once at module load (1 MB,
 * a few milliseconds): every tokenization and every Luhn-valid window the PAN detector sees ask it.
 */
const BY_SIX = (() => {
  if (NETWORKS.length >= HAS_LONGER) throw new Error('credit-card-type: too many networks for the IIN table');
  const table = new Uint8Array(10 ** TABLE_DIGITS);
  const short = RANGES.filter((r) => r.prefixLength <= TABLE_DIGITS).sort(
    (a, b) => a.prefixLength - b.prefixLength || b.network - a.network,
  );
  for (const range of short) {
    const scale = 10 ** (TABLE_DIGITS - range.prefixLength);
    table.fill(range.network + 1, range.min * scale, (range.max + 1) * scale);
  }
  for (const range of LONG_RANGES) {
    const scale = 10 ** (range.prefixLength - TABLE_DIGITS);
    for (let six = Math.floor(range.min / scale); six <= Math.floor(range.max / scale); six++) table[six]! |= HAS_LONGER;
  }
  return table;
})();

const SIX_DIGITS = /^\d{6}/;

/** Index into NETWORKS of the most specific range the number falls in, or -1. */
function networkOf(digits: string): number {
  if (SIX_DIGITS.test(digits)) {
    const cell = BY_SIX[Number(digits.slice(0, TABLE_DIGITS))]!;
    if (cell & HAS_LONGER) {
      for (const range of LONG_RANGES) {
        if (digits.length < range.prefixLength) continue;
        const prefix = Number(digits.slice(0, range.prefixLength));
        if (prefix >= range.min && prefix <= range.max) return range.network;
      }
    }
    return (cell & ~HAS_LONGER) - 1;
  }
  // Fewer than six digits (or not digits): the ranges that short numbers can fall in, longest first.
  if (!/^\d+$/.test(digits)) return -1;
  let best: IinRange | undefined;
  for (const range of RANGES) {
    if (digits.length < range.prefixLength) continue;
    if (best && (best.prefixLength > range.prefixLength || (best.prefixLength === range.prefixLength && best.network < range.network)))
      continue;
    const prefix = Number(digits.slice(0, range.prefixLength));
    if (prefix >= range.min && prefix <= range.max) best = range;
  }
  return best?.network ?? -1;
}

export function detectBrand(digits: string): CardBrand {
  return NETWORKS[networkOf(digits)]?.brand ?? 'UNKNOWN';
}

/**
 * Whether the number could be an issued card: in some network's range (Troy, Naranja and Verve included,
 * though the API calls them UNKNOWN) with one of that network's lengths. For the PAN detector's card-range
 * mode, which asks it for every Luhn-valid window.
 */
export function inCardRange(digits: string): boolean {
  const network = NETWORKS[networkOf(digits)];
  return network !== undefined && ((network.lengthMask >>> digits.length) & 1) === 1;
}

const ANY_LENGTH: readonly number[] = Array.from({ length: MAX_CARD_LENGTH - MIN_CARD_LENGTH + 1 }, (_, i) => MIN_CARD_LENGTH + i);

/** Per enum brand: the lengths of its networks (UNKNOWN: any card length) and its CVC sizes. */
function byBrand(of: (network: Network) => readonly number[], unknown: readonly number[]): ReadonlyMap<CardBrand, readonly number[]> {
  const map = new Map<CardBrand, readonly number[]>([['UNKNOWN', unknown]]);
  for (const network of NETWORKS) {
    if (network.brand === 'UNKNOWN') continue;
    map.set(
      network.brand,
      [...new Set([...(map.get(network.brand) ?? []), ...of(network)])].sort((a, b) => a - b),
    );
  }
  return map;
}

const LENGTHS = byBrand((n) => n.lengths, ANY_LENGTH);
/** UNKNOWN cards keep the 3-digit CVC they have always had to give. */
const CVC_SIZES = byBrand((n) => [n.cvcSize], [3]);

/** The lengths a card number of this brand can have; a known brand not in the package (none today): any. */
export function brandLengths(brand: CardBrand): readonly number[] {
  return LENGTHS.get(brand) ?? ANY_LENGTH;
}

/** Card security code lengths (Amex prints a 4-digit CID, the others a 3-digit code). */
export function cvcLengths(brand: CardBrand): readonly number[] {
  return CVC_SIZES.get(brand) ?? [3];
}

/**
 * UnionPay issues numbers that fail Luhn, and the vault accepts them (card.ts): so the PAN detector must find
 * them too. For a 6-digit IIN (as a number), the bit mask of the UnionPay lengths a number starting with it
 * may have, or 0 when the IIN is not UnionPay's.
 */
export function luhnExemptLengths(iin: number): number {
  const cell = BY_SIX[iin];
  if (cell === undefined || cell & HAS_LONGER) return 0;
  const network = NETWORKS[(cell & ~HAS_LONGER) - 1];
  return network?.brand === 'UNIONPAY' ? network.lengthMask : 0;
}
