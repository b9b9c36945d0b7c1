import type { LoadedConfig } from '../config/load.js';
import type { ConfigDefinition } from '../config/schema.js';
import type { PartHealth } from './health.js';

// What the daemon supervises: a part of the appliance (the broker and its bridge, the capture,
// the monitor…) that starts from the configuration, stops, and says how it is. The supervisor
// (supervisor.ts) starts the parts after those they depend on, stops them in the reverse order,
// retries one that fails, and on reload restarts the parts whose configuration sections changed.

/** A key path of the configuration schema, a section or a single key: a misspelt one fails the build. */
export type ConfigSection = KeyPaths<ConfigDefinition>;

type KeyPaths<T, Prefix extends string = ''> = {
  [K in keyof T & string]: T[K] extends { doc: string; default: unknown } ? `${Prefix}${K}` : `${Prefix}${K}` | KeyPaths<T[K], `${Prefix}${K}.`>;
}[keyof T & string];

export interface DaemonPart<Name extends string = string> {
  readonly name: Name;
  /** The configuration it is built from: a change to any of these restarts it on reload. */
  readonly sections: readonly ConfigSection[];
  /** Parts that must be running before it starts (and that it stops before). */
  readonly dependsOn?: readonly Name[];
  start(config: LoadedConfig): Promise<void>;
  stop(): Promise<void>;
  health(): PartHealth;
}
