// The input of createCardToken, built on the shared field schemas of domain/shared/inputSchemas.ts.

import { z } from 'zod';
import { billingInputSchema, cardInputSchema, optional } from '../shared/inputSchemas.js';

export const createCardTokenInputSchema = z.object({
  card: cardInputSchema,
  billing: optional(billingInputSchema),
});
