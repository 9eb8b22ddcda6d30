/**
 * From an upstream's `auth` config to its provider spec and where each credential comes from.
 * Presets are used as they are; `oauth2` and `custom` build a spec in the same declarative
 * form; `static` has no token endpoint at all.
 */
import type { RawAuth } from './schema.js';
import { PRESETS, schemeTemplate, type PresetType, type ProviderSpec } from './providers.js';
import { parseDuration } from '../util/units.js';

export interface CredentialSource {
  name: string;
  /** The value given inline (after ${VAR} substitution), if any. */
  direct: unknown;
  /** The file to read it from, if any. */
  file: unknown;
  /** Config path of the inline value, to name an unset variable. */
  path: string;
}

const HOUR = 3_600_000;

export function providerFor(auth: RawAuth, base: string): { spec: ProviderSpec; sources: CredentialSource[]; tokenUrl?: string } {
  const a = auth as Record<string, unknown>;
  const named = (names: readonly string[]) => names.map((name) => ({ name, direct: a[name], file: a[`${name}File`], path: `${base}.auth.${name}` }));
  switch (auth.type) {
    case 'oauth2': {
      const basic = (auth.clientAuth ?? 'client_secret_basic') === 'client_secret_basic';
      const spec: ProviderSpec = {
        type: 'oauth2',
        credentials: ['clientId', 'clientSecret'],
        // RFC 6749 §4.4: the client-credentials grant, form-encoded; §2.3.1 client authentication.
        request: {
          method: 'POST',
          body: {
            type: 'form',
            fields: {
              grant_type: 'client_credentials',
              ...(auth.scope ? { scope: auth.scope } : {}),
              ...(auth.params ?? {}),
              ...(basic ? {} : { client_id: '{clientId}', client_secret: '{clientSecret}' }),
            },
          },
          ...(basic ? { basicAuth: { username: '{clientId}', password: '{clientSecret}', encode: 'form' as const } } : {}),
          headers: { accept: 'application/json' },
        },
        // §5.1 success (HTTP 200, access_token, expires_in seconds); §5.2 errors ({error, error_description}).
        response: {
          token: 'access_token', lifetime: { path: 'expires_in', unit: 'seconds' },
          messagePaths: ['error_description', 'error'], errorCodePath: 'error',
        },
        // expires_in is only RECOMMENDED: without it (and without a JWT exp), an hour.
        defaultLifetimeMs: HOUR,
        inject: { header: 'authorization', template: 'Bearer {token}' },
        // RFC 6750 §3.1: 401, and when a Bearer challenge names an error, only invalid_token;
        // also a JSON body `{"error": "invalid_token"}` on another status (servers that say it there).
        expiredWhen: { status: [401], bodyCodePath: 'error', bodyCodes: ['invalid_token'], bearerChallenge: true },
      };
      return { spec, sources: named(spec.credentials), tokenUrl: auth.tokenUrl };
    }
    case 'custom': {
      const names = [...new Set([...Object.keys(auth.credentials ?? {}), ...Object.keys(auth.credentialsFiles ?? {})])];
      const spec: ProviderSpec = {
        type: 'custom',
        credentials: names,
        request: {
          method: auth.request.method,
          ...(auth.request.body ? { body: auth.request.body } : {}),
          ...(auth.request.basicAuth ? { basicAuth: auth.request.basicAuth } : {}),
          ...(auth.request.headers ? { headers: auth.request.headers } : {}),
        },
        response: {
          ...(auth.response.success ? { success: auth.response.success } : {}),
          token: auth.response.token,
          ...(auth.response.lifetime ? { lifetime: auth.response.lifetime } : {}),
          messagePaths: auth.response.messagePaths ?? ['message', 'msg', 'error_description', 'error'],
          ...(auth.response.errorCodePath ? { errorCodePath: auth.response.errorCodePath } : {}),
        },
        defaultLifetimeMs: parseDuration(auth.response.defaultLifetime ?? '1h') ?? HOUR,
        inject: { header: auth.inject?.header ?? 'authorization', template: auth.inject?.template ?? 'Bearer {token}' },
        expiredWhen: { status: [401], bodyCodePath: 'code', bodyCodes: [] },
      };
      const sources = names.map((name) => ({
        name, direct: auth.credentials?.[name], file: auth.credentialsFiles?.[name], path: `${base}.auth.credentials.${name}`,
      }));
      return { spec, sources, tokenUrl: auth.request.url };
    }
    case 'static': {
      const spec: ProviderSpec = {
        type: 'static',
        static: true,
        credentials: ['value'],
        request: { method: 'POST' },
        response: { token: '', messagePaths: [] },
        defaultLifetimeMs: Number.POSITIVE_INFINITY,
        inject: { header: auth.header.toLowerCase(), template: schemeTemplate(auth.scheme ?? '') },
        // A fixed key cannot be refreshed: nothing is "expired", answers pass through as they are.
        expiredWhen: { status: [], bodyCodePath: 'code', bodyCodes: [] },
      };
      return { spec, sources: named(['value']) };
    }
    default: {
      const spec: ProviderSpec = PRESETS[auth.type as PresetType];
      return { spec, sources: named(spec.credentials), ...(auth.tokenUrl ? { tokenUrl: auth.tokenUrl } : {}) };
    }
  }
}
