// The inputs of customer operations, built on the shared field schemas of domain/shared/inputSchemas.ts.

import { z } from 'zod';
import {
  MULTI_LINE,
  PRINTABLE,
  addressInputSchema,
  clearable,
  emailSchema,
  metadataSchema,
  optional,
  phoneCountryCodeSchema,
  phoneNumberSchema,
  text,
} from '../shared/inputSchemas.js';

export const createCustomerInputSchema = z.object({
  merchantReferenceId: optional(text(64, PRINTABLE)),
  name: optional(text(100)),
  email: optional(emailSchema),
  phone: optional(phoneNumberSchema),
  phoneCountryCode: optional(phoneCountryCodeSchema),
  description: optional(text(500, MULTI_LINE)),
  defaultBillingAddress: optional(addressInputSchema),
  defaultShippingAddress: optional(addressInputSchema),
  metadata: optional(metadataSchema),
});

export const updateCustomerInputSchema = z.object({
  merchantReferenceId: clearable(text(64, PRINTABLE)),
  name: clearable(text(100)),
  email: clearable(emailSchema),
  phone: clearable(phoneNumberSchema),
  phoneCountryCode: clearable(phoneCountryCodeSchema),
  description: clearable(text(500, MULTI_LINE)),
  defaultBillingAddress: clearable(addressInputSchema),
  defaultShippingAddress: clearable(addressInputSchema),
  metadata: clearable(metadataSchema),
});
