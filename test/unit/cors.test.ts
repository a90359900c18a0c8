import { describe, expect, it } from 'vitest';
import { origins } from '../../src/domain/merchants/allowLists.js';

describe('CORS per merchant', () => {
  it('normalizes origins and refuses anything that is not scheme://host[:port]', () => {
    expect(origins.normalize('HTTPS://Shop.Example:443/')).toBe('https://shop.example');
    expect(origins.normalize('http://localhost:3000')).toBe('http://localhost:3000');
    for (const bad of [
      'shop.example',
      'ftp://shop.example',
      'https://shop.example/checkout',
      'https://a@shop.example',
      'https://shop.example?x=1',
    ]) {
      expect(() => origins.normalize(bad), bad).toThrow(/Origin/);
    }
  });
});
