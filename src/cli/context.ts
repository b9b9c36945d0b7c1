import { loadConfig, type LoadedConfig } from '../config/load.js';
import { createLogger, type Logger } from '../log/logger.js';
import { consoleOutput, type Output } from './output.js';

export interface GlobalOptions {
  config?: string;
  logLevel?: string;
}

/** What every command receives: lazily loaded config, a logger, and where to print. */
export interface CliContext {
  globals: GlobalOptions;
  out: Output;
  config(): LoadedConfig;
  /** fd 1 for daemons (journald), fd 2 for one-shot commands whose stdout is data. */
  logger(fd: 1 | 2): Logger;
}

export function createContext(globals: GlobalOptions, out: Output = consoleOutput): CliContext {
  let loaded: LoadedConfig | undefined;
  const config = (): LoadedConfig => {
    loaded ??= loadConfig(globals.config === undefined ? {} : { file: globals.config, explicit: true });
    return loaded;
  };
  return {
    globals,
    out,
    config,
    logger(fd) {
      const log = config().values.log;
      const level = (globals.logLevel ?? log.level) as Parameters<typeof createLogger>[0]['level'];
      return createLogger({ level, pretty: log.pretty, fd });
    },
  };
}
