/**
 * `tokenrelay check`: what the config means, per upstream, without serving: route, target, auth
 * type and which secrets are present (names only); per tenant, its upstreams, accounts, keys and
 * limits; with `fetch`, one token fetch per account (the upstreams' and the tenants' own) with its
 * outcome, lifetime and latency. Never prints a secret, a key or a token.
 */
import { Agent } from '../util/undici.js';
import type { RelayConfig, TenantPlan, UpstreamPlan } from '../config/types.js';
import { TokenRelayError } from '../util/errors.js';
import { parseTokenAnswer } from '../tokens/token-answer.js';
import { fetchTokenAnswer } from '../tokens/token-client.js';

export interface CheckRow {
  upstream: string;
  route: string;
  target: string;
  auth: string;
  secrets: string;
  fetch?: { outcome: string; lifetime: string; latencyMs: number | null };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s >= 86400) return `${Number((s / 86400).toFixed(1))}d`;
  if (s >= 3600) return `${Number((s / 3600).toFixed(1))}h`;
  if (s >= 60) return `${Math.round(s / 60)}m`;
  return `${s}s`;
}

export async function runCheck(config: RelayConfig, { fetch = false }: { fetch?: boolean } = {}): Promise<{ ok: boolean; text: string; rows: CheckRow[] }> {
  let ok = true;
  const rows: CheckRow[] = [];
  for (const u of config.upstreams) {
    // Why a secret is missing (unset, empty, EACCES…), as the server's start log says it.
    const why = (c: string) => u.missing.find((m) => m.startsWith(`${c} (`))?.slice(c.length + 1) ?? '';
    const secrets = u.provider.credentials.map((c) => (u.present.includes(c) ? `${c} present` : `${c} MISSING ${why(c)}`.trimEnd())).join(', ');
    if (!u.credentials) ok = false;
    const row: CheckRow = { upstream: u.name, route: `${u.prefix}/*`, target: u.target.origin + u.basePath, auth: u.provider.type, secrets };
    if (fetch) {
      row.fetch = await fetchOnce(u, u.credentials);
      if (row.fetch.outcome !== 'ok' && !row.fetch.outcome.startsWith('ok ')) ok = false;
    }
    rows.push(row);
  }
  const tenantRows: CheckRow[] = [];
  for (const t of config.tenants) {
    for (const [name, creds] of Object.entries(t.credentials)) {
      const u = config.upstreams.find((x) => x.name === name);
      if (!u) continue;
      if (!creds.values) ok = false;
      const row: CheckRow = { upstream: `${name} (tenant ${t.name})`, route: '', target: '', auth: u.provider.type, secrets: '' };
      if (fetch) {
        row.fetch = await fetchOnce(u, creds.values);
        if (row.fetch.outcome !== 'ok' && !row.fetch.outcome.startsWith('ok ')) ok = false;
      }
      tenantRows.push(row);
    }
    if (!t.keys.length) ok = false;
  }
  const head = ['UPSTREAM', 'ROUTE', 'TARGET', 'AUTH', 'SECRETS'];
  const lines = [table([head, ...rows.map((r) => [r.upstream, r.route, r.target, r.auth, r.secrets])])];
  if (config.tenants.length) lines.push('', table([['TENANT', 'UPSTREAMS', 'ACCOUNTS', 'KEYS', 'LIMITS'], ...config.tenants.map((t) => tenantLine(t, config.upstreams))]));
  rows.push(...tenantRows);
  if (fetch) {
    lines.push('', table([['UPSTREAM', 'LATENCY', 'LIFETIME', 'OUTCOME'], ...rows.map((r) => [
      r.upstream, r.fetch?.latencyMs == null ? '-' : `${r.fetch.latencyMs}ms`, r.fetch?.lifetime ?? '-', r.fetch?.outcome ?? '-',
    ])]));
  }
  lines.push('', ok ? 'OK' : 'FAILED');
  return { ok, text: `${lines.join('\n')}\n`, rows };
}

/** One token fetch with an account's credentials: outcome, lifetime and latency, never the token. */
async function fetchOnce(u: UpstreamPlan, credentials: Readonly<Record<string, string>> | undefined): Promise<NonNullable<CheckRow['fetch']>> {
  if (!credentials) return { outcome: 'skipped: credentials missing', lifetime: '-', latencyMs: null };
  if (!u.tokenUrl) return { outcome: 'ok (static: nothing to fetch)', lifetime: '-', latencyMs: null };
  const dispatcher = new Agent(u.ca ? { connect: { ca: u.ca } } : {});
  const t0 = performance.now();
  try {
    const answer = await fetchTokenAnswer(u.tokenUrl, u.provider.request, credentials, { dispatcher, timeoutMs: u.tokenTimeoutMs });
    const grant = parseTokenAnswer(answer, u.provider.response, {
      defaultLifetimeMs: u.provider.defaultLifetimeMs, nowMs: Date.now(), secrets: Object.values(credentials),
    });
    return { outcome: 'ok', lifetime: `${humanDuration(grant.lifetimeMs)} (${grant.lifetimeSource})`, latencyMs: Math.round(performance.now() - t0) };
  } catch (err) {
    const e = err instanceof TokenRelayError ? err : new TokenRelayError('TOKEN_FETCH_FAILED');
    return { outcome: `${e.code}: ${e.message}`, lifetime: '-', latencyMs: Math.round(performance.now() - t0) };
  } finally {
    await dispatcher.destroy();
  }
}

/** A tenant as `check` shows it: names, credential states and limits; SECURITY: never a key or a secret. */
function tenantLine(t: TenantPlan, upstreams: readonly UpstreamPlan[]): string[] {
  const callable = t.upstreams ?? upstreams.map((u) => u.name);
  const accounts = callable.map((name) => {
    const own = t.credentials[name];
    if (!own) return `${name}: upstream's`;
    const u = upstreams.find((x) => x.name === name);
    const state = (u?.provider.credentials ?? []).map((c) => (own.present.includes(c) ? `${c} present` : `${c} MISSING ${own.missing.find((m) => m.startsWith(`${c} (`))?.slice(c.length + 1) ?? ''}`.trimEnd()));
    return `${name}: own (${state.join(', ')})`;
  }).join('; ');
  const keys = `${t.keys.length} set${t.missingKeys.length ? `, MISSING ${t.missingKeys.join(', ')}` : ''}`;
  const l = t.limits;
  const limits = [
    l.rate ? `${l.rate.perSecond}/s burst ${l.rate.burst}` : '',
    l.concurrent !== undefined ? `${l.concurrent} in flight` : '',
    l.quota ? `${l.quota.requests}/${l.quota.per}` : '',
  ].filter(Boolean).join(', ') || 'none';
  const allow = Object.keys(t.allow).length ? ` (allow narrowed: ${Object.keys(t.allow).join(', ')})` : '';
  return [t.name, `${callable.join(', ')}${allow}`, accounts, keys, limits];
}
