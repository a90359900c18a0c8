import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/app/logger.js';
import { printedSchema } from '../../src/schema/print.js';

describe('schema file', () => {
  it('schema.graphql is the schema printed from the code (run `npm run codegen` when this fails)', () => {
    expect(readFileSync('schema.graphql', 'utf8')).toBe(printedSchema());
  });
});

describe('logging', () => {
  it('redacts card numbers, CVCs and keys wherever they appear in a log line', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const log = createLogger('info', sink);
    log.info({ input: { card: { number: '4111111111111111', cvc: '123', expMonth: 1 } } }, 'tokenize');
    log.info({ headers: { 'api-key': 'sk_test_secret' } }, 'card 4111 1111 1111 1111 in a message');
    log.error({ err: new Error('bad card 4111-1111-1111-1111') }, 'failed');
    log.info({ note: 'nested', deep: [{ pan: '5555555555554444' }, 'text 378282246310005 text'], amount: 4111111111111111 });
    const out = lines.join('');
    expect(out).not.toMatch(/4111[ -]?1111[ -]?1111[ -]?1111|5555555555554444|378282246310005|sk_test_secret|"123"/);
    expect(out).toContain('[REDACTED]');
    expect(out).toContain('****1111');
    expect(out).toContain('"expMonth":1');
  });
});
