/** Schema issues as one line each: the config path, what was expected, and the bad value (never a secret). */
import type { BaseIssue } from 'valibot';
import { CREDENTIAL_KEYS } from './providers.js';

function show(path: readonly PropertyKey[], value: unknown): string {
  // SECURITY: a wrongly-typed secret is still a secret.
  const last = String(path.at(-1));
  if (CREDENTIAL_KEYS.has(last) || ['url', 'encryptionKey', 'password', 'apiKeys'].includes(last)
    || path.includes('apiKeys') || path.includes('credentials')) return '<redacted>';
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** The keys a (strict) object schema allows at `path` in `doc`, for "did you mean". */
function keysAt(schema: unknown, path: readonly PropertyKey[], doc: unknown): string[] {
  let s = schema as Schemaish | undefined;
  let d = doc;
  const unwrap = () => {
    while (s && (s.wrapped || s.pipe)) s = s.wrapped ?? s.pipe![0];
    if (s?.options && d && typeof d === 'object') {
      const key = s.key ?? 'type';
      s = s.options.find((o) => o.entries?.[key]?.literal === (d as Record<string, unknown>)[key]) ?? s;
    }
  };
  for (const k of path) {
    unwrap();
    if (s?.entries) s = s.entries[String(k)];
    else if (s?.value) s = s.value;
    else return [];
    d = d && typeof d === 'object' ? (d as Record<string, unknown>)[String(k)] : undefined;
  }
  unwrap();
  return s?.entries ? Object.keys(s.entries) : [];
}
interface Schemaish { wrapped?: Schemaish; pipe?: Schemaish[]; options?: Schemaish[]; key?: string; entries?: Record<string, Schemaish>; value?: Schemaish; literal?: unknown }

/** Edit distance, for suggestions (keys are short). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The allowed key closest to a misspelt one, when it is close enough to be meant. */
export function suggest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of allowed) {
    const d = distance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.min(3, Math.floor(key.length / 3))) ? best : undefined;
}

export function formatIssue(issue: BaseIssue<unknown>, schema?: unknown, doc?: unknown): string[] {
  const path = (issue.path ?? []).map((p) => p.key as PropertyKey);
  const at = path.length ? path.join('.') : 'config';
  const value = issue.input;
  if (issue.type === 'strict_object') {
    // valibot reports a missing required key and an unknown one alike: the expected key names which.
    if (issue.expected !== 'never') return [`${at}: required`];
    const hint = schema ? suggest(String(path.at(-1)), keysAt(schema, path.slice(0, -1), doc)) : undefined;
    return [`${at}: unknown key${hint ? ` (did you mean ${hint}?)` : ''}`];
  }
  if (issue.type === 'variant' || issue.type === 'picklist' || issue.type === 'literal') {
    const expected = (issue.expected ?? '').replace(/^\(|\)$/g, '').replace(/"/g, '');
    const hint = typeof value === 'string' ? suggest(value, expected.split(' | ')) : undefined;
    return [`${at}: expected ${expected}, got ${show(path, value)}${hint && hint !== value ? ` (did you mean ${hint}?)` : ''}`];
  }
  if (issue.kind === 'schema') return [`${at}: expected ${issue.expected}, got ${show(path, value)}`];
  // Validations carry our own messages ("expected an http(s) URL", "expected a size…").
  return [`${at}: ${issue.message}, got ${show(path, value)}`];
}
