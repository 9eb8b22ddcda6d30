/**
 * `tokenrelay check`: what the config means, per upstream, without serving: route, target, auth
 * type and which secrets are present (names only); with `fetch`, one token fetch each with its
 * outcome, lifetime and latency. Never prints a secret or a token.
 */
import { Agent } from '../util/undici.js';
import type { RelayConfig } from '../config/types.js';
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
      if (!u.credentials) row.fetch = { outcome: 'skipped: credentials missing', lifetime: '-', latencyMs: null };
      else if (!u.tokenUrl) row.fetch = { outcome: 'ok (static: nothing to fetch)', lifetime: '-', latencyMs: null };
      else {
        const dispatcher = new Agent(u.ca ? { connect: { ca: u.ca } } : {});
        const t0 = performance.now();
        try {
          const answer = await fetchTokenAnswer(u.tokenUrl, u.provider.request, u.credentials, { dispatcher, timeoutMs: u.tokenTimeoutMs });
          const grant = parseTokenAnswer(answer, u.provider.response, {
            defaultLifetimeMs: u.provider.defaultLifetimeMs, nowMs: Date.now(), secrets: Object.values(u.credentials),
          });
          row.fetch = { outcome: 'ok', lifetime: `${humanDuration(grant.lifetimeMs)} (${grant.lifetimeSource})`, latencyMs: Math.round(performance.now() - t0) };
        } catch (err) {
          ok = false;
          const e = err instanceof TokenRelayError ? err : new TokenRelayError('TOKEN_FETCH_FAILED');
          row.fetch = { outcome: `${e.code}: ${e.message}`, lifetime: '-', latencyMs: Math.round(performance.now() - t0) };
        } finally {
          await dispatcher.destroy();
        }
      }
    }
    rows.push(row);
  }
  const head = ['UPSTREAM', 'ROUTE', 'TARGET', 'AUTH', 'SECRETS'];
  const lines = [table([head, ...rows.map((r) => [r.upstream, r.route, r.target, r.auth, r.secrets])])];
  if (fetch) {
    lines.push('', table([['UPSTREAM', 'LATENCY', 'LIFETIME', 'OUTCOME'], ...rows.map((r) => [
      r.upstream, r.fetch?.latencyMs == null ? '-' : `${r.fetch.latencyMs}ms`, r.fetch?.lifetime ?? '-', r.fetch?.outcome ?? '-',
    ])]));
  }
  lines.push('', ok ? 'OK' : 'FAILED');
  return { ok, text: `${lines.join('\n')}\n`, rows };
}
