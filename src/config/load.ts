/**
 * Turns the YAML file into a frozen, validated plan once, at start: env placeholders filled,
 * schema checked, secrets read from env or files, prefixes checked, provider defaults merged
 * with overrides. Nothing here runs per request.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import * as v from 'valibot';
import { configSchema } from './schema.js';
import { interpolate, type Unresolved } from './env.js';
import { ConfigError } from '../util/errors.js';
import { formatIssue } from './format.js';
import { checkPrefixes, planInbound, planTokenCache, planUpstream, referencedFiles } from './plan.js';
import { checkKeysUnique, planTenants } from './tenants.js';
import { planTracing } from './tracing.js';
import { CREDENTIAL_KEYS } from './providers.js';
import type { RelayConfig } from './types.js';

export { ADMIN_PATHS } from './plan.js';
export type { InboundPlan, RelayConfig, ReplayLimits, TokenCachePlan, UpstreamPlan } from './types.js';


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
  const parsed = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'silent' });
  // The first syntax error only: the ones after it are mostly echoes of it.
  const first = parsed.errors[0] ?? parsed.warnings[0];
  if (first) {
    const at = first.linePos ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}` : '';
    throw new ConfigError([`config: not valid YAML${at}: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`]);
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

  const parsed = v.safeParse(configSchema, filled, { abortEarly: false });
  if (!parsed.success) {
    for (const issue of parsed.issues) {
      if (!fatalPaths.has((issue.path ?? []).map((p) => String(p.key)).join('.'))) problems.push(...formatIssue(issue, configSchema, filled));
    }
    // Every problem in one pass: the prefix rules too, on what the file says.
    checkPrefixes(rawPrefixes(filled), problems);
    throw new ConfigError(unique(problems));
  }
  if (problems.length) throw new ConfigError(unique(problems));
  // SECURITY: loopback unless told otherwise. The image says otherwise (TOKENRELAY_LISTEN_HOST=
  // 0.0.0.0): Docker forwards a published port to the container's interface, not its loopback.
  const raw = { ...parsed.output, listen: { ...parsed.output.listen, host: parsed.output.listen.host ?? (env.TOKENRELAY_LISTEN_HOST || '127.0.0.1') } };
  const upstreams = Object.entries(raw.upstreams).map(([name, u]) => planUpstream(name, u, unresolved, readFile, problems));
  checkPrefixes(upstreams, problems);
  const tokenCache = planTokenCache(raw.tokenCache, readFile, problems);
  const tenants = planTenants(raw.tenants, upstreams, unresolved, readFile, problems);
  // Tenants turn inbound authentication on, with inbound's header (or its default).
  const inbound = raw.inbound ? planInbound(raw.inbound, unresolved, readFile)
    : tenants.length ? { keys: [], header: 'x-tokenrelay-key', missing: [] } : undefined;
  checkKeysUnique(tenants, inbound, problems);
  const tracing = planTracing(raw.tracing, env, problems);
  if (raw.admin && raw.admin.port !== 0 && raw.admin.port === raw.listen.port && (raw.admin.host ?? raw.listen.host) === raw.listen.host) {
    problems.push(`admin.port: ${raw.admin.port} is listen.port too; the admin endpoints need a port of their own`);
  }
  if (problems.length) throw new ConfigError(unique(problems));
  return deepFreeze({
    listen: raw.listen,
    logLevel: raw.logLevel,
    // Longest first, so a more specific prefix wins (nesting is refused, but keep the rule).
    upstreams: upstreams.sort((a, b) => b.prefix.length - a.prefix.length),
    replay: raw.replay,
    limits: raw.limits,
    inbound,
    tenants,
    tracing,
    trustForwardedFrom: raw.trustForwardedFrom,
    admin: raw.admin && { host: raw.admin.host ?? raw.listen.host, port: raw.admin.port },
    readiness: raw.readiness,
    reload: { watch: raw.reload.watch, intervalMs: raw.reload.interval },
    tokenCache,
    gracePeriodMs: raw.shutdown.gracePeriod,
    files: referencedFiles(raw),
  } satisfies RelayConfig);
}

/** Each problem once (two checks on one value can say the same thing). */
const unique = (problems: string[]) => [...new Set(problems)];

/** The upstreams' names and prefixes as written, for the prefix rules when the schema failed. */
function rawPrefixes(doc: unknown): Array<{ name: string; prefix: string }> {
  const ups = (doc as { upstreams?: unknown } | null)?.upstreams;
  if (!ups || typeof ups !== 'object') return [];
  return Object.entries(ups as Record<string, { prefix?: unknown } | null>)
    .filter(([, u]) => typeof u?.prefix === 'string')
    .map(([name, u]) => ({ name, prefix: u!.prefix as string }));
}

/** Values whose absence disables a feature instead of failing start: credentials and inbound keys. */
function isSecretPath(path: string): boolean {
  return CREDENTIAL_KEYS.has(path.split('.').at(-1) ?? '') || /^inbound\.apiKeys\.\d+$/.test(path)
    || /^tenants\.[^.]+\.keys\.\d+$/.test(path) || /^tenants\.[^.]+\.credentials\./.test(path)
    || /^upstreams\.[^.]+\.auth\.credentials\./.test(path);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !(o instanceof URL) && !ArrayBuffer.isView(o) && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
