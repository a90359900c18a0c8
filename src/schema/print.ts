import { writeFileSync } from 'node:fs';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from './index.js';

export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

// `npm run schema:print` writes schema.graphql; the schema test fails when the file is stale.
if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../../schema.graphql', import.meta.url), printedSchema());
}
