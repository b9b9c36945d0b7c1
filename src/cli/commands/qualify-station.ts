import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { UsmpError } from '../../errors.js';
import { systemRunner } from '../../exec/process-runner.js';
import { findProfile, loadProfiles } from '../../qualify/profiles.js';
import { PlaceBook, type PlaceRecord } from '../../station/place-book.js';
import { limitingSentence } from '../../station/place-wording.js';
import { StationServer } from '../../station/station-server.js';
import { StationSession, type SessionEnd } from '../../station/station-session.js';
import { ensureSelfSignedCertificate } from '../../tls/self-signed-certificate.js';
import type { CliContext } from '../context.js';
import { measureLink, publishReport, type LinkRun, type QualifyFlags } from './qualify-run.js';

// `usmp-edge qualify --station`: the auditor opens the printed address on the care station's
// browser, types the session code, names the place and starts; the page measures the internal
// network to this appliance, then this appliance qualifies its link to the hospital, and the
// place gets a verdict joining both. The session ends when the auditor ends it on the page, on
// Ctrl-C, or by itself at its time limit; the report then holds every place tested.

export interface StationFlags extends QualifyFlags {
  stationAddress?: string;
  stationPort?: number;
  sessionMinutes?: number;
}

/** The https addresses a browser on the LAN can open. */
function pageUrls(listen: string, port: number): string[] {
  const hosts =
    listen === '0.0.0.0' || listen === '::'
      ? Object.values(networkInterfaces())
          .flat()
          .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
          .map((a) => a!.address)
      : [listen];
  return (hosts.length > 0 ? hosts : [hostname()]).map((h) => `https://${h.includes(':') ? `[${h}]` : h}:${port}/`);
}

export async function runStationCommand(ctx: CliContext, flags: StationFlags): Promise<number> {
  const config = ctx.config().values;
  const station = config.station;
  const lang = flags.lang ?? config.qualify.lang;
  const log = ctx.logger(2);
  const profile = findProfile(loadProfiles([config.qualify.profiles_dir]), flags.profile ?? config.qualify.profile);
  if (!(flags.target ?? config.qualify.target)) throw new UsmpError('USMP_E_USAGE', 'no target: give --target HOST (or set qualify.target)');
  const listen = flags.stationAddress ?? station.listen_address;
  const cert = await ensureSelfSignedCertificate({
    purpose: "the station page's certificate",
    ownFilesKey: 'station.cert_file and station.key_file',
    certFile: station.cert_file,
    keyFile: station.key_file,
    commonName: `usmp-edge station ${hostname()}`,
    names: [hostname(), ...(listen === '0.0.0.0' || listen === '::' ? [] : [listen])],
    runner: systemRunner,
  });
  const minutes = flags.sessionMinutes ?? station.session_minutes;
  const session = new StationSession({ ttlMs: Math.round(minutes * 60_000) });
  let lastRun: LinkRun | undefined;
  const places = new PlaceBook({
    profile,
    streams: station.streams,
    log,
    measureLink: async () => {
      const run = await measureLink(ctx, { ...flags, profile: profile.name });
      lastRun = run;
      const m = run.assessment.measurements;
      return {
        figures: {
          up_mbps: m.up_mbps,
          down_mbps: m.down_mbps,
          rtt_ms: m.rtt_ms.median,
          loaded_rtt_increase_ms: { up: m.loaded_rtt_increase_by_direction_ms.up, down: m.loaded_rtt_increase_by_direction_ms.down },
          loss_pct: m.loss_pct,
        },
        verdict: run.assessment.verdict,
        started_at: run.startedAt.toISOString(),
      };
    },
    onPlace: (place: PlaceRecord) => ctx.out.say(`${place.name}: ${place.section().verdict.toUpperCase()} — ${limitingSentence(place.section(), lang)}`),
  });
  const site = config.site;
  const server = await StationServer.start({
    host: listen,
    port: flags.stationPort ?? station.port,
    tls: { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) },
    session,
    places,
    lang,
    siteLabel: [site.establishment, site.usmp].filter((x) => x !== '').join(' — '),
    streams: station.streams,
    log,
  });
  const ended = new Promise<SessionEnd>((resolve) => {
    session.onEnd(resolve);
    // the session ends by itself at its time limit, whether or not a browser is there
    const timer = setTimeout(() => session.end('expired'), Math.max(0, session.expiresAt - Date.now()));
    session.onEnd(() => clearTimeout(timer));
  });
  const onSignal = (): void => session.end('closed');
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const fr = lang === 'fr';
  const until = new Date(session.expiresAt).toISOString();
  process.stderr.write(
    [
      fr ? 'Page de test du poste, à ouvrir sur le navigateur du chariot :' : 'Station test page, to open in the browser of the cart:',
      ...pageUrls(listen, server.port).map((u) => `  ${u}`),
      `${fr ? 'Empreinte SHA-256 du certificat' : 'Certificate SHA-256 fingerprint'}: ${cert.fingerprint256}`,
      `${fr ? 'Code de session' : 'Session code'}: ${session.code} (${fr ? "valable jusqu'à" : 'valid until'} ${until})`,
      `station port: ${server.port}`,
      '',
    ].join('\n'),
  );
  log.info({ event: 'station.session_started', port: server.port, expires_at: until, certificate_sha256: cert.fingerprint256 }, 'station: test session open');
  try {
    const why = await ended;
    log.info({ event: 'station.session_ended', why, places: places.all().length }, `station: session ended (${why})`);
    await places.settled();
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await server.close();
  }
  const sections = places.all().map((p) => p.section());
  if (!lastRun || sections.length === 0)
    throw new UsmpError('USMP_E_STATION_ENDED', 'the session ended before any place was measured: no report written', { details: { places: sections.length } });
  return publishReport(ctx, flags, lastRun, sections);
}
