import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';

// Card data must never reach a log line. Two independent guards:
// 1. fields whose names carry secrets are replaced wholesale, at any depth;
// 2. every string (message included) has digit runs that could be a card number (12-19 digits, spaces or
//    dashes allowed between them) masked to their last four, whatever field they hide in.
const SECRET_KEYS =
  /^(cvc|cvv|cvc2|cvv2|card_?cvc|security_?code|number|card_?number|pan|api-?key|authorization|cookie|set-cookie|password|secret(_?key)?|variables|key)$/i;
// A run glued to letters or underscores (ids, migration names) is not a card number as written.
const PAN_LIKE = /(?<![\w-])\d(?:[ -]?\d){11,18}(?![\w])/g;

export function scrubText(text: string): string {
  return text.replace(PAN_LIKE, (run) => {
    const digits = run.replace(/\D/g, '');
    return `[PAN ****${digits.slice(-4)}]`;
  });
}

export function scrub(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[…]';
  if (typeof value === 'string') return scrubText(value);
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) >= 1e11 ? '[NUMBER]' : value;
  if (typeof value === 'bigint') return '[NUMBER]';
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
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? scrubText(a) : a)) as Parameters<typeof method>);
        },
      },
      ...(pretty && { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } }),
    },
    // In production, lines are written in 4 KiB batches off the request path (flushed on shutdown): one
    // write per request was the largest single cost of serving one. Elsewhere, each line at once.
    destination ?? (pretty ? undefined : pino.destination({ fd: 1, sync: false, minLength: process.env.NODE_ENV === 'production' ? 4096 : 0 })),
  );
}

let root: Logger | undefined;
export function logger(): Logger {
  root ??= createLogger(process.env.LOG_LEVEL ?? 'info');
  return root;
}

function hasPinoPretty(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}
