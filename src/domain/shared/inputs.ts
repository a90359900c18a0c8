import type { z } from 'zod';
import { ValidationFailed } from './errors.js';
import { validate } from './inputSchemas.js';

/**
 * Runs a validation schema and throws every failing field at once, or returns the parsed value. `now` is the
 * app's clock (`app.clock()`), what expiry checks compare against.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, basePath: string[], now: Date): z.output<S> {
  const result = validate(schema, input, basePath, { now });
  if (!result.ok) throw new ValidationFailed(result.fields);
  return result.value;
}
