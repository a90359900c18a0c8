// How a value commonly turns into text by accident, for tests that card data never does.
import { inspect } from 'node:util';
import { createLogger } from '../../src/app/logger.js';

/** What must never appear: the number (whole, or its middle digits, which bin and last4 do not show) and the CVC. */
export function cardDigitsIn(text: string, number: string, cvc: string): string[] {
  return [number, number.slice(6, -4), cvc].filter((s) => text.includes(s));
}

/** Every way a value commonly becomes text: JSON, util.inspect, a template string, and the app's logger. */
export function renderings(value: unknown): string[] {
  const lines: string[] = [];
  const log = createLogger('info', { write: (line: string) => void lines.push(line) });
  log.info({ value }, 'value');
  // Under names the logger does not redact by themselves, and as the message's arguments.
  log.info({ values: [value], nested: { deep: { value } } }, 'nested');
  const v = (value ?? {}) as object;
  log.info({ at: 'format' }, 'formatted %o %j %s', v, v, v);
  if (value instanceof Error) log.error(value, 'failed');
  return [JSON.stringify(value) ?? '', inspect(value, { depth: null, showHidden: true, getters: true }), `${String(value)}`, ...lines];
}
