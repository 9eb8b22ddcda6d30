/**
 * Reads the `exp` and `iat` claims of a JWT without verifying it: tokenrelay only uses them to
 * schedule a refresh, never to decide whom to trust.
 */
export function jwtClaims(token: string): { exp?: number; iat?: number } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (claims === null || typeof claims !== 'object') return undefined;
    const { exp, iat } = claims as Record<string, unknown>;
    return {
      ...(typeof exp === 'number' && Number.isFinite(exp) ? { exp } : {}),
      ...(typeof iat === 'number' && Number.isFinite(iat) ? { iat } : {}),
    };
  } catch {
    return undefined;
  }
}
