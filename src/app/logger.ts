import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';
import { containsPan } from '../card/pan.js';
import { containsIban, maskIbans } from '../card/bankAccount.js';
import { scrubText } from '../card/scrub.js';
import { Secret } from '../crypto/secret.js';

// Card data must never reach a log line. Two independent guards:
// 1. fields whose names carry secrets are replaced wholesale, at any depth;
// 2. every line as written (message, keys, values, error stacks, child bindings) has every card number the
//    PAN detector finds masked to its last four, whatever its neighbours (src/card/pan.ts), and every IBAN
//    masked likewise (src/card/bankAccount.ts).
const SECRET_KEYS =
  /^(cvc|cvv|cvc2|cvv2|card_?cvc|security_?code|number|card_?number|pan|api-?key|authorization|cookie|set-cookie|password|secret(_?key)?|variables|key)$/i;

// Strings (values and keys) are left to scrubLine, which reads the serialized line, JSON escapes included:
// masking them here as well scanned every logged string twice (3-4% of a masked read's CPU, for the request
// log line alone).
function scrub(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[…]';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) >= 1e11 ? '[NUMBER]' : value;
  if (typeof value === 'bigint') return '[NUMBER]';
  // A Secret's value is a private field: without this it would log as `{}` rather than say what it hides.
  if (value instanceof Secret) return String(value);
  if (value instanceof Error) {
    return { type: value.name, message: scrubText(value.message), stack: value.stack && scrubText(value.stack) };
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEYS.test(k) ? '[REDACTED]' : scrub(v, depth + 1);
    }
    return out;
  }
  return value;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  // Human-readable lines when a person is watching a development server; JSON everywhere else.
  const pretty = !destination && process.stdout.isTTY && process.env.NODE_ENV !== 'production' && hasPinoPretty();
  return pino(
    {
      level,
      base: { service: 'vault' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { log: (obj) => scrub(obj) as Record<string, unknown> },
      // The message (an error's, or one formatted from arguments) and whatever else the line holds.
      hooks: { streamWrite: scrubLine },
      ...(pretty && { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } }),
    },
    // In production, lines are written in 4 KiB batches off the request path (flushed on shutdown): one
    // write per request was the largest single cost of serving one. Elsewhere, each line at once.
    destination ??
      (pretty ? undefined : pino.destination({ fd: 1, sync: false, minLength: process.env.NODE_ENV === 'production' ? 4096 : 0 })),
  );
}

/**
 * A serialized line with its card numbers masked. Inside JSON strings a mask is plain text; a number
 * outside a string (a JSON number) cannot hold one, so such a line is parsed and every value scrubbed.
 */
export function scrubLine(line: string): string {
  if (!containsPan(line)) return containsIban(line) ? maskIbans(line) : line;
  const masked = scrubText(line);
  try {
    JSON.parse(masked);
    return masked;
  } catch {
    try {
      return `${JSON.stringify(scrubParsed(JSON.parse(line)))}\n`;
    } catch {
      return masked;
    }
  }
}

function scrubParsed(value: unknown): unknown {
  if (typeof value === 'number')
    return containsPan(String(value)) || (Number.isInteger(value) && Math.abs(value) >= 1e11) ? '[NUMBER]' : value;
  if (typeof value === 'string') return scrubText(value);
  const scrubbed = Array.isArray(value)
    ? value.map(scrubParsed)
    : value && typeof value === 'object'
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [scrubText(k), scrubParsed(v)]))
      : value;
  if (scrubbed === value || typeof scrubbed !== 'object' || scrubbed === null) return scrubbed;
  // A number spread over several values ([4,1,1,1,…], {"1":4111,"2":1111,…}) is in none of them alone:
  // such a container is written as its masked text.
  const json = JSON.stringify(scrubbed);
  return containsPan(json) ? scrubText(json) : scrubbed;
}

function hasPinoPretty(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}
