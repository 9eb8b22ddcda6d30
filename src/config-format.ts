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

export function formatIssue(issue: BaseIssue<unknown>): string[] {
  const path = (issue.path ?? []).map((p) => p.key as PropertyKey);
  const at = path.length ? path.join('.') : 'config';
  const value = issue.input;
  if (issue.type === 'strict_object') return [`${at}: unknown key`];
  if (issue.type === 'variant' || issue.type === 'picklist' || issue.type === 'literal') {
    const expected = (issue.expected ?? '').replace(/^\(|\)$/g, '').replace(/"/g, '');
    return [`${at}: expected ${expected}, got ${show(path, value)}`];
  }
  if (issue.kind === 'schema') return [`${at}: expected ${issue.expected}, got ${show(path, value)}`];
  // Validations carry our own messages ("expected an http(s) URL", "expected a size…").
  return [`${at}: ${issue.message}, got ${show(path, value)}`];
}
