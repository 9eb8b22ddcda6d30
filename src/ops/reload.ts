/**
 * Reload on demand (SIGHUP) and when the config file or a file it names changes. Files are
 * polled by stat (fs.watchFile): that follows the symlink swaps Kubernetes uses to update
 * mounted ConfigMaps and Secrets, where inotify on the old inode would go quiet.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { RelayConfig } from '../config/types.js';
import { ConfigError } from '../util/errors.js';
import type { Logger } from '../telemetry/logger.js';

export interface ReloaderOptions {
  file: string;
  load: () => RelayConfig;
  apply: (config: RelayConfig) => void;
  logger: Logger;
  intervalMs: number;
  watch: boolean;
}

export function createReloader({ file, load, apply, logger, intervalMs, watch }: ReloaderOptions) {
  let watched: string[] = [];
  let timer: NodeJS.Timeout | undefined;

  const onChange = (curr: Stats, prev: Stats) => {
    if (curr.mtimeMs === prev.mtimeMs && curr.ino === prev.ino && curr.size === prev.size) return;
    // Writers often touch a file several times in a row: settle first.
    clearTimeout(timer);
    timer = setTimeout(() => reload('file_changed'), 100);
    timer.unref();
  };

  function follow(config: RelayConfig): void {
    if (!watch) return;
    const next = [file, ...config.files];
    for (const f of watched) if (!next.includes(f)) unwatchFile(f, onChange);
    for (const f of next) if (!watched.includes(f)) watchFile(f, { interval: intervalMs, persistent: false }, onChange);
    watched = next;
  }

  /** Loads and applies the config; an invalid one is refused and the running one stays. */
  function reload(reason: string): boolean {
    let config: RelayConfig;
    try {
      config = load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      logger.error({ event: 'reload_refused', reason, code: err.code, problems: err.problems }, 'new configuration refused; the running one stays');
      return false;
    }
    apply(config);
    follow(config);
    logger.info({ event: 'reload', reason }, 'configuration applied');
    return true;
  }

  return {
    reload,
    start(config: RelayConfig) {
      follow(config);
    },
    stop() {
      clearTimeout(timer);
      for (const f of watched) unwatchFile(f, onChange);
      watched = [];
    },
  };
}
