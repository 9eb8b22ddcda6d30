/**
 * The configuration file's schema (zod). Keys here are public interface: extend, never rename.
 * Sizes accept `1MiB`-style strings and durations `10s`-style strings (see units.ts).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { PRESET_TYPES, PRESETS, type PresetType } from './providers.js';
import { parseDuration, parseSize } from './units.js';

export const DEFAULT_SPOOL_DIR = join(tmpdir(), 'tokenrelay');

const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a size such as 1048576 or "1MiB"' });
    return z.NEVER;
  }
  return n;
});
const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = parseDuration(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500 or "10s"' });
    return z.NEVER;
  }
  return n;
});
/** Numbers may arrive as strings through `${VAR:-8080}`. */
const intFromEnv = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v), z.number().int().min(min).max(max));

const code = z.union([z.number(), z.string()]);
const expiredWhen = z.strictObject({
  status: z.array(z.number().int().min(100).max(599)).optional(),
  bodyCodes: z.array(code).optional(),
  bodyCodePath: z.string().min(1).optional(),
});

const secret = z.string().optional();
const secretFile = z.string().min(1).optional();
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'expected an HTTP header name');
const scheme = z.string().regex(/^[A-Za-z0-9._~+/-]*$/, 'expected an auth scheme such as Bearer, or ""');
const httpUrl = z.url({ protocol: /^https?$/ });
const templates = z.record(z.string(), z.string());

function presetSchema<T extends PresetType>(type: T) {
  const creds: Record<string, z.ZodType> = {};
  for (const c of PRESETS[type].credentials) {
    creds[c] = secret;
    creds[`${c}File`] = secretFile;
  }
  return z.strictObject({
    type: z.literal(type),
    ...creds,
    tokenUrl: httpUrl.optional(),
    /** Header that carries the token upstream, and the scheme before it ("" for the raw token). */
    header: headerName.optional(),
    scheme: scheme.optional(),
    expiredWhen: expiredWhen.optional(),
  });
}

/** RFC 6749 §4.4 client credentials. */
const oauth2 = z.strictObject({
  type: z.literal('oauth2'),
  tokenUrl: httpUrl,
  clientId: secret, clientIdFile: secretFile, clientSecret: secret, clientSecretFile: secretFile,
  clientAuth: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
  scope: z.string().optional(),
  /** Extra form parameters: audience, resource… */
  params: z.record(z.string(), z.string()).optional(),
  header: headerName.optional(),
  scheme: scheme.optional(),
  expiredWhen: expiredWhen.optional(),
});

/** Any token API, declared: how to ask, how to read the answer, how to inject, what "expired" is. */
const custom = z.strictObject({
  type: z.literal('custom'),
  /** Named secrets, used in templates as {name}. */
  credentials: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().optional()).optional(),
  credentialsFiles: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().min(1)).optional(),
  request: z.strictObject({
    method: z.enum(['POST', 'GET', 'PUT']).default('POST'),
    url: httpUrl,
    body: z.strictObject({ type: z.enum(['json', 'form']), fields: templates }).optional(),
    basicAuth: z.strictObject({ username: z.string(), password: z.string() }).optional(),
    headers: templates.optional(),
  }),
  response: z.strictObject({
    /** A business success condition on a field; absent: any HTTP 2xx. */
    success: z.strictObject({ path: z.string().min(1), equals: z.array(code).min(1) }).optional(),
    token: z.string().min(1),
    lifetime: z.strictObject({ path: z.string().min(1), unit: z.enum(['seconds', 'minutes', 'milliseconds']) }).optional(),
    defaultLifetime: z.union([z.number(), z.string()]).optional(),
    messagePaths: z.array(z.string()).optional(),
    errorCodePath: z.string().optional(),
  }),
  inject: z.strictObject({ header: headerName.default('authorization'), template: z.string().includes('{token}') }).optional(),
  expiredWhen: expiredWhen.optional(),
});

/** A fixed secret injected as a header (APIs with plain keys). */
const staticAuth = z.strictObject({
  type: z.literal('static'),
  header: headerName,
  value: secret,
  valueFile: secretFile,
  scheme: scheme.optional(),
});

const auth = z.discriminatedUnion('type', [
  ...PRESET_TYPES.map((t) => presetSchema(t)) as unknown as [ReturnType<typeof presetSchema>],
  oauth2, custom, staticAuth,
]);
export type RawAuth = z.output<typeof auth>;

/** `"GET /api/open/v3/voice/"`: a method (or `*`) and a path prefix after the upstream's prefix. */
const allowRule = z.string().regex(/^(\*|[A-Z]+) \/\S*$/, 'expected "METHOD /path-prefix", e.g. "GET /api/open/v3/voice/"');

const upstream = z.strictObject({
  prefix: z.string(),
  target: z.url({ protocol: /^https?$/ }),
  auth,
  tls: z.strictObject({ ca: z.string().min(1).optional() }).optional(),
  /** How long to wait for an upstream's response headers. */
  timeout: duration.default(60_000),
  /** How long a token fetch may take. */
  tokenTimeout: duration.default(10_000),
  /** How long an upstream's answer body may stall between chunks (0: never; for idle event streams). */
  bodyTimeout: duration.default(300_000),
  /** Only these calls are forwarded (403 NOT_ALLOWED otherwise); absent: everything. */
  allow: z.array(allowRule).optional(),
});

export const configSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: intFromEnv(0, 65535).default(8080),
    })
    .default({ host: '127.0.0.1', port: 8080 }),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  upstreams: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'expected a name of letters, digits, - and _'), upstream),
  replay: z
    .strictObject({
      /** The first bytes of a request body are kept in memory for the resend after a refresh… */
      memoryBytes: size.default(1024 * 1024),
      /** …the rest is spooled to a file, up to this; a larger body streams through, not retried. */
      maxBytes: size.default(256 * 1024 * 1024),
      spoolDir: z.string().min(1).default(DEFAULT_SPOOL_DIR),
    })
    .default({ memoryBytes: 1024 * 1024, maxBytes: 256 * 1024 * 1024, spoolDir: DEFAULT_SPOOL_DIR }),
  limits: z
    .strictObject({
      /** Largest request body accepted (413 BODY_TOO_LARGE). */
      maxBodyBytes: size.default(1024 ** 3),
      /** Upstream requests in flight per upstream; more wait in a queue… */
      maxConcurrentPerUpstream: intFromEnv(1, 100_000).default(256),
      /** …of at most this many (then 503 OVERLOADED with Retry-After). */
      maxQueuePerUpstream: intFromEnv(0, 1_000_000).default(1024),
      /** Largest request head (431 past it). */
      maxHeaderBytes: size.default(16 * 1024),
      /** How much of a JSON answer tokenrelay reads to look for a body-level expired-token code. */
      inspectBytes: size.default(64 * 1024),
    })
    .default({
      maxBodyBytes: 1024 ** 3, maxConcurrentPerUpstream: 256, maxQueuePerUpstream: 1024, maxHeaderBytes: 16 * 1024, inspectBytes: 64 * 1024,
    }),
  /** Inbound authentication: clients present one of these keys. Absent: off. */
  inbound: z
    .strictObject({
      apiKeys: z.array(z.string().optional()).default([]),
      apiKeyFiles: z.array(z.string().min(1)).default([]),
      header: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/).default('X-Tokenrelay-Key'),
    })
    .optional(),
  /** Where tokens are cached: this process's memory, or a Redis shared by every replica. */
  tokenCache: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('memory') }),
      z.strictObject({
        type: z.literal('redis'),
        /** redis://[:password@]host:port/db or rediss:// for TLS. */
        url: z.string().min(1).optional(),
        /** Passed to ioredis as they are: sentinels, name, password, tls, db… */
        options: z.record(z.string(), z.unknown()).optional(),
        cluster: z.strictObject({
          nodes: z.array(z.union([z.string(), z.strictObject({ host: z.string(), port: z.number().int() })])).min(1),
          options: z.record(z.string(), z.unknown()).optional(),
        }).optional(),
        keyPrefix: z.string().default('tokenrelay:'),
        /** 32 random bytes in base64 (openssl rand -base64 32): tokens are stored AES-256-GCM encrypted. */
        encryptionKey: z.string().optional(),
        encryptionKeyFile: z.string().min(1).optional(),
      }),
    ])
    .default({ type: 'memory' }),
  /** Admin endpoints (/healthz, /readyz, /metrics) on their own port; absent: on the main port. */
  admin: z
    .strictObject({
      host: z.string().min(1).optional(),
      port: intFromEnv(0, 65535),
    })
    .optional(),
  readiness: z
    .strictObject({
      /** true: /readyz is 503 until every upstream with credentials holds a token (fetched at start). */
      requireTokens: z.boolean().default(false),
    })
    .default({ requireTokens: false }),
  reload: z
    .strictObject({
      /** Reload when the config file or a secret file it names changes (SIGHUP always reloads). */
      watch: z.boolean().default(true),
      /** How often watched files are checked. */
      interval: duration.default(1000),
    })
    .default({ watch: true, interval: 1000 }),
  shutdown: z
    .strictObject({
      /** How long in-flight requests may run after SIGTERM before connections are closed. */
      gracePeriod: duration.default(10_000),
    })
    .default({ gracePeriod: 10_000 }),
});

export type RawConfig = z.output<typeof configSchema>;
export type RawUpstream = z.output<typeof upstream>;
