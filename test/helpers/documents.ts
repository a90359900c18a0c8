import { print, type DocumentNode } from 'graphql';
import * as generated from '../../packages/client/src/generated/graphql.js';

/** Every operation of the generated client, printed with its fragments: [name, document]. */
export function documents(): [string, string][] {
  return Object.entries(generated)
    .filter(([name, value]) => name.endsWith('Document') && typeof value === 'object' && value !== null && 'kind' in value)
    .map(([name, value]) => [name, print(value as DocumentNode)]);
}
