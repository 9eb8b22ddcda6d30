/**
 * proxy.config.schema.json and the key table of docs/configuration.md are generated from the
 * valibot schema (`npm run schema`): this fails when either is stale. The shipped configs
 * validate against the JSON Schema, as an editor would check them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DOC_FILE, generated, SCHEMA_FILE } from '../../../scripts/config-schema.js';
import { ROOT } from '../../support/paths.js';

describe('the config file\'s JSON Schema and key table', () => {
  const g = generated();

  it('proxy.config.schema.json is current (run npm run schema after changing src/config/schema.ts)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(g.schema);
  });

  it('docs/configuration.md\'s key table is current', () => {
    expect(readFileSync(DOC_FILE, 'utf8')).toBe(g.doc);
  });

  it('proxy.config.yaml points editors at it, and it and the manifests\' configs validate', () => {
    const text = readFileSync(join(ROOT, 'proxy.config.yaml'), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=./proxy.config.schema.json');
    const validate = new Ajv({ strict: false, allErrors: true }).compile(JSON.parse(g.schema) as object);
    const configs = [parse(text) as unknown];
    for (const f of ['sidecar.yaml', 'gateway.yaml']) {
      for (const d of parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', f), 'utf8'))) {
        const doc = d.toJS() as { kind?: string; data?: Record<string, string> };
        if (doc.kind === 'ConfigMap') configs.push(parse(doc.data!['proxy.config.yaml']!) as unknown);
      }
    }
    for (const c of configs) expect(validate(c) ? [] : validate.errors).toEqual([]);
  });

  it('the schema refuses what tokenrelay refuses: an unknown key, a bad enum', () => {
    const validate = new Ajv({ strict: false }).compile(JSON.parse(g.schema) as object);
    expect(validate({ upstreams: {}, upstream: {} })).toBe(false);
    expect(validate({ upstreams: { a: { prefix: '/a', target: 'https://x.example', auth: { type: 'akol' } } } })).toBe(false);
  });
});
