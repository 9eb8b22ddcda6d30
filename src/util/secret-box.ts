/**
 * Tokens at rest in a shared store: AES-256-GCM with a 32-byte key, the store key as
 * additional data (a value copied under another key does not decrypt), and an HMAC
 * fingerprint of the token so "is the stored token still the rejected one?" can be answered
 * inside Redis without the token ever being stored in clear or as a plain hash.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;

/** The key from its base64 text; undefined unless it is exactly 32 bytes. */
export function parseKey(base64: string): Buffer | undefined {
  const s = base64.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(s)) return undefined;
  const key = Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

export interface SecretBox {
  seal(plain: string, aad: string): string;
  /** Undefined when the value was sealed with another key, for another key, or is garbled. */
  open(sealed: string, aad: string): string | undefined;
  /** A keyed, non-reversible fingerprint (hex). */
  fingerprint(value: string): string;
}

export function createSecretBox(key: Buffer): SecretBox {
  return {
    seal(plain, aad) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(Buffer.from(aad));
      const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return `v1.${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
    },
    open(sealed, aad) {
      if (!sealed.startsWith('v1.')) return undefined;
      const raw = Buffer.from(sealed.slice(3), 'base64');
      if (raw.length < 29) return undefined;
      try {
        const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
        d.setAAD(Buffer.from(aad));
        d.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
      } catch {
        return undefined;
      }
    },
    fingerprint(value) {
      return createHmac('sha256', key).update(value).digest('hex').slice(0, 32);
    },
  };
}
