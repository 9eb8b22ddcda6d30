/**
 * `${VAR}` and `${VAR:-default}` substitution over the parsed YAML tree (never over the raw
 * text, so a value in the environment can't inject YAML structure).
 */

export interface Unresolved {
  /** Config path of the value, e.g. `upstreams.akool.auth.clientSecret`. */
  path: string;
  /** The environment variable that was unset or empty. */
  variable: string;
  /** Set, but to the empty string (said apart from unset in messages). */
  empty?: boolean;
}

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Returns a copy of `tree` with placeholders filled. A string that names an unset variable with
 * no default becomes `undefined`, and is listed in `unresolved` so the caller can decide whether
 * that is fatal (a target URL) or just disables one upstream (a secret).
 */
export function interpolate(
  tree: unknown,
  env: NodeJS.ProcessEnv,
  unresolved: Unresolved[] = [],
  path: string[] = [],
): unknown {
  if (typeof tree === 'string') {
    let missing: string | undefined;
    let empty = false;
    const value = tree.replace(PLACEHOLDER, (_all, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      if (missing === undefined) [missing, empty] = [name, v === ''];
      return '';
    });
    if (missing !== undefined) {
      unresolved.push({ path: path.join('.'), variable: missing, ...(empty ? { empty } : {}) });
      return undefined;
    }
    return value;
  }
  if (Array.isArray(tree)) return tree.map((v, i) => interpolate(v, env, unresolved, [...path, String(i)]));
  if (tree !== null && typeof tree === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(tree)) out[k] = interpolate(v, env, unresolved, [...path, k]);
    return out;
  }
  return tree;
}
