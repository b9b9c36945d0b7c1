import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { UsmpError } from '../errors.js';
import { warmUpCharts } from '../report/render/charts.js';
import type { AccessStore, SessionLimits } from './auth/access-store.js';
import type { OidcLogin } from './auth/oidc-login.js';
import { SignInLimiter } from './auth/sign-in-limiter.js';
import type { DoorOptions } from './http/door-options.js';
import { intakeDoor } from './http/intake-door.js';
import { peopleDoor } from './http/people-door.js';
import type { ReportIntake } from './report-intake.js';
import type { ReportStore } from './report-store.js';
import type { TelemetryStore } from './telemetry-store.js';

// The national collector's two doors, each on its own listener: appliances post signed reports
// to the intake; people sign in and read through the other. Both HTTPS (or plain HTTP to a TLS
// proxy on this host, when named), both with a connection cap and per-address rate limits, so
// a flood at one door never closes the other.

export interface CollectorServerOptions {
  store: ReportStore;
  telemetry?: TelemetryStore | undefined;
  /** After how long without a document an appliance shows silent on the grid. */
  silentAfterMs?: number;
  intake: ReportIntake;
  access: AccessStore;
  log: Logger;
  people: Omit<DoorOptions, 'tls' | 'behindProxy'>;
  appliances: Omit<DoorOptions, 'tls' | 'behindProxy'>;
  tls?: { cert: Buffer; key: Buffer } | undefined;
  behindProxy: boolean;
  maxReportBytes: number;
  session: SessionLimits;
  oidc?: OidcLogin | undefined;
  cookieSecret: Buffer;
  now?: () => number;
}

export class CollectorServer {
  readonly #o: CollectorServerOptions;
  #doors: FastifyInstance[] = [];
  peoplePort = 0;
  intakePort = 0;

  constructor(o: CollectorServerOptions) {
    this.#o = o;
  }

  async listen(): Promise<void> {
    const o = this.#o;
    await warmUpCharts();
    const common = { tls: o.tls, behindProxy: o.behindProxy };
    const intake = await intakeDoor({ ...o.appliances, ...common, intake: o.intake, log: o.log, maxReportBytes: o.maxReportBytes });
    const people = await peopleDoor({
      ...o.people,
      ...common,
      store: o.store,
      telemetry: o.telemetry,
      silentAfterMs: o.silentAfterMs ?? 30 * 60_000,
      access: o.access,
      intake: o.intake,
      log: o.log,
      session: o.session,
      limiter: new SignInLimiter(),
      oidc: o.oidc,
      cookieSecret: o.cookieSecret,
      now: o.now,
    });
    this.#doors = [intake, people];
    this.intakePort = await this.#open(intake, o.appliances, 'intake');
    this.peoplePort = await this.#open(people, o.people, 'people');
  }

  async #open(door: FastifyInstance, where: { host: string; port: number }, name: string): Promise<number> {
    try {
      await door.listen({ host: where.host, port: where.port });
    } catch (err) {
      throw new UsmpError(
        'USMP_E_PORT_UNAVAILABLE',
        `collector ${name} door ${where.host}:${where.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        { cause: err },
      );
    }
    const port = (door.server.address() as { port: number }).port;
    const scheme = this.#o.tls ? 'https' : 'http';
    this.#o.log.info(
      { event: 'collector.listening', door: name, host: where.host, port, tls: Boolean(this.#o.tls) },
      `collector ${name} door on ${scheme}://${where.host}:${port}`,
    );
    return port;
  }

  async close(): Promise<void> {
    await Promise.all(this.#doors.map((d) => d.close()));
  }
}
