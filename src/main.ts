/**
 * The command line, loaded by the entry (cli.ts). With cli.ts and node-settings.ts, the only
 * module that touches `process`: flags, environment, signals and exit codes.
 * Exit codes: 0 clean stop, 1 runtime failure (or a failed check), 2 invalid configuration or usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createTokenRelay } from './app.js';
import { runCheck } from './ops/check.js';
import { loadConfigFile, type RelayConfig } from './config/load.js';
import { ConfigError } from './util/errors.js';
import { createLogger, flushLogs } from './telemetry/logger.js';
import { createMetrics } from './telemetry/metrics.js';
import { createReloader } from './ops/reload.js';
import { createSharedCache } from './tokens/shared-cache-factory.js';
import { createCounters } from './limits/factory.js';
import { createTracing } from './telemetry/tracing.js';
import { createHeapRoom } from './ops/heap-room.js';
import { BASE_GROWING_PERCENT } from './ops/node-settings.js';

const USAGE = `Usage:
  tokenrelay [--config FILE]                 start the proxy
  tokenrelay check [--config FILE] [--fetch] validate the config and show each upstream;
                                             --fetch also fetches each token once

Options:
  -c, --config FILE   configuration file (default: $TOKENRELAY_CONFIG, else ./proxy.config.yaml)
      --fetch         (check) fetch one token per upstream and report outcome, lifetime, latency
  -h, --help          show this help
  -v, --version       print the version

Environment:
  TOKENRELAY_CONFIG   configuration file, when --config is not given
  LOG_LEVEL           log level (overrides logLevel in the file)

Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the configuration.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usageError(message: string): number {
  process.stderr.write(`tokenrelay: ${message}\n\n${USAGE}`);
  return 2;
}

function loadOrReport(file: string): RelayConfig | undefined {
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`tokenrelay: invalid configuration in ${file}:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' }, fetch: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = positionals[0] ?? 'serve';
  if (positionals.length > 1 || !['serve', 'check'].includes(command)) return usageError(`unknown command: ${positionals.join(' ')}`);
  if (values.fetch && command !== 'check') return usageError('--fetch is an option of "check"');
  const file = values.config ?? process.env.TOKENRELAY_CONFIG ?? 'proxy.config.yaml';
  const config = loadOrReport(file);
  if (!config) return 2;

  if (command === 'check') {
    const result = await runCheck(config, { fetch: values.fetch ?? false });
    process.stdout.write(result.text);
    return result.ok ? 0 : 1;
  }

  const logger = createLogger({ level: process.env.LOG_LEVEL || config.logLevel || 'info' });
  const metrics = createMetrics();
  const shared = await createSharedCache(config, { logger, metrics });
  const counters = await createCounters(config, { logger });
  // The OpenTelemetry SDK is loaded only when tracing is on.
  const tracing = config.tracing && await createTracing(config.tracing, { onDropped: (n) => metrics.spansDropped(n) });
  if (config.tracing) logger.info({ event: 'tracing', serviceName: config.tracing.serviceName, sampleRatio: config.tracing.sampler.ratio, parentBased: config.tracing.sampler.parentBased }, 'tracing on (OTLP over HTTP)');
  // The process is the CLI's: V8's heap growth is set here, not by the library (ops/heap-room.ts).
  const heapRoom = createHeapRoom({
    v8Major: Number(process.versions.v8.split('.')[0]), execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS, basePercent: BASE_GROWING_PERCENT,
    onChange: (percent) => logger.debug({ event: 'heap_room', open: percent > BASE_GROWING_PERCENT, growingPercent: percent }, percent > BASE_GROWING_PERCENT ? 'request bodies streaming: room in the old generation' : 'heap growth back to 1.5x'),
  });
  const relay = createTokenRelay({ config, logger, metrics, counters, onBody: (n) => heapRoom.body(n), ...(shared ? { shared } : {}), ...(tracing ? { tracing } : {}) });
  try {
    await relay.listen();
  } catch (err) {
    logger.fatal({ code: (err as NodeJS.ErrnoException).code, host: config.listen.host, port: config.listen.port }, 'cannot listen');
    return 1;
  }
  const reloader = createReloader({
    file, logger, load: () => loadConfigFile(file), apply: (c) => relay.reload(c),
    intervalMs: config.reload.intervalMs, watch: config.reload.watch,
  });
  reloader.start(config);
  process.on('SIGHUP', () => reloader.reload('SIGHUP'));
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      reloader.stop();
      logger.info({ event: 'shutdown', signal, gracePeriodMs: config.gracePeriodMs }, 'draining');
      relay.close().then(
        () => {
          heapRoom.stop();
          logger.info({ event: 'stopped' }, 'stopped');
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ err: (err as Error).message }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    flushLogs();
    // Leave even if a stray handle lingers.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    flushLogs();
    process.stderr.write(`tokenrelay: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
