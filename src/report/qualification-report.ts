import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { QosReportSection } from '../qos/report-section.js';
import type { PlaceSection } from '../station/place-book.js';
import { join } from 'node:path';
import AjvModule, { type ValidateFunction } from 'ajv';
import { UsmpError } from '../errors.js';
import { VERSION } from '../version.js';
import { histogramOf, type Histogram } from './histogram.js';
import { signReport, type SigningKey } from './signing.js';
import type { Assessment } from '../qualify/assess.js';
import type { QualificationData } from '../qualify/run.js';
import { describeLoadModel } from '../measure/iperf3/load-model.js';

// report.json (validated against schemas/report.schema.json before it is written) and
// raw.json, whose SHA-256 the report carries so the figures can be traced to the samples.

export const REPORT_SCHEMA_VERSION = '1.2';
export const REPORT_SCHEMA_URL = new URL('../../schemas/report.schema.json', import.meta.url);

/** The site as the national follow-up table knows it; from config `site.*`, never retyped. */
export interface SiteIdentity {
  establishment: string;
  establishment_code: string;
  region: string;
  usmp: string;
  hospital: string;
  /** The hospital actually reached, when it is not the attached one. */
  hospital_used: string | null;
  link: { type: string; operator: string };
  cabling_date: string | null;
  connection_date: string | null;
  equipment: string[];
  auditor: string;
  appliance_id: string;
}

export interface SiteConfig {
  establishment: string;
  establishment_code: string;
  region: string;
  usmp: string;
  hospital: string;
  hospital_used: string;
  link_type: string;
  link_operator: string;
  cabling_date: string;
  connection_date: string;
  equipment: readonly string[];
  auditor: string;
  appliance_id: string;
}

export function siteIdentityFrom(site: SiteConfig): SiteIdentity {
  return {
    establishment: site.establishment,
    establishment_code: site.establishment_code,
    region: site.region,
    usmp: site.usmp,
    hospital: site.hospital,
    hospital_used: site.hospital_used && site.hospital_used !== site.hospital ? site.hospital_used : null,
    link: { type: site.link_type, operator: site.link_operator },
    cabling_date: site.cabling_date || null,
    connection_date: site.connection_date || null,
    equipment: [...site.equipment],
    auditor: site.auditor,
    appliance_id: site.appliance_id || hostname(),
  };
}

export interface ReportInput {
  site: SiteIdentity;
  target: string;
  profile: string;
  startedAt: Date;
  durationS: number;
  data: QualificationData;
  assessment: Assessment;
  /** Present when a QoS policy is configured. */
  qos?: QosReportSection | undefined;
  /** The places tested from a station's browser (`qualify --station`), in the order tested. */
  places?: readonly PlaceSection[] | undefined;
}

export function buildReport(input: ReportInput, rawText: string): Record<string, unknown> {
  const { data, assessment } = input;
  return {
    schema_version: REPORT_SCHEMA_VERSION,
    report_id: randomUUID(),
    verdict: assessment.verdict,
    site: input.site,
    target: input.target,
    profile: input.profile,
    plan: data.plan,
    started_at: input.startedAt.toISOString(),
    duration_s: Math.round(input.durationS * 10) / 10,
    software: { name: 'usmp-edge', version: VERSION },
    measurements: assessment.measurements,
    lines: assessment.lines,
    remediation: assessment.remediation,
    appliance_bottleneck: assessment.appliance_bottleneck,
    host: data.host,
    cpu: data.cpu,
    methods: {
      throughput: 'iperf3 TCP, receiver-side figures over non-omitted intervals (server intervals for upload via --get-server-output)',
      latency:
        'STAMP (RFC 8762) from this appliance to the responder, 44-octet probes every 20 ms; RTT = (T4−T1)−(T3−T2); IPDV RFC 3393 on consecutive probes; PDV RFC 5481',
      latency_under_load: `STAMP probes during each TCP load (upload alone, download alone${data.load.bidir ? ', both at once' : ''}), warm-up excluded; load: ${describeLoadModel(data.load_model)}; increase = loaded median RTT − idle median RTT, the worse direction alone (both at once crosses both queues and is reported beside it; RRUL style)`,
      dscp: data.dscp?.method ?? 'not measured (profile requires none)',
      ...(input.places && input.places.length > 0
        ? {
            station:
              "from the care station's browser to this appliance, over HTTPS to a page it serves: HTTP probes every 100 ms for latency (unanswered within 2 s: lost), download and upload over parallel TCP connections for 10 s each, the first 2 s left out (download timed by the browser, upload by this appliance, each where the octets arrive); the link to the hospital qualified right after; end to end: the narrower segment's throughput, the sum of idle RTTs, losses combined (ITU-T Y.1541 §8)",
          }
        : {}),
    },
    details: {
      idle: data.idle,
      load: Object.fromEntries(Object.entries(data.load).map(([k, v]) => [k, { throughput: v.throughput, loaded: v.loaded }])),
      ramp: data.ramp,
      rfc6349: data.rfc6349,
      dscp: data.dscp,
      distributions: distributionsOf(data.raw),
    },
    ...(input.qos ? { qos: input.qos } : {}),
    ...(input.places && input.places.length > 0 ? { places: input.places } : {}),
    raw_sha256: createHash('sha256').update(rawText).digest('hex'),
    raw_file: 'raw.json',
  };
}

const NS_PER_MS = 1e6;

/** RTT and delay-variation distributions for the charts, from the raw samples (lost: null). */
function distributionsOf(raw: Record<string, unknown>): Record<string, unknown> {
  const ms = (key: string): Array<number | null> => ((raw[key] as Array<number | null> | undefined) ?? []).map((ns) => (ns === null ? null : ns / NS_PER_MS));
  const received = (xs: Array<number | null>): number[] => xs.filter((x): x is number => x !== null);
  const idle = ms('idle_rtt_ns');
  // IPDV between consecutive received probes [RFC 3393 §2.4, as the summary's ipdv_ms]
  const ipdv: number[] = [];
  for (let i = 1; i < idle.length; i++) if (idle[i] !== null && idle[i - 1] !== null) ipdv.push(Math.abs(idle[i]! - idle[i - 1]!));
  const out: Record<string, unknown> = {};
  const put = (key: string, h: Histogram | undefined): void => {
    if (h) out[key] = h;
  };
  put('idle_rtt_ms', histogramOf(received(idle)));
  put('idle_ipdv_ms', histogramOf(ipdv));
  put('up_loaded_rtt_ms', histogramOf(received(ms('up_loaded_rtt_ns'))));
  put('down_loaded_rtt_ms', histogramOf(received(ms('down_loaded_rtt_ns'))));
  put('bidir_loaded_rtt_ms', histogramOf(received(ms('bidir_loaded_rtt_ns'))));
  return out;
}

// ajv is CommonJS: under NodeNext its default export is the module object.
const Ajv = AjvModule.default;
let validator: ValidateFunction | undefined;

export function validateReport(report: unknown): string[] {
  validator ??= new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(JSON.parse(readFileSync(REPORT_SCHEMA_URL, 'utf8')) as object);
  if (validator(report)) return [];
  return (validator.errors ?? []).map((e) => {
    const at = e.instancePath || '(root)';
    if (e.keyword === 'additionalProperties') return `${at}: unknown key ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
    if (e.keyword === 'const' || e.keyword === 'enum')
      return `${at}: ${e.message ?? 'invalid'} (${JSON.stringify((e.params as { allowedValue?: unknown; allowedValues?: unknown }).allowedValue ?? (e.params as { allowedValues?: unknown }).allowedValues)})`;
    return `${at}: ${e.message ?? 'invalid'}`;
  });
}

/**
 * Writes DIR/raw.json and DIR/report.json, signed when the appliance key is given; refuses to
 * write a report that breaks the schema.
 */
export function writeReport(dir: string, input: ReportInput, signingKey?: SigningKey): { path: string; report: Record<string, unknown> } {
  const rawText = `${JSON.stringify(input.data.raw)}\n`;
  const unsigned = buildReport(input, rawText);
  const report = signingKey ? signReport(unsigned, signingKey) : unsigned;
  const problems = validateReport(report);
  if (problems.length > 0) {
    throw new UsmpError('USMP_E_INTERNAL', `the report does not match its schema: ${problems.join('; ')}`);
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'raw.json'), rawText);
  const path = join(dir, 'report.json');
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return { path, report };
}
