import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import type { PartHealth } from './health.js';
import type { DaemonPart } from './part.js';

// The parts of the daemon, supervised: started after the parts they depend on and stopped in the
// reverse order; a part that fails to start is reported by name and retried with backoff while
// the others keep running; a reload restarts only the parts whose configuration changed.

const RETRY_MS = [5_000, 15_000, 60_000];

export class Supervisor<Name extends string> {
  readonly #parts: ReadonlyArray<DaemonPart<Name>>;
  readonly #log: Logger;
  readonly #failed = new Map<Name, { error: string; attempts: number; timer?: NodeJS.Timeout }>();
  #config: LoadedConfig;

  /** `parts` in any order: each starts after those it depends on (a cycle or an unknown name throws). */
  constructor(parts: ReadonlyArray<DaemonPart<Name>>, config: LoadedConfig, log: Logger) {
    this.#parts = startOrder(parts);
    this.#config = config;
    this.#log = log;
  }

  get config(): LoadedConfig {
    return this.#config;
  }

  get names(): Name[] {
    return this.#parts.map((p) => p.name);
  }

  async start(): Promise<void> {
    for (const part of this.#parts) await this.#startPart(part);
  }

  async stop(): Promise<void> {
    for (const f of this.#failed.values()) clearTimeout(f.timer);
    for (const part of [...this.#parts].reverse()) await this.#stopPart(part);
  }

  /** Applies a new, already validated configuration: restarts the parts it changes, and returns their names. */
  async reload(next: LoadedConfig): Promise<Name[]> {
    const at = (values: unknown, path: string): string =>
      JSON.stringify(path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], values));
    const changed = this.#parts.filter((p) => p.sections.some((s) => at(this.#config.values, s) !== at(next.values, s)));
    this.#config = next;
    for (const part of [...changed].reverse()) await this.#stopPart(part);
    for (const part of changed) await this.#startPart(part);
    return changed.map((p) => p.name);
  }

  /** Each part's health by name; a part that failed to start says so, with its error and attempts. */
  health(): Record<Name, PartHealth> {
    return Object.fromEntries(
      this.#parts.map((p) => {
        const failed = this.#failed.get(p.name);
        return [p.name, failed ? ({ status: 'failed', error: failed.error, attempts: failed.attempts } satisfies PartHealth) : p.health()];
      }),
    ) as Record<Name, PartHealth>;
  }

  async #startPart(part: DaemonPart<Name>): Promise<void> {
    const previous = this.#failed.get(part.name);
    clearTimeout(previous?.timer);
    try {
      await part.start(this.#config);
      if (previous) this.#log.info({ event: 'daemon.part_recovered', part: part.name }, `${part.name} is running again`);
      this.#failed.delete(part.name);
    } catch (err) {
      const attempts = (previous?.attempts ?? 0) + 1;
      const error = (err as Error).message;
      const retryMs = RETRY_MS[Math.min(attempts - 1, RETRY_MS.length - 1)]!;
      this.#log.error(
        { event: 'daemon.part_failed', part: part.name, err: error, code: (err as { code?: string }).code, attempts, retry_in_ms: retryMs },
        `${part.name} failed to start: ${error}`,
      );
      await part.stop().catch(() => undefined); // release what it opened before failing
      const timer = setTimeout(() => void this.#startPart(part), retryMs);
      timer.unref();
      this.#failed.set(part.name, { error, attempts, timer });
    }
  }

  async #stopPart(part: DaemonPart<Name>): Promise<void> {
    clearTimeout(this.#failed.get(part.name)?.timer);
    this.#failed.delete(part.name);
    try {
      await part.stop();
    } catch (err) {
      this.#log.error({ event: 'daemon.part_stop_failed', part: part.name, err: (err as Error).message }, `${part.name} did not stop cleanly`);
    }
  }
}

/** The parts ordered so that each comes after those it depends on (the given order otherwise). */
export function startOrder<Name extends string>(parts: ReadonlyArray<DaemonPart<Name>>): Array<DaemonPart<Name>> {
  const byName = new Map(parts.map((p) => [p.name, p]));
  const ordered: Array<DaemonPart<Name>> = [];
  const state = new Map<Name, 'visiting' | 'done'>();
  const visit = (part: DaemonPart<Name>, path: Name[]): void => {
    if (state.get(part.name) === 'done') return;
    if (state.get(part.name) === 'visiting') throw new Error(`the daemon's parts depend on each other in a cycle: ${[...path, part.name].join(' → ')}`);
    state.set(part.name, 'visiting');
    for (const name of part.dependsOn ?? []) {
      const dependency = byName.get(name);
      if (!dependency) throw new Error(`part ${part.name} depends on ${name}, which is not a part`);
      visit(dependency, [...path, part.name]);
    }
    state.set(part.name, 'done');
    ordered.push(part);
  };
  for (const part of parts) visit(part, []);
  return ordered;
}
