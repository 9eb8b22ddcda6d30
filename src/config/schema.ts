/**
 * The configuration file's schema (valibot: zod 4 cost ~13 MB of resident memory, valibot
 * ~1.5 MB, and tokenrelay is judged by its footprint). Keys here are public interface: extend,
 * never rename. Sizes accept `1MiB`-style strings and durations `10s`-style strings (units.ts).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { PRESET_TYPES, PRESETS, type PresetType } from './providers.js';
import { cidrProblem } from '../util/trust.js';
import { parseDuration, parseSize } from '../util/units.js';

export const DEFAULT_SPOOL_DIR = join(tmpdir(), 'tokenrelay');

const numOrString = v.union([v.number(), v.string()]);
const size = v.pipe(numOrString, v.check((x) => parseSize(x) !== undefined, 'expected a size such as 1048576 or "1MiB"'), v.transform((x) => parseSize(x)!));
const duration = v.pipe(numOrString, v.check((x) => parseDuration(x) !== undefined, 'expected a duration such as 500 or "10s"'), v.transform((x) => parseDuration(x)!));
/** Numbers may arrive as strings through `${VAR:-8080}`. */
const intFromEnv = (min: number, max: number) => v.pipe(
  v.unknown(),
  v.transform((x) => (typeof x === 'string' && /^\s*\d+\s*$/.test(x) ? Number(x) : x)),
  v.number(), v.integer('expected an integer'), v.minValue(min, `expected at least ${min}`), v.maxValue(max, `expected at most ${max}`),
);
const nonEmpty = v.pipe(v.string(), v.minLength(1, 'expected a non-empty string'));
const code = numOrString;
const expiredWhen = v.strictObject({
  status: v.optional(v.array(v.pipe(v.number(), v.integer('expected an integer'), v.minValue(100, 'expected an HTTP status'), v.maxValue(599, 'expected an HTTP status')))),
  bodyCodes: v.optional(v.array(code)),
  bodyCodePath: v.optional(nonEmpty),
});

const secret = v.optional(v.string());
const secretFile = v.optional(nonEmpty);
const headerName = v.pipe(v.string(), v.regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'expected an HTTP header name'));
const scheme = v.pipe(v.string(), v.regex(/^[A-Za-z0-9._~+/-]*$/, 'expected an auth scheme such as Bearer, or ""'));
const httpUrl = v.pipe(v.string(), v.url('expected an http(s) URL'), v.regex(/^https?:\/\//i, 'expected an http(s) URL'));
const templates = v.record(v.string(), v.string());
const name = v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a name of letters, digits and _'));

function presetSchema<T extends PresetType>(type: T) {
  const creds: Record<string, typeof secret | typeof secretFile> = {};
  for (const c of PRESETS[type].credentials) {
    creds[c] = secret;
    creds[`${c}File`] = secretFile;
  }
  return v.strictObject({
    type: v.literal(type),
    ...creds,
    tokenUrl: v.optional(httpUrl),
    /** Header that carries the token upstream, and the scheme before it ("" for the raw token). */
    header: v.optional(headerName),
    scheme: v.optional(scheme),
    expiredWhen: v.optional(expiredWhen),
  });
}

/** RFC 6749 §4.4 client credentials. */
const oauth2 = v.strictObject({
  type: v.literal('oauth2'),
  tokenUrl: httpUrl,
  clientId: secret, clientIdFile: secretFile, clientSecret: secret, clientSecretFile: secretFile,
  clientAuth: v.optional(v.picklist(['client_secret_basic', 'client_secret_post']), 'client_secret_basic'),
  scope: v.optional(v.string()),
  /** Extra form parameters: audience, resource… */
  params: v.optional(v.record(v.string(), v.string())),
  header: v.optional(headerName),
  scheme: v.optional(scheme),
  expiredWhen: v.optional(expiredWhen),
});

/** Any token API, declared: how to ask, how to read the answer, how to inject, what "expired" is. */
const custom = v.strictObject({
  type: v.literal('custom'),
  /** Named secrets, used in templates as {name}. */
  credentials: v.optional(v.record(name, v.optional(v.string()))),
  credentialsFiles: v.optional(v.record(name, nonEmpty)),
  request: v.strictObject({
    method: v.optional(v.picklist(['POST', 'GET', 'PUT']), 'POST'),
    url: httpUrl,
    body: v.optional(v.strictObject({ type: v.picklist(['json', 'form']), fields: templates })),
    basicAuth: v.optional(v.strictObject({ username: v.string(), password: v.string() })),
    headers: v.optional(templates),
  }),
  response: v.strictObject({
    /** A business success condition on a field; absent: any HTTP 2xx. */
    success: v.optional(v.strictObject({ path: nonEmpty, equals: v.pipe(v.array(code), v.minLength(1, 'expected at least one value')) })),
    token: nonEmpty,
    lifetime: v.optional(v.strictObject({ path: nonEmpty, unit: v.picklist(['seconds', 'minutes', 'milliseconds']) })),
    defaultLifetime: v.optional(numOrString),
    messagePaths: v.optional(v.array(v.string())),
    errorCodePath: v.optional(v.string()),
  }),
  inject: v.optional(v.strictObject({
    header: v.optional(headerName, 'authorization'),
    template: v.pipe(v.string(), v.includes('{token}', 'expected a template with {token}')),
  })),
  expiredWhen: v.optional(expiredWhen),
});

/** A fixed secret injected as a header (APIs with plain keys). */
const staticAuth = v.strictObject({
  type: v.literal('static'),
  header: headerName,
  value: secret,
  valueFile: secretFile,
  scheme: v.optional(scheme),
});

const auth = v.variant('type', [...PRESET_TYPES.map((t) => presetSchema(t)), oauth2, custom, staticAuth]);
export type RawAuth = v.InferOutput<typeof oauth2> | v.InferOutput<typeof custom> | v.InferOutput<typeof staticAuth>
  | (v.InferOutput<ReturnType<typeof presetSchema>> & { type: PresetType; [k: string]: unknown });

/** `"GET /api/open/v3/voice/"`: a method (or `*`) and a path prefix after the upstream's prefix. */
const allowRule = v.pipe(v.string(), v.regex(/^(\*|[A-Z]+) \/\S*$/, 'expected "METHOD /path-prefix", e.g. "GET /api/open/v3/voice/"'));

const upstream = v.strictObject({
  prefix: v.string(),
  target: httpUrl,
  auth,
  tls: v.optional(v.strictObject({ ca: v.optional(nonEmpty) })),
  /** How long to wait for an upstream's response headers. */
  timeout: v.optional(duration, 60_000),
  /** How long a token fetch may take. */
  tokenTimeout: v.optional(duration, 10_000),
  /** How long an upstream's answer body may stall between chunks (0: never; for idle event streams). */
  bodyTimeout: v.optional(duration, 300_000),
  /** Only these calls are forwarded (403 NOT_ALLOWED otherwise); absent: everything. */
  allow: v.optional(v.array(allowRule)),
});

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const configSchema = v.strictObject({
  listen: v.optional(v.strictObject({
    /** Absent: $TOKENRELAY_LISTEN_HOST (the image sets 0.0.0.0), else 127.0.0.1. */
    host: v.optional(nonEmpty),
    port: v.optional(intFromEnv(0, 65535), 8080),
  }), {}),
  logLevel: v.optional(v.picklist(logLevels)),
  upstreams: v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'expected a name of letters, digits, - and _')), upstream),
  replay: v.optional(v.strictObject({
    /** The first bytes of a request body are kept in memory for the resend after a refresh… */
    memoryBytes: v.optional(size, 1024 * 1024),
    /** …the rest is spooled to a file, up to this; a larger body streams through, not retried. */
    maxBytes: v.optional(size, 256 * 1024 * 1024),
    /** …and all spool files at once together up to this (keep it under a tmpfs/emptyDir size). */
    maxSpoolBytes: v.optional(size, 1024 ** 3),
    spoolDir: v.optional(nonEmpty, DEFAULT_SPOOL_DIR),
  }), {}),
  limits: v.optional(v.strictObject({
    /** Largest request body accepted (413 BODY_TOO_LARGE). */
    maxBodyBytes: v.optional(size, 1024 ** 3),
    /** Upstream requests in flight per upstream; more wait in a queue… */
    maxConcurrentPerUpstream: v.optional(intFromEnv(1, 100_000), 256),
    /** …of at most this many (then 503 OVERLOADED with Retry-After). */
    maxQueuePerUpstream: v.optional(intFromEnv(0, 1_000_000), 1024),
    /** Largest request head (431 past it). */
    maxHeaderBytes: v.optional(size, 16 * 1024),
    /** Most header lines in a request (431 past it). */
    maxHeaderCount: v.optional(intFromEnv(1, 10_000), 100),
    /** A request head must be complete this long after its connection started it (408 past it). */
    headersTimeout: v.optional(v.pipe(duration, v.minValue(1, 'expected more than 0')), 30_000),
    /** The longest pause between two chunks of a request body (408 when nothing was answered yet). */
    clientBodyTimeout: v.optional(v.pipe(duration, v.minValue(1, 'expected more than 0')), 60_000),
    /** Client connections open at once (never more than the open-files limit leaves room for). */
    maxConnections: v.optional(intFromEnv(1, 10_000_000), 10_000),
    /** How much of a JSON answer tokenrelay reads to look for a body-level expired-token code. */
    inspectBytes: v.optional(size, 64 * 1024),
  }), {}),
  /** Peers (a load balancer in front) whose X-Forwarded-* and Forwarded headers are kept and extended; others' are dropped. */
  trustForwardedFrom: v.optional(v.array(v.pipe(v.string(), v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = cidrProblem(dataset.value);
    if (problem) addIssue({ message: problem });
  }))), []),
  /** Inbound authentication: clients present one of these keys. Absent: off. */
  inbound: v.optional(v.strictObject({
    apiKeys: v.optional(v.array(v.optional(v.string())), []),
    apiKeyFiles: v.optional(v.array(nonEmpty), []),
    header: v.optional(headerName, 'X-Tokenrelay-Key'),
  })),
  /** Where tokens are cached: this process's memory, or a Redis shared by every replica. */
  tokenCache: v.optional(v.variant('type', [
    v.strictObject({ type: v.literal('memory') }),
    v.strictObject({
      type: v.literal('redis'),
      /** redis://[:password@]host:port/db or rediss:// for TLS. */
      url: v.optional(nonEmpty),
      /** Passed to ioredis as they are: sentinels, name, password, tls, db… */
      options: v.optional(v.record(v.string(), v.unknown())),
      cluster: v.optional(v.strictObject({
        nodes: v.pipe(v.array(v.union([v.string(), v.strictObject({ host: v.string(), port: v.pipe(v.number(), v.integer()) })])), v.minLength(1, 'expected at least one node')),
        options: v.optional(v.record(v.string(), v.unknown())),
      })),
      keyPrefix: v.optional(v.string(), 'tokenrelay:'),
      /** 32 random bytes in base64 (openssl rand -base64 32): tokens are stored AES-256-GCM encrypted. */
      encryptionKey: v.optional(v.string()),
      encryptionKeyFile: v.optional(nonEmpty),
    }),
  ]), { type: 'memory' }),
  /** Admin endpoints (/healthz, /readyz, /metrics) on their own port; absent: on the main port. */
  admin: v.optional(v.strictObject({ host: v.optional(nonEmpty), port: intFromEnv(0, 65535) })),
  readiness: v.optional(v.strictObject({
    /** true: /readyz is 503 until every upstream with credentials holds a token (fetched at start). */
    requireTokens: v.optional(v.boolean(), false),
  }), {}),
  reload: v.optional(v.strictObject({
    /** Reload when the config file or a secret file it names changes (SIGHUP always reloads). */
    watch: v.optional(v.boolean(), true),
    /** How often watched files are checked. */
    interval: v.optional(duration, 1000),
  }), {}),
  shutdown: v.optional(v.strictObject({
    /** How long in-flight requests may run after SIGTERM before connections are closed. */
    gracePeriod: v.optional(duration, 10_000),
  }), {}),
});

export type RawConfig = v.InferOutput<typeof configSchema>;
export type RawUpstream = RawConfig['upstreams'][string];
