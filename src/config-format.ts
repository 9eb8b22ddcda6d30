/** Zod issues as one line each: the config path, what was expected, and the bad value (never a secret). */
import type { z } from 'zod';
import { CREDENTIAL_KEYS } from './providers.js';

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

export function formatIssue(issue: z.core.$ZodIssue, root: unknown): string[] {
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

