import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isEnumType, isObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { entriesAllowing, forwardHosts, origins } from '../../src/domain/merchants/allowLists.js';
import { ERROR_CODES, NotFound, TooManyAttempts, ValidationFailed, VaultError } from '../../src/domain/shared/errors.js';
import { schema } from '../../src/schema/index.js';

// One vocabulary: the error codes come from one table in src/domain/shared/errors.ts, and the two allow-lists from one module.

describe('error vocabulary', () => {
  it('the GraphQL ErrorCode enum is the table of src/domain/shared/errors.ts', () => {
    const errorCode = schema.getType('ErrorCode');
    if (!isEnumType(errorCode)) throw new Error('ErrorCode is not an enum');
    expect(
      errorCode
        .getValues()
        .map((v) => v.name)
        .sort(),
    ).toEqual([...ERROR_CODES].sort());
  });

  it('every type implementing Error has its own class, named after it in logs', () => {
    const implementing = Object.values(schema.getTypeMap()).filter(
      (t) => isObjectType(t) && t.getInterfaces().some((i) => i.name === 'Error'),
    );
    expect(implementing.length).toBe(10);
    for (const e of [
      new NotFound('customer', 'cus_1'),
      new TooManyAttempts('DUPLICATES'),
      ValidationFailed.single(['x'], 'INVALID_CVC', 'no'),
    ]) {
      expect(e).toBeInstanceOf(VaultError);
      expect(e.name).toBe(e.constructor.name);
    }
    expect(ValidationFailed.single(['x'], 'INVALID_CVC', 'no').code).toBe('INVALID_CVC');
    expect(new ValidationFailed([]).code).toBe('INVALID_INPUT');
  });

  it('NOT_FOUND repeats an id only when it is shaped like one, masked if it holds a card number', () => {
    expect(new NotFound('customer', 'cus_3tlGF6pVqAOZF63sZJVGfw').message).toBe('No customer with id "cus_3tlGF6pVqAOZF63sZJVGfw"');
    expect(new NotFound('customer', 'cus_<script>alert(1)</script>').message).toBe('No customer with the id given');
    expect(new NotFound('customer', `cus_${'x'.repeat(100)}`).message).toBe('No customer with the id given');
    expect(new NotFound('payment method', 'pm_4111111111111111').message).not.toContain('4111111111111111');
  });

  it('no extensions.code is written as a literal outside the request error helper', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== 'generated') walk(path);
        } else if (path.endsWith('.ts') && /extensions:\s*\{\s*code:\s*['"`]/.test(readFileSync(path, 'utf8'))) {
          offenders.push(path);
        }
      }
    };
    walk('src');
    expect(offenders).toEqual([]);
  });
});

describe('allow-lists', () => {
  it('normalize each kind of entry and refuse anything else on the entry field', () => {
    expect(origins.normalize(' HTTPS://Shop.Example:443/ ')).toBe('https://shop.example');
    expect(forwardHosts.normalize('API.PSP.example:08443')).toBe('api.psp.example:8443');
    expect(forwardHosts.normalize('[::1]:443')).toBe('[::1]:443');
    for (const [list, bad, message] of [
      [origins, 'https://shop.example/checkout', /^Origin must be/],
      [forwardHosts, 'https://pay.example/charges', /^Host must be/],
      [forwardHosts, 'pay.example:0', /^Host must be/],
    ] as const) {
      let refused: unknown;
      try {
        list.normalize(bad);
      } catch (err) {
        refused = err;
      }
      expect(refused).toBeInstanceOf(ValidationFailed);
      expect((refused as ValidationFailed).fields).toEqual([
        { path: [list.noun], code: 'INVALID_INPUT', message: expect.stringMatching(message) },
      ]);
    }
  });

  it('a bare forwarding host allows the scheme default port only', () => {
    expect(entriesAllowing(new URL('https://pay.example/x'))).toEqual(['pay.example', 'pay.example:443']);
    expect(entriesAllowing(new URL('http://pay.example:8080/x'))).toEqual(['pay.example:8080']);
  });
});
