import { GraphQLError, Kind } from 'graphql';
import { JSONResolver } from 'graphql-scalars';
import { builder } from './builder.js';

// RFC 3339 in UTC; fractional seconds only when they are not zero, so a retention date reads
// 2028-04-01T00:00:00Z.
builder.scalarType('DateTime', {
  description: 'An instant, as an RFC 3339 string in UTC (e.g. 2028-04-01T00:00:00Z).',
  serialize: (value) => value.toISOString().replace('.000Z', 'Z'),
  parseValue: (value) => parseDate(value),
  parseLiteral: (ast) => parseDate(ast.kind === Kind.STRING ? ast.value : undefined),
});

function parseDate(value: unknown): Date {
  const date = typeof value === 'string' ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an RFC 3339 string');
  return date;
}

builder.addScalarType('JSON', JSONResolver);
