// The input of forwardRequest, built on the shared field schemas of domain/shared/inputSchemas.ts.

import { z } from 'zod';
import { crossField, hasCredentials, httpUrlSchema, optional, passedField, PRINTABLE, text } from '../shared/inputSchemas.js';

const FORWARD_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const FORWARD_MAX_BODY_CHARS = 256 * 1024;
const FORWARD_MAX_HEADERS = 50;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
// Set by the vault (framing, target) or meaningless for one upstream exchange.
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-authorization',
  'proxy-connection',
]);

const forwardHeadersSchema = z.record(z.string(), z.unknown()).superRefine((headers, ctx) => {
  const names = Object.keys(headers);
  if (names.length > FORWARD_MAX_HEADERS) ctx.addIssue({ code: 'custom', message: `At most ${FORWARD_MAX_HEADERS} headers` });
  for (const name of names) {
    const value = headers[name];
    const problem = !HEADER_NAME.test(name)
      ? 'Header names must be 1-100 token characters'
      : RESERVED_HEADERS.has(name.toLowerCase())
        ? 'This header is set by the vault'
        : typeof value !== 'string'
          ? 'Header values must be strings'
          : value.length > 8192
            ? 'Header values must be at most 8192 characters'
            : /[\r\n\0]/.test(value)
              ? 'Header values must not contain line breaks or NUL'
              : undefined;
    if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
  }
});

export const forwardRequestInputSchema = z
  .object({
    paymentMethodId: optional(text(64, PRINTABLE)),
    token: optional(text(200, PRINTABLE)),
    url: httpUrlSchema
      .refine((u) => !hasCredentials(u), 'Must not contain credentials; send them in a header')
      .refine((u) => !u.includes('{{'), 'Placeholders are not allowed in the URL (URLs end up in logs); use the headers or the body'),
    method: z.string().trim().toUpperCase().pipe(z.enum(FORWARD_METHODS)),
    headers: optional(forwardHeadersSchema),
    body: optional(z.string().max(FORWARD_MAX_BODY_CHARS)),
  })
  .superRefine((input, ctx) => {
    const passed = passedField(ctx);
    const given = (key: 'paymentMethodId' | 'token') => !passed(key) || input[key] !== undefined;
    if (given('paymentMethodId') === given('token')) {
      ctx.addIssue({ code: 'custom', path: ['paymentMethodId'], message: 'Provide exactly one of paymentMethodId or token' });
    }
    if (passed('method') && passed('body') && input.body !== undefined && input.method === 'GET') {
      ctx.addIssue({ code: 'custom', path: ['body'], message: 'A GET request has no body' });
    }
  }, crossField)
  .transform((input) => ({ ...input, headers: (input.headers ?? {}) as Record<string, string> }));

export type ForwardRequestInput = z.output<typeof forwardRequestInputSchema>;
