/**
 * Turns the YAML file into a frozen, validated plan once, at start: env placeholders filled,
 * schema checked, secrets read from env or files, prefixes checked, provider defaults merged
 * with overrides. Nothing here runs per request.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type RawConfig, type RawUpstream } from './config-schema.js';
import { interpolate, type Unresolved } from './env.js';
import { ConfigError } from './errors.js';
import { providerFor } from './auth-types.js';
import { CREDENTIAL_KEYS, placeholders, schemeTemplate, type ExpiredWhen, type ProviderSpec } from './providers.js';
import type { ReplayLimits } from './replay.js';
import { parseKey } from './secret-box.js';

export const ADMIN_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

export interface UpstreamPlan {
  name: string;
  prefix: string;
  target: URL;
  /** The target's own path ('' or '/base'), put before the rest of the client's path. */
  basePath: string;
  provider: ProviderSpec;
  /** Undefined for `static` (no token endpoint). */
  tokenUrl: URL | undefined;
  /** The header and what goes around the token in it (compiled from the inject template). */
  inject: { header: string; prefix: string; suffix: string };
  expiredWhen: ExpiredWhen;
  /** Credential values by name, or undefined when any is missing. SECURITY: never log this. */
  credentials: Readonly<Record<string, string>> | undefined;
  /** What is missing, naming variables or files, never values. */
  missing: string[];
  /** Which credentials are present (names only), for `check` and the start log. */
  present: string[];
  ca: string | undefined;
  timeoutMs: number;
  tokenTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Calls this upstream forwards; undefined: all. */
  allow: { method: string; path: string }[] | undefined;
}

export interface InboundPlan {
  /** SECURITY: accepted client keys; never logged. Empty: every request is refused (fail closed). */
  keys: string[];
  /** Lowercase header name. */
  header: string;
  /** Keys configured but unset (variables or files), by name. */
  missing: string[];
}

export type TokenCachePlan =
  | { type: 'memory' }
  | {
    type: 'redis'; url?: string; options?: Record<string, unknown>;
    cluster?: { nodes: Array<string | { host: string; port: number }>; options?: Record<string, unknown> };
    keyPrefix: string;
    /** SECURITY: the encryption key. Never logged. */
    key: Buffer;
  };

export interface RelayConfig {
  listen: { host: string; port: number };
  logLevel: string | undefined;
  upstreams: UpstreamPlan[];
  replay: ReplayLimits;
  limits: {
    maxBodyBytes: number;
    maxConcurrentPerUpstream: number;
    maxQueuePerUpstream: number;
    maxHeaderBytes: number;
    inspectBytes: number;
  };
  inbound: InboundPlan | undefined;
  admin: { host: string; port: number } | undefined;
  readiness: { requireTokens: boolean };
  reload: { watch: boolean; intervalMs: number };
  tokenCache: TokenCachePlan;
  gracePeriodMs: number;
  /** Files this config reads (secrets, CAs, keys): a change to any of them triggers a reload. */
  files: string[];
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  readFile?: (path: string) => string;
}

const defaultReadFile = (p: string) => readFileSync(p, 'utf8');

export function loadConfigFile(path: string, opts: LoadOptions = {}): RelayConfig {
  let text: string;
  try {
    text = (opts.readFile ?? defaultReadFile)(path);
  } catch (err) {
    throw new ConfigError([`config: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  return loadConfigText(text, opts);
}

export function loadConfigText(text: string, opts: LoadOptions = {}): RelayConfig {
  // Warnings (an unknown !tag, say) are problems too: a config must mean exactly what it says.
  const parsed = parseDocument(text, { prettyErrors: false, uniqueKeys: true, logLevel: 'silent' });
  const issues = [...parsed.errors, ...parsed.warnings];
  if (issues.length) {
    throw new ConfigError(issues.map((e) => `config: not valid YAML: ${e.message.split('\n')[0]}${e.linePos ? ` (line ${e.linePos[0].line})` : ''}`));
  }
  let doc: unknown;
  try {
    // maxAliasCount: a "billion laughs" file is refused, not expanded.
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`config: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (doc === null || doc === undefined) doc = {};
  return compileConfig(doc, opts);
}

export function compileConfig(doc: unknown, opts: LoadOptions = {}): RelayConfig {
  const env = opts.env ?? process.env;
  const readFile = opts.readFile ?? defaultReadFile;
  const unresolved: Unresolved[] = [];
  const filled = interpolate(doc, env, unresolved);
  const problems: string[] = [];
  // An unset secret only disables its upstream; anything else unset is a config error.
  const fatalUnset = unresolved.filter((u) => !isSecretPath(u.path));
  for (const u of fatalUnset) problems.push(`${u.path}: environment variable ${u.variable} is not set`);
  const fatalPaths = new Set(fatalUnset.map((u) => u.path));

  const parsed = configSchema.safeParse(filled);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (!fatalPaths.has(issue.path.join('.'))) problems.push(...formatIssue(issue, filled));
    }
    throw new ConfigError(problems);
  }
  if (problems.length) throw new ConfigError(problems);
  const raw = parsed.data;
  const upstreams = Object.entries(raw.upstreams).map(([name, u]) => planUpstream(name, u, unresolved, readFile, problems));
  checkPrefixes(upstreams, problems);
  const tokenCache = planTokenCache(raw.tokenCache, readFile, problems);
  if (raw.admin && raw.admin.port !== 0 && raw.admin.port === raw.listen.port && (raw.admin.host ?? raw.listen.host) === raw.listen.host) {
    problems.push(`admin.port: ${raw.admin.port} is listen.port too; the admin endpoints need a port of their own`);
  }
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze({
    listen: raw.listen,
    logLevel: raw.logLevel,
    // Longest first, so a more specific prefix wins (nesting is refused, but keep the rule).
    upstreams: upstreams.sort((a, b) => b.prefix.length - a.prefix.length),
    replay: raw.replay,
    limits: raw.limits,
    inbound: raw.inbound && planInbound(raw.inbound, unresolved, readFile),
    admin: raw.admin && { host: raw.admin.host ?? raw.listen.host, port: raw.admin.port },
    readiness: raw.readiness,
    reload: { watch: raw.reload.watch, intervalMs: raw.reload.interval },
    tokenCache,
    gracePeriodMs: raw.shutdown.gracePeriod,
    files: referencedFiles(raw),
  } satisfies RelayConfig);
}

function planTokenCache(raw: RawConfig['tokenCache'], readFile: (p: string) => string, problems: string[]): TokenCachePlan {
  if (raw.type === 'memory') return raw;
  if (!raw.url && !raw.options && !raw.cluster) problems.push('tokenCache.url: required for type redis (or tokenCache.options / tokenCache.cluster)');
  let text = raw.encryptionKey;
  if (text === undefined && raw.encryptionKeyFile) {
    try {
      text = readFile(raw.encryptionKeyFile).trim();
    } catch (err) {
      problems.push(`tokenCache.encryptionKeyFile: cannot read "${raw.encryptionKeyFile}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return { ...raw, key: Buffer.alloc(0) };
    }
  }
  const key = text === undefined ? undefined : parseKey(text);
  if (text === undefined) problems.push('tokenCache.encryptionKey: required for type redis: tokens are stored encrypted (make one: openssl rand -base64 32)');
  else if (!key) problems.push('tokenCache.encryptionKey: expected 32 random bytes in base64 (openssl rand -base64 32), got <redacted>');
  const { encryptionKey: _k, encryptionKeyFile: _f, ...rest } = raw;
  return { ...rest, key: key ?? Buffer.alloc(0) };
}

function referencedFiles(raw: RawConfig): string[] {
  const files = new Set<string>(raw.inbound?.apiKeyFiles ?? []);
  for (const u of Object.values(raw.upstreams)) {
    for (const [k, v] of Object.entries(u.auth)) if (k.endsWith('File') && typeof v === 'string') files.add(v);
    if (u.auth.type === 'custom') for (const f of Object.values(u.auth.credentialsFiles ?? {})) files.add(f);
    if (u.tls?.ca && !u.tls.ca.includes('-----BEGIN')) files.add(u.tls.ca);
  }
  return [...files];
}

/** Values whose absence disables a feature instead of failing start: credentials and inbound keys. */
function isSecretPath(path: string): boolean {
  return CREDENTIAL_KEYS.has(path.split('.').at(-1) ?? '') || /^inbound\.apiKeys\.\d+$/.test(path)
    || /^upstreams\.[^.]+\.auth\.credentials\./.test(path);
}

function planInbound(
  raw: NonNullable<RawConfig['inbound']>, unresolved: Unresolved[], readFile: (p: string) => string,
): InboundPlan {
  const keys: string[] = [];
  const missing: string[] = [];
  raw.apiKeys.forEach((k, i) => {
    if (k) keys.push(k);
    else {
      const u = unresolved.find((x) => x.path === `inbound.apiKeys.${i}`);
      missing.push(u ? `inbound.apiKeys.${i} (environment variable ${u.variable} is not set)` : `inbound.apiKeys.${i} (empty)`);
    }
  });
  for (const f of raw.apiKeyFiles) {
    try {
      const k = readFile(f).replace(/[\r\n]+$/, '');
      if (k) keys.push(k);
      else missing.push(`inbound.apiKeyFiles (file ${f} is empty)`);
    } catch (err) {
      missing.push(`inbound.apiKeyFiles (file ${f}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  }
  return { keys, header: raw.header.toLowerCase(), missing };
}

function planUpstream(
  name: string, u: RawUpstream, unresolved: Unresolved[], readFile: (p: string) => string, problems: string[],
): UpstreamPlan {
  const base = `upstreams.${name}`;
  const { spec, sources, tokenUrl } = providerFor(u.auth, base);
  const credentials: Record<string, string> = {};
  const missing: string[] = [];
  const present: string[] = [];
  for (const { name: cred, direct, file, path } of sources) {
    if (typeof direct === 'string' && direct !== '') {
      credentials[cred] = direct;
    } else if (typeof file === 'string') {
      try {
        // Trailing newlines are what `echo > file` and most secret tooling leave behind.
        const v = readFile(file).replace(/[\r\n]+$/, '');
        if (v === '') missing.push(`${cred} (file ${file} is empty)`);
        else credentials[cred] = v;
      } catch (err) {
        missing.push(`${cred} (file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
      }
    } else {
      const u2 = unresolved.find((x) => x.path === path);
      missing.push(u2 ? `${cred} (environment variable ${u2.variable} is not set)` : `${cred} (not configured)`);
    }
    if (credentials[cred] !== undefined) present.push(cred);
  }
  checkTemplates(spec, base, problems);
  const target = new URL(u.target);
  if (target.search || target.hash) problems.push(`${base}.target: expected a URL without query or fragment, got "${u.target}"`);
  let ca: string | undefined;
  if (u.tls?.ca) {
    if (u.tls.ca.includes('-----BEGIN')) ca = u.tls.ca;
    else {
      try {
        ca = readFile(u.tls.ca);
      } catch (err) {
        problems.push(`${base}.tls.ca: cannot read "${u.tls.ca}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
  }
  const basePath = target.pathname.replace(/\/+$/, '');
  const a = u.auth as { header?: string; scheme?: string; expiredWhen?: Partial<ExpiredWhen> };
  // Presets and oauth2 take `header`/`scheme` overrides; custom and static say it in their own keys.
  const template = a.scheme !== undefined && spec.type !== 'static' ? schemeTemplate(a.scheme) : spec.inject.template;
  const header = (spec.type !== 'static' && a.header) || spec.inject.header;
  const [prefix, suffix = ''] = template.split('{token}') as [string, string?];
  const defaults = spec.expiredWhen;
  return {
    name,
    prefix: u.prefix,
    target,
    basePath,
    provider: spec,
    tokenUrl: spec.static ? undefined : new URL(tokenUrl ?? `${target.origin}${basePath}${spec.tokenPath ?? ''}`),
    inject: { header: header.toLowerCase(), prefix, suffix },
    expiredWhen: {
      status: a.expiredWhen?.status ?? defaults.status,
      bodyCodes: a.expiredWhen?.bodyCodes ?? defaults.bodyCodes,
      bodyCodePath: a.expiredWhen?.bodyCodePath ?? defaults.bodyCodePath,
      ...(defaults.bearerChallenge ? { bearerChallenge: true } : {}),
    },
    credentials: missing.length ? undefined : credentials,
    missing,
    present,
    ca,
    timeoutMs: u.timeout,
    tokenTimeoutMs: u.tokenTimeout,
    bodyTimeoutMs: u.bodyTimeout,
    allow: u.allow?.map((rule) => {
      const [method, path] = rule.split(' ') as [string, string];
      return { method, path };
    }),
  };
}

/** Every `{name}` in a token request must be one of the provider's credentials. */
function checkTemplates(spec: ProviderSpec, base: string, problems: string[]): void {
  const known = new Set(spec.credentials);
  const r = spec.request;
  const check = (where: string, t: string) => {
    for (const p of placeholders(t)) if (!known.has(p)) problems.push(`${base}.auth.${where}: unknown placeholder {${p}} (credentials: ${[...known].join(', ') || 'none'})`);
  };
  for (const [k, v] of Object.entries(r.body?.fields ?? {})) check(`request.body.fields.${k}`, v);
  for (const [k, v] of Object.entries(r.headers ?? {})) check(`request.headers.${k}`, v);
  if (r.basicAuth) {
    check('request.basicAuth.username', r.basicAuth.username);
    check('request.basicAuth.password', r.basicAuth.password);
  }
}

const PREFIX = /^(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+$/;

function checkPrefixes(upstreams: UpstreamPlan[], problems: string[]): void {
  for (const u of upstreams) {
    const at = `upstreams.${u.name}.prefix`;
    if (!PREFIX.test(u.prefix) || u.prefix.split('/').some((s) => s === '.' || s === '..')) {
      problems.push(`${at}: expected a path such as "/akool" (segments, no trailing slash), got ${JSON.stringify(u.prefix)}`);
      continue;
    }
    if ((ADMIN_PATHS as readonly string[]).some((a) => covers(u.prefix, a) || covers(a, u.prefix))) {
      problems.push(`${at}: "${u.prefix}" collides with the admin endpoints (${ADMIN_PATHS.join(', ')})`);
    }
  }
  for (let i = 0; i < upstreams.length; i++) {
    for (let j = 0; j < upstreams.length; j++) {
      const a = upstreams[i]!;
      const b = upstreams[j]!;
      if (i === j) continue;
      if (a.prefix === b.prefix && i < j) problems.push(`upstreams.${b.name}.prefix: "${b.prefix}" duplicates upstreams.${a.name}.prefix`);
      else if (a.prefix !== b.prefix && covers(a.prefix, b.prefix)) {
        problems.push(`upstreams.${b.name}.prefix: "${b.prefix}" is nested under upstreams.${a.name}.prefix "${a.prefix}"`);
      }
    }
  }
}

/** True when `outer` matches `inner` by whole segments (`/a` covers `/a` and `/a/b`, not `/ab`). */
function covers(outer: string, inner: string): boolean {
  return inner === outer || inner.startsWith(`${outer}/`);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

function show(path: readonly PropertyKey[], value: unknown): string {
  // SECURITY: a wrongly-typed secret is still a secret.
  const last = String(path.at(-1));
  if (CREDENTIAL_KEYS.has(last) || ['url', 'encryptionKey', 'password', 'apiKeys'].includes(last)
    || path.includes('apiKeys') || path.includes('credentials')) return '<redacted>';
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function formatIssue(issue: z.core.$ZodIssue, root: unknown): string[] {
  const at = (p: readonly PropertyKey[]) => (p.length ? p.join('.') : 'config');
  const value = valueAt(root, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => `${at([...issue.path, k])}: unknown key`);
    case 'invalid_union':
      if ('options' in issue && Array.isArray(issue.options)) {
        return [`${at(issue.path)}: expected ${issue.options.join(' | ')}, got ${show(issue.path, value)}`];
      }
      return [`${at(issue.path)}: ${issue.message}, got ${show(issue.path, value)}`];
    case 'invalid_type':
      return [`${at(issue.path)}: expected ${issue.expected}, got ${show(issue.path, value)}`];
    case 'invalid_format':
      return [`${at(issue.path)}: expected ${issue.format === 'url' ? 'an http(s) URL' : issue.format}, got ${show(issue.path, value)}`];
    default:
      return [`${at(issue.path)}: ${issue.message}, got ${show(issue.path, value)}`];
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof URL) && !ArrayBuffer.isView(o) && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
