import Module, { createRequire } from 'node:module';

// mqtt-packet (the parser and writer on both sides of the bridge) and mqtt.js trace through the
// `debug` package: several calls per MQTT packet, each building its argument array and reading a
// getter, even when nothing is traced. In the bridge's flat-out benchmark that was 2 % of the
// daemon's samples plus their garbage; without it the daemon spent ~10 % less CPU per message
// (its CPU time over 100 000 bridged messages, three runs each way: 48 → 43 µs).
// Unless DEBUG asks for traces, require's cache is given a `debug` whose loggers do nothing,
// before any package loads the real one. cli.ts imports this module first.
// [Node.js modules, require.cache: "Adding or replacing entries is also possible."]

type Logger = ((...args: unknown[]) => void) & {
  enabled: boolean;
  namespace: string;
  extend: (suffix: string) => Logger;
  log: () => void;
  destroy: () => boolean;
};

function silentLogger(namespace: string): Logger {
  const logger = Object.assign(() => undefined, {
    enabled: false,
    namespace,
    extend: (suffix: string, delimiter = ':') => silentLogger(`${namespace}${delimiter}${suffix}`),
    log: () => undefined,
    destroy: () => true,
  });
  return logger;
}

type CreateDebug = ((namespace: string) => Logger) & { enable: (namespaces: string) => void; disable: () => string; enabled: (namespace: string) => boolean };

/** The subset of debug's module API its users here call: createDebug(ns), enable, disable, enabled. */
export function silentDebugModule(): CreateDebug {
  const createDebug = (namespace: string) => silentLogger(namespace);
  return Object.assign(createDebug, {
    debug: createDebug,
    default: createDebug,
    enable: () => undefined,
    disable: () => '',
    enabled: () => false,
    coerce: (value: unknown) => value,
    formatters: {},
    names: [] as RegExp[],
    skips: [] as RegExp[],
  });
}

/** Installs the silent `debug` unless DEBUG is set or the real one is already loaded; says whether it did. */
export function silenceDebugPackage(): boolean {
  if (process.env['DEBUG']) return false;
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    path = require.resolve('debug');
  } catch {
    return false; // not installed: nothing to silence
  }
  if (require.cache[path]) return false;
  const module = new Module(path);
  module.filename = path;
  module.loaded = true;
  module.exports = silentDebugModule();
  require.cache[path] = module;
  return true;
}

silenceDebugPackage();
