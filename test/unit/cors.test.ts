import { describe, expect, it } from 'vitest';
import { normalizeOrigin } from '../../src/domain/origins.js';

describe('CORS per merchant', () => {
  it('normalizes origins and refuses anything that is not scheme://host[:port]', () => {
    expect(normalizeOrigin('HTTPS://Shop.Example:443/')).toBe('https://shop.example');
    expect(normalizeOrigin('http://localhost:3000')).toBe('http://localhost:3000');
    for (const bad of ['shop.example', 'ftp://shop.example', 'https://shop.example/checkout', 'https://a@shop.example', 'https://shop.example?x=1']) {
      expect(() => normalizeOrigin(bad), bad).toThrow(/Origin/);
    }
  });
});
