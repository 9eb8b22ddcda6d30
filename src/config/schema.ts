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
  // For the JSON Schema (editors): what the transform below accepts.
  v.metadata({ anyOf: [{ type: 'integer', minimum: min, maximum: max }, { type: 'string', pattern: '^\\s*\\d+\\s*$|\\$\\{' }] }),
  v.transform((x) => (typeof x === 'string' && /^\s*\d+\s*$/.test(x) ? Number(x) : x)),
  v.number(), v.integer('expected an integer'), v.minValue(min, `expected at least ${min}`), v.maxValue(max, `expected at most ${max}`),
);
const nonEmpty = v.pipe(v.string(), v.minLength(1, 'expected a non-empty string'));
const code = numOrString;
const expiredWhen = v.strictObject({
  status: v.pipe(v.optional(v.array(v.pipe(v.number(), v.integer('expected an integer'), v.minValue(100, 'expected an HTTP status'), v.maxValue(599, 'expected an HTTP status')))), v.description('HTTP statuses that mean the token is invalid or expired')),
  bodyCodes: v.pipe(v.optional(v.array(code)), v.description('Values at bodyCodePath in a small JSON answer that mean the token is invalid or expired')),
  bodyCodePath: v.pipe(v.optional(nonEmpty), v.description('Dotted path of the business code in a JSON answer')),
});

const secret = v.optional(v.pipe(v.string(), v.description('A secret, usually ${VAR} from the environment; unset disables the upstream')));
const secretFile = v.optional(v.pipe(nonEmpty, v.description('A file holding the secret (trailing newlines ignored)')));
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
    tokenUrl: v.pipe(v.optional(httpUrl), v.description('Token endpoint; default: the target plus the vendor\'s token path')),
    header: v.pipe(v.optional(headerName), v.description('Header that carries the token upstream, and the scheme before it ("" for the raw token).')),
    scheme: v.pipe(v.optional(scheme), v.description('The scheme before the token (Bearer); "" sends the raw token')),
    expiredWhen: v.optional(expiredWhen),
  });
}

/** RFC 6749 §4.4 client credentials. */
const oauth2 = v.strictObject({
  type: v.literal('oauth2'),
  tokenUrl: v.pipe(httpUrl, v.description('The authorization server\'s token endpoint')),
  clientId: secret, clientIdFile: secretFile, clientSecret: secret, clientSecretFile: secretFile,
  clientAuth: v.pipe(v.optional(v.picklist(['client_secret_basic', 'client_secret_post']), 'client_secret_basic'), v.description('How the client authenticates (RFC 6749 §2.3.1)')),
  scope: v.pipe(v.optional(v.string()), v.description('Requested scope')),
  params: v.pipe(v.optional(v.record(v.string(), v.string())), v.description('Extra form parameters: audience, resource…')),
  header: v.pipe(v.optional(headerName), v.description('Header that carries the token upstream (default authorization)')),
  scheme: v.pipe(v.optional(scheme), v.description('The scheme before the token (Bearer); "" sends the raw token')),
  expiredWhen: v.optional(expiredWhen),
});

/** Any token API, declared: how to ask, how to read the answer, how to inject, what "expired" is. */
const custom = v.strictObject({
  type: v.literal('custom'),
  credentials: v.pipe(v.optional(v.record(name, v.optional(v.string()))), v.description('Named secrets, used in templates as {name}.')),
  credentialsFiles: v.pipe(v.optional(v.record(name, nonEmpty)), v.description('Named secrets read from files')),
  request: v.strictObject({
    method: v.pipe(v.optional(v.picklist(['POST', 'GET', 'PUT']), 'POST'), v.description('HTTP method of the token request')),
    url: v.pipe(httpUrl, v.description('The token endpoint')),
    body: v.optional(v.strictObject({ type: v.pipe(v.picklist(['json', 'form']), v.description('How the token request body is encoded')), fields: v.pipe(templates, v.description('Body fields; {name} is filled with a credential')) })),
    basicAuth: v.optional(v.strictObject({ username: v.pipe(v.string(), v.description('Basic auth user (templated)')), password: v.pipe(v.string(), v.description('Basic auth password (templated)')) })),
    headers: v.pipe(v.optional(templates), v.description('Extra headers of the token request (templated)')),
  }),
  response: v.strictObject({
    success: v.pipe(v.optional(v.strictObject({ path: v.pipe(nonEmpty, v.description('Dotted path of the business status')), equals: v.pipe(v.array(code), v.minLength(1, 'expected at least one value'), v.description('Values meaning success (compared as strings)')) })), v.description('A business success condition on a field; absent: any HTTP 2xx.')),
    token: v.pipe(nonEmpty, v.description('Dotted path of the token in the answer')),
    lifetime: v.optional(v.strictObject({ path: v.pipe(nonEmpty, v.description('Dotted path of the token\'s lifetime in the answer')), unit: v.pipe(v.picklist(['seconds', 'minutes', 'milliseconds']), v.description('Unit of that lifetime')) })),
    defaultLifetime: v.pipe(v.optional(numOrString), v.description('Lifetime when the answer and a JWT exp say none (default 1h)')),
    messagePaths: v.pipe(v.optional(v.array(v.string())), v.description('Fields that may hold a failure\'s human-readable reason')),
    errorCodePath: v.pipe(v.optional(v.string()), v.description('Field holding a failure\'s machine-readable code')),
  }),
  inject: v.optional(v.strictObject({
    header: v.pipe(v.optional(headerName, 'authorization'), v.description('Header that carries the token upstream')),
    template: v.pipe(v.string(), v.includes('{token}', 'expected a template with {token}'), v.description('The header value, with {token} where the token goes')),
  })),
  expiredWhen: v.optional(expiredWhen),
});

/** A fixed secret injected as a header (APIs with plain keys). */
const staticAuth = v.strictObject({
  type: v.literal('static'),
  header: v.pipe(headerName, v.description('The header that carries the key')),
  value: secret,
  valueFile: secretFile,
  scheme: v.optional(scheme),
});

const auth = v.variant('type', [...PRESET_TYPES.map((t) => presetSchema(t)), oauth2, custom, staticAuth]);
export type RawAuth = v.InferOutput<typeof oauth2> | v.InferOutput<typeof custom> | v.InferOutput<typeof staticAuth>
  | (v.InferOutput<ReturnType<typeof presetSchema>> & { type: PresetType; [k: string]: unknown });

/** `"GET /api/open/v3/voice/"`: a method (or `*`) and a path prefix after the upstream's prefix. */
const allowRule = v.pipe(v.string(), v.regex(/^(\*|[A-Z]+) \/\S*$/, 'expected "METHOD /path-prefix", e.g. "GET /api/open/v3/voice/"'));

/** A positive number, also from `${VAR}` (rates may be fractional: 0.5 a second). */
const positive = v.pipe(
  v.unknown(),
  v.metadata({ anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'string' }] }),
  v.transform((x) => (typeof x === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(x) ? Number(x) : x)),
  v.number('expected a number'), v.check((x) => x > 0 && Number.isFinite(x), 'expected a number above 0'),
);
const rateLimit = v.strictObject({
  requestsPerSecond: v.pipe(positive, v.description('Calls a second, refilled continuously (a token bucket)')),
  burst: v.pipe(v.optional(intFromEnv(1, 1_000_000)), v.description('Calls at once after a quiet spell (default: requestsPerSecond, at least 1)')),
});

const upstream = v.strictObject({
  prefix: v.pipe(v.string(), v.description('Path prefix routed to this upstream, whole segments (/akool); stripped before forwarding')),
  target: v.pipe(httpUrl, v.description('The vendor\'s origin, optionally with a base path')),
  auth,
  tls: v.optional(v.strictObject({ ca: v.pipe(v.optional(nonEmpty), v.description('An extra CA: a PEM file or inline PEM (certificates are always verified)')) })),
  timeout: v.pipe(v.optional(duration, 60_000), v.description('How long to wait for an upstream\'s response headers.')),
  tokenTimeout: v.pipe(v.optional(duration, 10_000), v.description('How long a token fetch may take.')),
  bodyTimeout: v.pipe(v.optional(duration, 300_000), v.description('How long an upstream\'s answer body may stall between chunks (0: never; for idle event streams).')),
  allow: v.pipe(v.optional(v.array(allowRule)), v.description('Only these calls are forwarded (403 NOT_ALLOWED otherwise); absent: everything.')),
  rateLimit: v.pipe(v.optional(rateLimit), v.description('Paces calls to the vendor\'s own limit: calls wait for a slot (up to limits.maxQueuePerUpstream, then 503 OVERLOADED); fleet-wide on a redis tokenCache.')),
});

/** One client of the fleet: its keys, what it may call, its own vendor accounts, its limits. */
const tenant = v.strictObject({
  keys: v.pipe(v.optional(v.array(v.optional(v.string())), []), v.description('The tenant\'s client keys, usually ${VAR}; sent in inbound.header')),
  keyFiles: v.pipe(v.optional(v.array(nonEmpty), []), v.description('Files each holding one of the tenant\'s keys')),
  upstreams: v.pipe(v.optional(v.array(v.string())), v.description('Upstreams the tenant may call (absent: all)')),
  allow: v.pipe(v.optional(v.record(v.string(), v.array(allowRule))), v.description('Per upstream, narrows its allow-list for this tenant ("METHOD /path-prefix")')),
  credentials: v.pipe(v.optional(v.record(v.string(), v.record(v.string(), v.optional(v.string())))), v.description('Per upstream, the tenant\'s own vendor account: the upstream\'s credential keys (clientId, clientSecretFile…)')),
  limits: v.optional(v.strictObject({
    requestsPerSecond: v.pipe(v.optional(positive), v.description('Calls a second, refilled continuously (429 TENANT_RATE_LIMITED past it)')),
    burst: v.pipe(v.optional(intFromEnv(1, 1_000_000)), v.description('Calls at once after a quiet spell (default: requestsPerSecond, at least 1)')),
    concurrent: v.pipe(v.optional(intFromEnv(1, 1_000_000)), v.description('Calls in flight at once (429 TENANT_RATE_LIMITED past it)')),
    quota: v.pipe(v.optional(v.strictObject({
      requests: intFromEnv(1, Number.MAX_SAFE_INTEGER),
      per: v.picklist(['minute', 'hour', 'day', 'month']),
    })), v.description('Calls per calendar minute, hour, day or month, UTC (429 QUOTA_EXCEEDED past it)')),
  }), {}),
});

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const configSchema = v.strictObject({
  listen: v.optional(v.strictObject({
    host: v.pipe(v.optional(nonEmpty), v.description('Absent: $TOKENRELAY_LISTEN_HOST (the image sets 0.0.0.0), else 127.0.0.1.')),
    port: v.pipe(v.optional(intFromEnv(0, 65535), 8080), v.description('The app-facing port')),
  }), {}),
  logLevel: v.pipe(v.optional(v.picklist(logLevels)), v.description('Log level; LOG_LEVEL overrides it')),
  upstreams: v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'expected a name of letters, digits, - and _')), upstream),
  replay: v.optional(v.strictObject({
    memoryBytes: v.pipe(v.optional(size, 1024 * 1024), v.description('The first bytes of a request body are kept in memory for the resend after a refresh…')),
    maxBytes: v.pipe(v.optional(size, 256 * 1024 * 1024), v.description('…the rest is spooled to a file, up to this; a larger body streams through, not retried.')),
    maxSpoolBytes: v.pipe(v.optional(size, 1024 ** 3), v.description('…and all spool files at once together up to this (keep it under a tmpfs/emptyDir size).')),
    spoolDir: v.pipe(v.optional(nonEmpty, DEFAULT_SPOOL_DIR), v.description('Where bodies are spooled (0700; files 0600, unlinked as soon as they are open, closed when their request ends or kept up to 20 s for the next body)')),
  }), {}),
  limits: v.optional(v.strictObject({
    maxBodyBytes: v.pipe(v.optional(size, 1024 ** 3), v.description('Largest request body accepted (413 BODY_TOO_LARGE).')),
    maxConcurrentPerUpstream: v.pipe(v.optional(intFromEnv(1, 100_000), 256), v.description('Upstream requests in flight per upstream; more wait in a queue…')),
    maxQueuePerUpstream: v.pipe(v.optional(intFromEnv(0, 1_000_000), 1024), v.description('…of at most this many (then 503 OVERLOADED with Retry-After).')),
    maxHeaderBytes: v.pipe(v.optional(size, 16 * 1024), v.description('Largest request head (431 past it).')),
    maxHeaderCount: v.pipe(v.optional(intFromEnv(1, 10_000), 100), v.description('Most header lines in a request (431 past it).')),
    headersTimeout: v.pipe(v.optional(v.pipe(duration, v.minValue(1, 'expected more than 0')), 30_000), v.description('A request head must be complete this long after its connection started it (408 past it).')),
    clientBodyTimeout: v.pipe(v.optional(v.pipe(duration, v.minValue(1, 'expected more than 0')), 60_000), v.description('The longest pause between two chunks of a request body (408 when nothing was answered yet).')),
    maxConnections: v.pipe(v.optional(intFromEnv(1, 10_000_000), 10_000), v.description('Client connections open at once (never more than the open-files limit leaves room for).')),
    inspectBytes: v.pipe(v.optional(size, 64 * 1024), v.description('How much of a JSON answer tokenrelay reads to look for a body-level expired-token code.')),
  }), {}),
  /** Peers (a load balancer in front) whose X-Forwarded-* and Forwarded headers are kept and extended; others' are dropped. */
  trustForwardedFrom: v.optional(v.array(v.pipe(v.string(), v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = cidrProblem(dataset.value);
    if (problem) addIssue({ message: problem });
  }))), []),
  /** Inbound authentication: clients present one of these keys. Absent: off. */
  inbound: v.optional(v.strictObject({
    apiKeys: v.pipe(v.optional(v.array(v.optional(v.string())), []), v.description('Accepted client keys, usually ${VAR}')),
    apiKeyFiles: v.pipe(v.optional(v.array(nonEmpty), []), v.description('Files each holding one accepted client key')),
    header: v.pipe(v.optional(headerName, 'X-Tokenrelay-Key'), v.description('The header clients put their key in (never forwarded)')),
  })),
  tenants: v.pipe(v.optional(v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected a name of letters, digits, ., - and _')), tenant), {}),
    v.description('Clients, each with its own keys, upstreams, vendor accounts and limits (turns inbound authentication on)')),
  tracing: v.pipe(v.optional(v.strictObject({
    endpoint: v.pipe(v.optional(httpUrl), v.description('The OpenTelemetry collector, OTLP over HTTP (http://otel-collector:4318); absent: OTEL_EXPORTER_OTLP_ENDPOINT, else tracing off')),
    sampleRatio: v.pipe(v.optional(v.pipe(v.number(), v.minValue(0, 'expected a ratio from 0 to 1'), v.maxValue(1, 'expected a ratio from 0 to 1'))), v.description('Share of new traces kept; parent-based: a sampled incoming trace is always kept (default 1, or OTEL_TRACES_SAMPLER)')),
    serviceName: v.pipe(v.optional(nonEmpty), v.description('service.name of the spans (default OTEL_SERVICE_NAME, else tokenrelay)')),
  })), v.description('Traces of every request, upstream attempt, token fetch and resend (OpenTelemetry)')),
  /** Where tokens are cached: this process's memory, or a Redis shared by every replica. */
  tokenCache: v.optional(v.variant('type', [
    v.strictObject({ type: v.literal('memory') }),
    v.strictObject({
      type: v.literal('redis'),
      url: v.pipe(v.optional(nonEmpty), v.description('redis://[:password@]host:port/db or rediss:// for TLS.')),
      options: v.pipe(v.optional(v.record(v.string(), v.unknown())), v.description('Passed to ioredis as they are: sentinels, name, password, tls, db…')),
      cluster: v.optional(v.strictObject({
        nodes: v.pipe(v.array(v.union([v.string(), v.strictObject({ host: v.string(), port: v.pipe(v.number(), v.integer()) })])), v.minLength(1, 'expected at least one node')),
        options: v.optional(v.record(v.string(), v.unknown())),
      })),
      keyPrefix: v.pipe(v.optional(v.string(), 'tokenrelay:'), v.description('Prefix of every Redis key tokenrelay writes')),
      encryptionKey: v.pipe(v.optional(v.string()), v.description('32 random bytes in base64 (openssl rand -base64 32): tokens are stored AES-256-GCM encrypted.')),
      encryptionKeyFile: v.pipe(v.optional(nonEmpty), v.description('A file holding encryptionKey')),
    }),
  ]), { type: 'memory' }),
  admin: v.pipe(v.optional(v.strictObject({ host: v.pipe(v.optional(nonEmpty), v.description('Admin listener host; default: listen.host')), port: v.pipe(intFromEnv(0, 65535), v.description('Admin port')) })), v.description('Admin endpoints (/healthz, /readyz, /metrics) on their own port; absent: on the main port.')),
  readiness: v.optional(v.strictObject({
    requireTokens: v.pipe(v.optional(v.boolean(), false), v.description('true: /readyz is 503 until every upstream with credentials holds a token (fetched at start).')),
  }), {}),
  reload: v.optional(v.strictObject({
    watch: v.pipe(v.optional(v.boolean(), true), v.description('Reload when the config file or a secret file it names changes (SIGHUP always reloads).')),
    interval: v.pipe(v.optional(duration, 1000), v.description('How often watched files are checked.')),
  }), {}),
  shutdown: v.optional(v.strictObject({
    gracePeriod: v.pipe(v.optional(duration, 10_000), v.description('How long in-flight requests may run after SIGTERM before connections are closed.')),
  }), {}),
});

export type RawConfig = v.InferOutput<typeof configSchema>;
export type RawUpstream = RawConfig['upstreams'][string];
