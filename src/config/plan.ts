/**
 * The parts of a config checked and compiled beyond the schema: each upstream's provider,
 * credentials, injection and limits; prefixes; inbound keys; the token cache.
 */
import { providerFor } from './auth-types.js';
import type { RawConfig, RawUpstream } from './schema.js';
import type { CredentialsPlan, InboundPlan, TokenCachePlan, UpstreamPlan } from './types.js';
import type { Unresolved } from './env.js';
import { placeholders, schemeTemplate, type ExpiredWhen, type ProviderSpec } from './providers.js';
import { parseKey } from '../util/secret-box.js';

export const ADMIN_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

export function planTokenCache(raw: RawConfig['tokenCache'], readFile: (p: string) => string, problems: string[]): TokenCachePlan {
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

/** Why a `${VAR}` gave nothing: unset, or set to the empty string. */
export function unsetText(u: Unresolved): string {
  return `environment variable ${u.variable} ${u.empty ? 'is empty' : 'is not set'}`;
}

/** A secret held in a file: its text, or what is wrong with it (never the content). */
export function readSecretFile(readFile: (p: string) => string, file: string): string | { problem: string } {
  try {
    // Trailing newlines are what `echo > file` and most secret tooling leave behind.
    const v = readFile(file).replace(/[\r\n]+$/, '');
    return v === '' ? { problem: `file ${file} is empty` } : v;
  } catch (err) {
    return { problem: `file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}` };
  }
}

export function referencedFiles(raw: RawConfig): string[] {
  const files = new Set<string>(raw.inbound?.apiKeyFiles ?? []);
  for (const t of Object.values(raw.tenants)) {
    for (const f of t.keyFiles) files.add(f);
    for (const c of Object.values(t.credentials ?? {})) for (const [k, v] of Object.entries(c)) if (k.endsWith('File') && v) files.add(v);
  }
  for (const u of Object.values(raw.upstreams)) {
    for (const [k, v] of Object.entries(u.auth)) if (k.endsWith('File') && typeof v === 'string') files.add(v);
    if (u.auth.type === 'custom') for (const f of Object.values(u.auth.credentialsFiles ?? {})) files.add(f);
    if (u.tls?.ca && !u.tls.ca.includes('-----BEGIN')) files.add(u.tls.ca);
  }
  return [...files];
}

export function planInbound(
  raw: NonNullable<RawConfig['inbound']>, unresolved: Unresolved[], readFile: (p: string) => string,
): InboundPlan {
  const keys: string[] = [];
  const missing: string[] = [];
  raw.apiKeys.forEach((k, i) => {
    if (k) keys.push(k);
    else {
      const u = unresolved.find((x) => x.path === `inbound.apiKeys.${i}`);
      missing.push(u ? `inbound.apiKeys.${i} (${unsetText(u)})` : `inbound.apiKeys.${i} (empty)`);
    }
  });
  for (const f of raw.apiKeyFiles) {
    const k = readSecretFile(readFile, f);
    if (typeof k === 'string') keys.push(k);
    else missing.push(`inbound.apiKeyFiles (${k.problem})`);
  }
  return { keys, header: raw.header.toLowerCase(), missing };
}

export function planUpstream(
  name: string, u: RawUpstream, unresolved: Unresolved[], readFile: (p: string) => string, problems: string[],
): UpstreamPlan {
  const base = `upstreams.${name}`;
  const { spec, sources, tokenUrl } = providerFor(u.auth, base);
  const { values, missing, present } = gatherCredentials(sources, unresolved, readFile);
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
    credentials: values,
    missing,
    present,
    ca,
    timeoutMs: u.timeout,
    tokenTimeoutMs: u.tokenTimeout,
    bodyTimeoutMs: u.bodyTimeout,
    allow: u.allow?.map(allowRule),
    rateLimit: u.rateLimit && ratePlan(u.rateLimit.requestsPerSecond, u.rateLimit.burst),
  };
}

/** `"GET /api/"` as a method and a path prefix. */
export function allowRule(rule: string): { method: string; path: string } {
  const [method, path] = rule.split(' ') as [string, string];
  return { method, path };
}

/** A token bucket's plan; the burst defaults to one second's worth (at least one call). */
export function ratePlan(perSecond: number, burst: number | undefined): { perSecond: number; burst: number } {
  return { perSecond, burst: burst ?? Math.max(1, Math.ceil(perSecond)) };
}

/** Each credential from its value, or its file, or what is missing (naming the variable or file). */
export function gatherCredentials(
  sources: ReadonlyArray<{ name: string; direct: unknown; file: unknown; path: string }>, unresolved: Unresolved[], readFile: (p: string) => string,
): CredentialsPlan {
  const credentials: Record<string, string> = {};
  const missing: string[] = [];
  const present: string[] = [];
  for (const { name: cred, direct, file, path } of sources) {
    if (typeof direct === 'string' && direct !== '') {
      credentials[cred] = direct;
    } else if (typeof file === 'string') {
      const v = readSecretFile(readFile, file);
      if (typeof v === 'string') credentials[cred] = v;
      else missing.push(`${cred} (${v.problem})`);
    } else {
      const u2 = unresolved.find((x) => x.path === path);
      missing.push(u2 ? `${cred} (${unsetText(u2)})` : `${cred} (not configured)`);
    }
    if (credentials[cred] !== undefined) present.push(cred);
  }
  return { values: missing.length ? undefined : credentials, missing, present };
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

export function checkPrefixes(upstreams: ReadonlyArray<{ name: string; prefix: string }>, problems: string[]): void {
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

