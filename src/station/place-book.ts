import type { Logger } from 'pino';
import { UsmpError } from '../errors.js';
import { HttpRefusal } from '../collector/http/http-errors.js';
import type { Profile } from '../qualify/profiles.js';
import { judgePlace, type PlaceVerdict } from './place-verdict.js';
import { stationFigures, type PlaceSubmission, type StationFigures, type UploadFigure } from './place-submission.js';
import type { SegmentFigures } from './segment-figures.js';
import { limitingSentence } from './place-wording.js';

// The places of one station session, in the order the auditor tested them. Each place gets the
// page's figures at once, then the appliance measures the link to the hospital (one place at a
// time: two loads at once would measure each other) and the two are joined into its verdict.

export const MAX_PLACES = 50;

export interface HospitalLinkResult {
  figures: SegmentFigures;
  /** The qualification's own verdict of the link (pass, pass*, fail*, fail). */
  verdict: string;
  started_at: string;
}

export type MeasureHospitalLink = (place: string) => Promise<HospitalLinkResult>;

/** One place as the report keeps it (schemas/report.schema.json, `places`). */
export interface PlaceSection {
  name: string;
  measured_at: string;
  verdict: 'pass' | 'fail' | 'incomplete';
  internal: StationFigures;
  hospital_link: (SegmentFigures & { verdict: string; started_at: string }) | null;
  end_to_end: PlaceVerdict['end_to_end'] | null;
  narrower: PlaceVerdict['narrower'] | null;
  limiting: PlaceVerdict['limiting'] | null;
  failures: PlaceVerdict['failures'];
  error?: { code: string; reason: string };
}

export class PlaceRecord {
  status: 'measuring' | 'done' | 'failed' = 'measuring';
  link: HospitalLinkResult | undefined;
  judgement: PlaceVerdict | undefined;
  error: { code: string; reason: string } | undefined;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly measuredAt: string,
    readonly internal: StationFigures,
  ) {}

  section(): PlaceSection {
    const j = this.judgement;
    return {
      name: this.name,
      measured_at: this.measuredAt,
      verdict: j ? j.verdict : 'incomplete',
      internal: this.internal,
      hospital_link: this.link ? { ...this.link.figures, verdict: this.link.verdict, started_at: this.link.started_at } : null,
      end_to_end: j?.end_to_end ?? null,
      narrower: j?.narrower ?? null,
      limiting: j?.limiting ?? null,
      failures: j?.failures ?? [],
      ...(this.error ? { error: this.error } : {}),
    };
  }

  /** What the page polls for. */
  view(): Record<string, unknown> {
    const section = this.section();
    const said = this.status === 'measuring' ? undefined : { fr: limitingSentence(section, 'fr'), en: limitingSentence(section, 'en') };
    return { id: this.id, status: this.status, ...section, ...(said ? { said } : {}) };
  }
}

export class PlaceBook {
  readonly #places: PlaceRecord[] = [];
  #measuring: Promise<void> | undefined;

  constructor(
    private readonly o: {
      profile: Profile;
      streams: number;
      measureLink: MeasureHospitalLink;
      log: Logger;
      now?: () => Date;
      /** Called when a place has its verdict (or failed). */
      onPlace?: (place: PlaceRecord) => void;
    },
  ) {}

  get(id: number): PlaceRecord | undefined {
    return this.#places[id];
  }

  all(): readonly PlaceRecord[] {
    return this.#places;
  }

  /** Resolves when no place is being measured. */
  async settled(): Promise<void> {
    while (this.#measuring) await this.#measuring;
  }

  submit(submission: PlaceSubmission, up: UploadFigure | null, browserAddress: string): number {
    if (this.#measuring) throw new HttpRefusal(409, 'USMP_E_BAD_REQUEST', 'the previous place is still being measured: wait for its verdict');
    if (this.#places.length >= MAX_PLACES)
      throw new HttpRefusal(409, 'USMP_E_BAD_REQUEST', `a session holds at most ${MAX_PLACES} places: start a new session`);
    const name = submission.place.trim();
    if (name === '') throw new HttpRefusal(400, 'USMP_E_BAD_REQUEST', 'name the place (room, outlet or access point)');
    const measuredAt = (this.o.now?.() ?? new Date()).toISOString();
    const place = new PlaceRecord(this.#places.length, name, measuredAt, stationFigures(submission, up, this.o.streams, browserAddress));
    this.#places.push(place);
    this.o.log.info(
      { event: 'station.place_measured', place: name, internal: place.internal },
      `station: ${name}: internal network measured, measuring the link to the hospital`,
    );
    this.#measuring = this.#measure(place).finally(() => {
      this.#measuring = undefined;
    });
    return place.id;
  }

  async #measure(place: PlaceRecord): Promise<void> {
    try {
      place.link = await this.o.measureLink(place.name);
      place.judgement = judgePlace(place.internal, place.link.figures, this.o.profile);
      place.status = 'done';
      this.o.log.info(
        { event: 'station.place_judged', place: place.name, verdict: place.judgement.verdict, limiting: place.judgement.limiting },
        `station: ${place.name}: ${place.judgement.verdict}, limited by ${place.judgement.limiting.segment}`,
      );
    } catch (err) {
      place.status = 'failed';
      place.error = { code: err instanceof UsmpError ? err.code : 'USMP_E_INTERNAL', reason: (err as Error).message };
      this.o.log.error(
        { event: 'station.place_failed', place: place.name, err: (err as Error).message },
        `station: ${place.name}: the link could not be measured`,
      );
    }
    this.o.onPlace?.(place);
  }
}
