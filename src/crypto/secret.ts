/**
 * Wraps a sensitive value (key material, card data) so that it cannot leak by accident: every way a logger,
 * `console.log`, `JSON.stringify` or a template string turns it into text yields `[REDACTED]`. The value
 * lives in a private field, so it is not an enumerable property either; only `reveal()` returns it.
 */
export class Secret<T> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  reveal(): T {
    return this.#value;
  }

  toString(): string {
    return '[REDACTED]';
  }

  toJSON(): string {
    return '[REDACTED]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[REDACTED]';
  }
}
