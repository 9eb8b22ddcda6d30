#!/usr/bin/env node
/**
 * The only module that touches `process`: flags, environment, signals and exit codes.
 * Exit codes: 0 clean stop, 1 runtime failure (e.g. port in use), 2 invalid configuration or usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createTokenRelay } from './app.js';
import { loadConfigFile } from './config.js';
import { ConfigError } from './errors.js';
import { createLogger } from './logger.js';

const USAGE = `Usage: tokenrelay [--config FILE]

Starts the authenticating reverse proxy.

Options:
  -c, --config FILE   configuration file (default: $TOKENRELAY_CONFIG, else ./proxy.config.yaml)
  -h, --help          show this help
  -v, --version       print the version

Environment:
  TOKENRELAY_CONFIG   configuration file, when --config is not given
  LOG_LEVEL           log level (overrides logLevel in the file)
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`tokenrelay: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const file = values.config ?? process.env.TOKENRELAY_CONFIG ?? 'proxy.config.yaml';
  let config;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tokenrelay: invalid configuration in ${file}:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger({ level: process.env.LOG_LEVEL || config.logLevel || 'info' });
  const relay = createTokenRelay({ config, logger });
  try {
    await relay.listen();
  } catch (err) {
    logger.fatal({ code: (err as NodeJS.ErrnoException).code, host: config.listen.host, port: config.listen.port }, 'cannot listen');
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: 'shutdown', signal, gracePeriodMs: config.gracePeriodMs }, 'draining');
      relay.close().then(
        () => {
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
    // pino writes asynchronously; let it flush, then leave even if a stray handle lingers.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    process.stderr.write(`tokenrelay: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
