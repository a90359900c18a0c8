import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DecryptionError, aadFor, envelopeKeyId, gcmDecrypt, gcmEncrypt, open, seal } from '../../src/crypto/aead.js';
import { generateDataKey, rewrapDataKey, unwrapDataKey, wrapDataKey } from '../../src/crypto/dataKeys.js';
import { fingerprint } from '../../src/crypto/fingerprint.js';
import { generateMasterKeyString, parseMasterKeys } from '../../src/crypto/masterKeys.js';
import { randomBytesPooled } from '../../src/crypto/random.js';
import { Secret } from '../../src/crypto/secret.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

interface Vector {
  name: string;
  key: string;
  iv: string;
  aad: string;
  pt: string;
  ct: string;
  tag: string;
}

// The AES-256 test cases with 96-bit IVs of McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)"
// (also NIST SP 800-38D's published examples).
const GCM_SPEC_KEY = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
const GCM_SPEC_PT =
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' + '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
const GCM_SPEC_CT =
  '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' + '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad';
const GCM_SPEC: Vector[] = [
  {
    name: 'GCM spec test case 13 (empty plaintext, no AAD)',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    aad: '',
    pt: '',
    ct: '',
    tag: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    name: 'GCM spec test case 14 (one zero block)',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    aad: '',
    pt: '00'.repeat(16),
    ct: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    name: 'GCM spec test case 15 (four blocks)',
    key: GCM_SPEC_KEY,
    iv: 'cafebabefacedbaddecaf888',
    aad: '',
    pt: GCM_SPEC_PT,
    ct: GCM_SPEC_CT,
    tag: 'b094dac5d93471bdec1a502270e3cc6c',
  },
  {
    name: 'GCM spec test case 16 (partial last block, 20-byte AAD)',
    key: GCM_SPEC_KEY,
    iv: 'cafebabefacedbaddecaf888',
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    pt: GCM_SPEC_PT.slice(0, 120),
    ct: GCM_SPEC_CT.slice(0, 120),
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

// Project Wycheproof, testvectors_v1/aes_gcm_test.json (C2SP/wycheproof at dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166),
// test group keySize 256, ivSize 96, tagSize 128. Only these vectors are copied, not the file.
const WYCHEPROOF_VALID: Vector[] = [
  {
    name: 'Wycheproof tcId 91 (Ktv)',
    key: '92ace3e348cd821092cd921aa3546374299ab46209691bc28b8752d17f123c20',
    iv: '00112233445566778899aabb',
    aad: '00000000ffffffff',
    pt: '00010203040506070809',
    ct: 'e27abdd2d2a53d2f136b',
    tag: '9a4a2579529301bcfb71c78d4060f52c',
  },
  {
    name: 'Wycheproof tcId 92 (Ktv, empty plaintext with AAD)',
    key: '29d3a44f8723dc640239100c365423a312934ac80239212ac3df3421a2098123',
    iv: '00112233445566778899aabb',
    aad: 'aabbccddeeff',
    pt: '',
    ct: '',
    tag: '2a7d77fa526b8250cb296078926b5020',
  },
  {
    name: 'Wycheproof tcId 94 (one-byte plaintext)',
    key: 'cc56b680552eb75008f5484b4cb803fa5063ebd6eab91f6ab6aef4916a766273',
    iv: '99e23ec48985bccdeeab60f1',
    aad: '',
    pt: '2a',
    ct: '06',
    tag: '633c1e9703ef744ffffb40edf9d14355',
  },
  {
    name: 'Wycheproof tcId 101 (20-byte plaintext, 8-byte AAD)',
    key: 'cdccfe3f46d782ef47df4e72f0c02d9c7f774def970d23486f11a57f54247f17',
    iv: '376187894605a8d45e30de51',
    aad: '956846a209e087ed',
    pt: 'e28e0e9f9d22463ac0e42639b530f42102fded75',
    ct: 'feca44952447015b5df1f456df8ca4bb4eee2ce2',
    tag: '082e91924deeb77880e1b1c84f9b8d30',
  },
  {
    name: 'Wycheproof tcId 128 (special case: tag all ones)',
    key: '00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f',
    iv: '000000000000000000000000',
    aad: '',
    pt: '561008fa07a68f5c61285cd013464eaf',
    ct: '23293e9b07ca7d1b0cae7cc489a973b3',
    tag: 'ffffffffffffffffffffffffffffffff',
  },
  {
    name: 'Wycheproof tcId 129 (special case: tag all zeros)',
    key: '00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f',
    iv: 'ffffffffffffffffffffffff',
    aad: '',
    pt: 'c6152244cea1978d3e0bc274cf8c0b3b',
    ct: '7cb6fc7c6abc009efe9551a99f36a421',
    tag: '00000000000000000000000000000000',
  },
];

// Same file and group, "result": "invalid" (ModifiedTag): the ciphertext is the genuine encryption of the
// message, the tag has been altered. All four share key, IV, message and ciphertext.
const MODIFIED_TAG = {
  key: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  iv: '505152535455565758595a5b',
  aad: '',
  pt: '202122232425262728292a2b2c2d2e2f',
  ct: 'b2061457c0759fc1749f174ee1ccadfa',
};
const WYCHEPROOF_INVALID: Vector[] = [
  { name: 'Wycheproof tcId 130 (flipped bit 0 in tag)', ...MODIFIED_TAG, tag: '9de8fef6d8ab1bf1bf887232eab590dd' },
  { name: 'Wycheproof tcId 148 (flipped bit 127 in tag)', ...MODIFIED_TAG, tag: '9ce8fef6d8ab1bf1bf887232eab5905d' },
  { name: 'Wycheproof tcId 152 (all bits of tag flipped)', ...MODIFIED_TAG, tag: '631701092754e40e40778dcd154a6f22' },
  { name: 'Wycheproof tcId 153 (tag changed to all zero)', ...MODIFIED_TAG, tag: '00000000000000000000000000000000' },
];

describe('gcmEncrypt / gcmDecrypt known answers', () => {
  it.each([...GCM_SPEC, ...WYCHEPROOF_VALID])('$name', (v) => {
    const { ciphertext, tag } = gcmEncrypt(hex(v.key), hex(v.iv), hex(v.pt), hex(v.aad));
    expect(ciphertext.toString('hex')).toBe(v.ct);
    expect(tag.toString('hex')).toBe(v.tag);
    expect(gcmDecrypt(hex(v.key), hex(v.iv), hex(v.ct), hex(v.tag), hex(v.aad)).toString('hex')).toBe(v.pt);
  });

  it.each(WYCHEPROOF_INVALID)('$name is rejected', (v) => {
    const { ciphertext, tag } = gcmEncrypt(hex(v.key), hex(v.iv), hex(v.pt), hex(v.aad));
    expect(ciphertext.toString('hex')).toBe(v.ct);
    expect(tag.toString('hex')).not.toBe(v.tag);
    expect(() => gcmDecrypt(hex(v.key), hex(v.iv), hex(v.ct), hex(v.tag), hex(v.aad))).toThrow(DecryptionError);
  });

  it('rejects keys and nonces of the wrong size, and truncated tags', () => {
    const v = WYCHEPROOF_VALID[0]!;
    expect(() => gcmEncrypt(Buffer.alloc(16), hex(v.iv), hex(v.pt), hex(v.aad))).toThrow(/key must be 32 bytes/);
    expect(() => gcmEncrypt(hex(v.key), Buffer.alloc(16), hex(v.pt), hex(v.aad))).toThrow(/nonce must be 12 bytes/);
    expect(() => gcmDecrypt(hex(v.key), Buffer.alloc(8), hex(v.ct), hex(v.tag), hex(v.aad))).toThrow(/nonce must be 12 bytes/);
    expect(() => gcmDecrypt(hex(v.key), hex(v.iv), hex(v.ct), hex(v.tag).subarray(0, 12), hex(v.aad))).toThrow(DecryptionError);
  });
});

describe('envelopes', () => {
  const key = Buffer.alloc(32, 7);
  const otherKey = Buffer.alloc(32, 8);
  const aad = aadFor('mer_1', 'PaymentMethod', 'cardNumber', 'pm_1');
  const plaintext = '4242424242424242';
  const byKeyId = (id: string) => (id === 'dk_1' ? key : otherKey);

  // Decodes the payload, XORs one byte at `index` (negative counts from the end), re-encodes.
  function flipByte(envelope: string, index: number): string {
    const [version, keyId, body] = envelope.split('.') as [string, string, string];
    const bytes = Buffer.from(body, 'base64url');
    const at = index < 0 ? bytes.length + index : index;
    bytes[at] = bytes[at]! ^ 0x01;
    return `${version}.${keyId}.${bytes.toString('base64url')}`;
  }

  it('round-trips and has the v1.<keyId>.<base64url> form', () => {
    const envelope = seal(key, 'dk_1', plaintext, aad);
    expect(envelope).toMatch(/^v1\.dk_1\.[A-Za-z0-9_-]+$/);
    expect(envelopeKeyId(envelope)).toBe('dk_1');
    expect(open(envelope, byKeyId, aad).toString('utf8')).toBe(plaintext);
    // nonce (12) + ciphertext + tag (16)
    expect(Buffer.from(envelope.split('.')[2]!, 'base64url')).toHaveLength(12 + plaintext.length + 16);
  });

  it('round-trips Buffers and empty plaintexts', () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    expect(open(seal(key, 'k', bytes, aad), () => key, aad).equals(bytes)).toBe(true);
    expect(open(seal(key, 'k', '', aad), () => key, aad)).toHaveLength(0);
  });

  it('fails under the wrong key', () => {
    const envelope = seal(key, 'dk_1', plaintext, aad);
    expect(() => open(envelope, () => otherKey, aad)).toThrow(DecryptionError);
  });

  it.each([
    ['nonce', 0],
    ['ciphertext', 12],
    ['tag', -1],
  ])('fails when one byte of the %s is flipped', (_part, index) => {
    const envelope = seal(key, 'dk_1', plaintext, aad);
    expect(() => open(flipByte(envelope, index), byKeyId, aad)).toThrow(DecryptionError);
  });

  it('uses a fresh nonce each time', () => {
    const a = seal(key, 'dk_1', plaintext, aad);
    const b = seal(key, 'dk_1', plaintext, aad);
    expect(a).not.toBe(b);
    expect(open(a, byKeyId, aad).toString()).toBe(open(b, byKeyId, aad).toString());
  });

  it.each([
    ['another row', aadFor('mer_1', 'PaymentMethod', 'cardNumber', 'pm_2')],
    ['another field', aadFor('mer_1', 'PaymentMethod', 'holderName', 'pm_1')],
    ['another model', aadFor('mer_1', 'Customer', 'cardNumber', 'pm_1')],
    ['another merchant', aadFor('mer_2', 'PaymentMethod', 'cardNumber', 'pm_1')],
  ])('fails when moved to %s', (_where, movedAad) => {
    const envelope = seal(key, 'dk_1', plaintext, aad);
    expect(() => open(envelope, byKeyId, movedAad)).toThrow(DecryptionError);
  });

  it('aadFor is unambiguous', () => {
    expect(aadFor('a', 'b', 'c', 'd')).not.toBe(aadFor('a', 'b', 'cd', ''));
    expect(aadFor('a","b', 'c', 'd', 'e')).not.toBe(aadFor('a', 'b', 'c', 'd","e'));
  });

  it('fails when the key id in the text is changed, even if the new id resolves to the same key', () => {
    const envelope = seal(key, 'dk_1', plaintext, aad);
    expect(() => open(envelope.replace('v1.dk_1.', 'v1.dk_2.'), () => key, aad)).toThrow(DecryptionError);
  });

  it('fails when the version is changed', () => {
    const envelope = seal(key, 'dk_1', plaintext, aad);
    expect(() => open(envelope.replace(/^v1\./, 'v2.'), () => key, aad)).toThrow(DecryptionError);
  });

  it('authenticates the version and key id as GCM AAD', () => {
    const envelope = seal(key, 'dk_1', plaintext, aad);
    const bytes = Buffer.from(envelope.split('.')[2]!, 'base64url');
    const nonce = bytes.subarray(0, 12);
    const ciphertext = bytes.subarray(12, -16);
    const tag = bytes.subarray(-16);
    expect(gcmDecrypt(key, nonce, ciphertext, tag, Buffer.from(`v1.dk_1.${aad}`)).toString()).toBe(plaintext);
    expect(() => gcmDecrypt(key, nonce, ciphertext, tag, Buffer.from(aad))).toThrow(DecryptionError);
  });

  it('rejects garbage with DecryptionError, before asking for a key', () => {
    const valid = seal(key, 'dk_1', plaintext, aad);
    const body = valid.split('.')[2]!;
    const garbage = [
      '',
      'v1',
      'v1.dk_1',
      `v1..${body}`,
      'v1.dk_1.',
      `v1.dk 1.${body}`,
      `v1.dk_1.${body}.x`,
      `v1.dk_1.${body}=`,
      `v1.dk_1.${body.replace(/.$/, '!')}`,
      'v1.dk_1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', // 27 bytes: shorter than nonce + tag
      `v1.dk_1.${Buffer.from(body, 'base64url').toString('base64')}`, // standard base64 alphabet / padding
      ` ${valid}`,
      `V1.dk_1.${body}`,
      '{"not":"an envelope"}',
    ];
    const resolveKey = (): Buffer => {
      throw new Error('resolveKey must not be called for a malformed envelope');
    };
    for (const envelope of garbage) {
      expect(() => open(envelope, resolveKey, aad), JSON.stringify(envelope)).toThrow(DecryptionError);
    }
    expect(() => envelopeKeyId('nonsense')).toThrow(DecryptionError);
  });

  it('rejects a non-canonical base64url payload', () => {
    // A 28-byte payload has 4 spare bits in its last character; setting them must not give a second envelope.
    const bytes = Buffer.alloc(28, 0);
    const canonical = bytes.toString('base64url');
    expect(() => open(`v1.k.${canonical.slice(0, -1)}B`, () => key, aad)).toThrow(/Malformed envelope/);
    expect(() => open(`v1.k.${canonical}`, () => key, aad)).toThrow(/Decryption failed/);
  });

  it('error messages carry no key material or plaintext', () => {
    const envelope = seal(key, 'dk_1', plaintext, aad);
    try {
      open(envelope, () => otherKey, aad);
      expect.unreachable();
    } catch (error) {
      const text = `${(error as Error).message} ${(error as Error).stack}`;
      for (const secret of [plaintext, otherKey.toString('hex'), otherKey.toString('base64'), key.toString('hex')]) {
        expect(text).not.toContain(secret);
      }
      expect(text).not.toContain(envelope.split('.')[2]!);
    }
  });

  it('refuses key ids outside [A-Za-z0-9_-]', () => {
    expect(() => seal(key, 'dk.1', plaintext, aad)).toThrow(/key id/);
    expect(() => seal(key, '', plaintext, aad)).toThrow(/key id/);
  });
});

describe('parseMasterKeys', () => {
  const k1 = Buffer.alloc(32, 1).toString('base64');
  const k2 = Buffer.alloc(32, 2).toString('base64');

  it('parses one key', () => {
    const ring = parseMasterKeys(`mk1:${k1}`);
    expect(ring.active.id).toBe('mk1');
    expect(ring.active.key.reveal().equals(Buffer.alloc(32, 1))).toBe(true);
    expect(ring.ids).toEqual(['mk1']);
    expect(ring.get('mk1')?.reveal().equals(Buffer.alloc(32, 1))).toBe(true);
    expect(ring.get('nope')).toBeUndefined();
  });

  it('makes the first of several keys active and keeps the others for unwrapping', () => {
    const ring = parseMasterKeys(` mk2:${k2} , mk1:${k1}`);
    expect(ring.active.id).toBe('mk2');
    expect(ring.ids).toEqual(['mk2', 'mk1']);
    expect(ring.get('mk1')?.reveal().equals(Buffer.alloc(32, 1))).toBe(true);
  });

  it('accepts standard and url-safe base64, padded or not', () => {
    const raw = Buffer.alloc(32, 0xfb); // encodes with '+' and '/' in standard base64
    const standard = raw.toString('base64');
    expect(standard).toMatch(/[+/]/);
    for (const text of [standard, standard.replace(/=+$/, ''), raw.toString('base64url'), `${raw.toString('base64url')}=`]) {
      expect(parseMasterKeys(`mk:${text}`).active.key.reveal().equals(raw)).toBe(true);
    }
  });

  it('does not show key material when logged', () => {
    const ring = parseMasterKeys(`mk1:${k1}`);
    expect(JSON.stringify(ring)).not.toContain(k1);
    expect(inspect(ring, { depth: 10 })).not.toContain(k1);
    expect(inspect(ring, { depth: 10 })).not.toContain('01 01 01');
  });

  it.each([
    ['empty', '', /empty/, undefined],
    ['blank', '   ', /empty/, undefined],
    ['an empty entry', `mk1:${k1},`, /entry 2 is empty/, k1],
    ['no colon', `${k1}`, /entry 1 has no ':'/, k1],
    ['a bad id', `mk 1:${k1}`, /entry 1 has an id/, k1],
    ['an id with a dot', `mk.1:${k1}`, /entry 1 has an id/, k1],
    ['an empty id', `:${k1}`, /entry 1 has an id/, k1],
    ['bad base64', `mk1:${k1.slice(0, 20)}!!${k1.slice(22)}`, /"mk1" is not valid base64/, k1.slice(0, 20)],
    ['a 16-byte key', `mk1:${Buffer.alloc(16, 9).toString('base64')}`, /16 bytes, not 32/, Buffer.alloc(16, 9).toString('base64')],
    ['a 33-byte key', `mk1:${Buffer.alloc(33, 9).toString('base64')}`, /33 bytes, not 32/, Buffer.alloc(33, 9).toString('base64')],
    ['a duplicate id', `mk1:${k1},mk1:${k2}`, /"mk1" appears more than once/, k2],
  ])('rejects %s, naming VAULT_MASTER_KEYS without echoing the key', (_kind, value, problem, keyText) => {
    let message = '';
    try {
      parseMasterKeys(value);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/VAULT_MASTER_KEYS/);
    expect(message).toMatch(problem);
    if (keyText) expect(message).not.toContain(keyText);
  });

  it('generateMasterKeyString gives a parseable id:base64 of 32 random bytes', () => {
    const a = generateMasterKeyString('dev');
    const b = generateMasterKeyString('dev');
    expect(a).not.toBe(b);
    const ring = parseMasterKeys(a);
    expect(ring.active.id).toBe('dev');
    expect(ring.active.key.reveal()).toHaveLength(32);
    expect(() => generateMasterKeyString('bad id')).toThrow();
  });
});

describe('data keys', () => {
  const m1 = `m1:${Buffer.alloc(32, 1).toString('base64')}`;
  const m2 = `m2:${Buffer.alloc(32, 2).toString('base64')}`;
  const ringV1 = parseMasterKeys(m1);
  const ringV2 = parseMasterKeys(`${m2},${m1}`); // after rotation: m2 active, m1 retired
  const params = { merchantId: 'mer_1', dataKeyId: 'dk_1', purpose: 'ENCRYPTION' } as const;

  it('generates 32 random bytes', () => {
    const a = generateDataKey();
    expect(a).toHaveLength(32);
    expect(a.equals(generateDataKey())).toBe(false);
  });

  it('wraps under the active master key and unwraps', () => {
    const raw = generateDataKey();
    const wrapped = wrapDataKey(ringV1, params, raw);
    expect(wrapped.masterKeyId).toBe('m1');
    expect(envelopeKeyId(wrapped.wrappedKey)).toBe('m1');
    expect(wrapped.wrappedKey).not.toContain(raw.toString('base64url'));
    expect(unwrapDataKey(ringV1, params, wrapped).equals(raw)).toBe(true);
  });

  it('unwraps under a retired master key after rotation, and rewraps onto the active one', () => {
    const raw = generateDataKey();
    const wrapped = wrapDataKey(ringV1, params, raw);
    expect(unwrapDataKey(ringV2, params, wrapped).equals(raw)).toBe(true);

    const rewrapped = rewrapDataKey(ringV2, params, wrapped);
    expect(rewrapped.masterKeyId).toBe('m2');
    expect(envelopeKeyId(rewrapped.wrappedKey)).toBe('m2');
    expect(unwrapDataKey(ringV2, params, rewrapped).equals(raw)).toBe(true);
    // The old ring does not know m2: the error names the missing master key.
    expect(() => unwrapDataKey(ringV1, params, rewrapped)).toThrow(/Master key "m2"/);
  });

  it.each([
    ['another merchant', { ...params, merchantId: 'mer_2' }],
    ['another data key id', { ...params, dataKeyId: 'dk_2' }],
    ['another purpose', { ...params, purpose: 'FINGERPRINT' as const }],
  ])('does not unwrap when moved to %s', (_where, moved) => {
    const wrapped = wrapDataKey(ringV1, params, generateDataKey());
    expect(() => unwrapDataKey(ringV1, moved, wrapped)).toThrow(DecryptionError);
  });

  it('does not unwrap when the stored master key id disagrees with the envelope', () => {
    const wrapped = wrapDataKey(ringV1, params, generateDataKey());
    expect(() => unwrapDataKey(ringV2, params, { ...wrapped, masterKeyId: 'm2' })).toThrow(DecryptionError);
  });

  it('refuses to wrap a key of the wrong size', () => {
    expect(() => wrapDataKey(ringV1, params, Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});

describe('fingerprint', () => {
  const keyA = Buffer.alloc(32, 0xa);
  const keyB = Buffer.alloc(32, 0xb);
  const card = new Secret('4242424242424242');

  it('is base64url of HMAC-SHA256 and deterministic for one key', () => {
    const f = fingerprint(keyA, card);
    expect(f).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fingerprint(keyA, card)).toBe(f);
  });

  it('differs across keys and across numbers', () => {
    expect(fingerprint(keyA, card)).not.toBe(fingerprint(keyB, card));
    expect(fingerprint(keyA, card)).not.toBe(fingerprint(keyA, new Secret('4000056655665556')));
  });

  it('is not an unkeyed hash of the number', () => {
    const f = fingerprint(keyA, card);
    for (const input of [card.reveal(), `card-number/v1:${card.reveal()}`]) {
      expect(f).not.toBe(createHash('sha256').update(input).digest('base64url'));
    }
  });

  it('takes digits only', () => {
    expect(() => fingerprint(keyA, new Secret('4242 4242 4242 4242'))).toThrow(/digits only/);
  });
});

describe('Secret', () => {
  const value = 'super-secret-4242424242424242';
  const secret = new Secret(value);

  it('reveals its value only through reveal()', () => {
    expect(secret.reveal()).toBe(value);
  });

  it('does not leak through JSON, strings or util.inspect', () => {
    expect(JSON.stringify({ secret })).toBe('{"secret":"[REDACTED]"}');
    expect(`${secret}`).toBe('[REDACTED]');
    expect(String(secret)).toBe('[REDACTED]');
    expect(inspect(secret)).toBe('[REDACTED]');
    expect(inspect({ nested: { secret } }, { depth: 10 })).not.toContain(value);
    expect(Object.keys(secret)).toEqual([]);
  });
});

describe('pooled random bytes (ids, nonces)', () => {
  it('never hands out the same bytes twice, and a refill never overwrites earlier draws', () => {
    const first = randomBytesPooled(12);
    const kept = Buffer.from(first);
    const seen = new Set<string>([kept.toString('hex')]);
    // 5,000 draws of 12 and 16 bytes: many refills of the 4 KiB pool.
    for (let i = 0; i < 5000; i++) {
      const hex = randomBytesPooled(i % 2 ? 12 : 16).toString('hex');
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
    }
    expect(first.equals(kept)).toBe(true);
    expect(randomBytesPooled(5000)).toHaveLength(5000);
  });
});
