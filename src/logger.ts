/** pino JSON logs with credentials redacted wherever they could appear. */
import pino, { type DestinationStream, type Logger } from 'pino';

// SECURITY: belt and braces. Code never logs these on purpose; if an object slips into a log
// call, these paths are censored.
export const REDACT_PATHS = [
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'req.headers.authorization', 'req.headers["x-tokenrelay-key"]', 'token', '*.token', 'accessToken', '*.accessToken',
  'clientSecret', '*.clientSecret', 'secretKey', '*.secretKey', 'accessKey', '*.accessKey',
  'clientId', '*.clientId', 'credentials', '*.credentials',
];

export function createLogger({ level = 'info', destination }: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level,
      base: { service: 'tokenrelay' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

export type { Logger };
