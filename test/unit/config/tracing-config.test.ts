import { describe, expect, it } from 'vitest';
import { compileConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/util/errors.js';

const upstreams = { akool: { prefix: '/akool', target: 'https://openapi.akool.com', auth: { type: 'akool', clientId: 'i', clientSecret: 's' } } };
const tracingOf = (doc: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => compileConfig({ upstreams, ...doc }, { env }).tracing;

describe('tracing in the config and the OTEL_* variables', () => {
  it('is off without an endpoint in the file or the environment', () => {
    expect(tracingOf({})).toBeUndefined();
    expect(tracingOf({ tracing: { sampleRatio: 0.5 } })).toBeUndefined();
  });

  it('the file: its endpoint plus /v1/traces, parent-based at its ratio, its service name', () => {
    expect(tracingOf({ tracing: { endpoint: 'http://otel-collector:4318/', sampleRatio: 0.1, serviceName: 'relay-a' } })).toEqual({
      url: 'http://otel-collector:4318/v1/traces', sampler: { parentBased: true, ratio: 0.1 }, serviceName: 'relay-a',
      resource: {}, exportDelayMs: 5000, exportTimeoutMs: 10_000,
      protocol: 'http/json', compression: 'none', headers: {}, tls: { ca: undefined, cert: undefined, key: undefined },
    });
  });

  it('the standard variables, as every SDK reads them; the file wins', () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env-collector:4318', OTEL_SERVICE_NAME: 'from-env',
      OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=a%20b',
    };
    expect(tracingOf({}, env)).toMatchObject({
      url: 'http://env-collector:4318/v1/traces', sampler: { parentBased: false, ratio: 0.25 }, serviceName: 'from-env',
      resource: { 'deployment.environment': 'prod', team: 'a b' },
    });
    expect(tracingOf({}, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom/traces' })!.url).toBe('http://c:4318/custom/traces');
    expect(tracingOf({}, { ...env, OTEL_TRACES_SAMPLER: 'parentbased_always_off' })!.sampler).toEqual({ parentBased: true, ratio: 0 });
    expect(tracingOf({ tracing: { endpoint: 'http://file:4318', sampleRatio: 1, serviceName: 'from-file' } }, env)).toMatchObject({
      url: 'http://file:4318/v1/traces', sampler: { parentBased: true, ratio: 1 }, serviceName: 'from-file',
    });
    expect(tracingOf({}, { ...env, OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
  });

  it('a bad sampler or ratio is a config error naming the variable', () => {
    try {
      tracingOf({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'sometimes', OTEL_TRACES_SAMPLER_ARG: '2' });
      throw new Error('expected a config error');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems[0]).toMatch(/^OTEL_TRACES_SAMPLER: expected always_on \| always_off/);
    }
    expect(() => tracingOf({ tracing: { endpoint: 'http://c:4318', sampleRatio: 1.5 } })).toThrow(ConfigError);
  });

  it("the exporter's variables: protocol, compression, headers (percent-decoded), certificate files; the traces-only one first", () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip', OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k%3D1,x-team=a b', OTEL_EXPORTER_OTLP_CERTIFICATE: import.meta.filename,
    };
    expect(tracingOf({}, env)).toMatchObject({
      protocol: 'http/protobuf', compression: 'gzip', headers: { 'x-api-key': 'k=1', 'x-team': 'a b' }, tls: { ca: import.meta.filename },
    });
  });

  it('a bad protocol, compression or unreadable certificate is a config error naming the variable', () => {
    const problems = (env: NodeJS.ProcessEnv) => {
      try {
        tracingOf({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', ...env });
        return [];
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })[0]).toMatch(/^OTEL_EXPORTER_OTLP_PROTOCOL: /);
    expect(problems({ OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'brotli' })[0]).toMatch(/^OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: /);
    expect(problems({ OTEL_EXPORTER_OTLP_CLIENT_KEY: '/nonexistent/key.pem' })[0]).toMatch(/^OTEL_EXPORTER_OTLP_CLIENT_KEY: /);
  });
});
