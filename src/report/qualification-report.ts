import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { QosReportSection } from '../qos/report-section.js';
import { join } from 'node:path';
import AjvModule, { type ValidateFunction } from 'ajv';
import { UsmpError } from '../errors.js';
import { VERSION } from '../version.js';
import type { Assessment } from '../qualify/assess.js';
import type { QualificationData } from '../qualify/run.js';

// report.json (validated against schemas/report.schema.json before it is written) and
// raw.json, whose SHA-256 the report carries so the figures can be traced to the samples.

export const REPORT_SCHEMA_URL = new URL('../../schemas/report.schema.json', import.meta.url);

export interface SiteIdentity {
  establishment: string;
  establishment_code: string;
  usmp: string;
  hospital: string;
  appliance_id: string;
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
}

export function buildReport(input: ReportInput, rawText: string): Record<string, unknown> {
  const { data, assessment } = input;
  return {
    schema_version: '1.0',
    report_id: randomUUID(),
    verdict: assessment.verdict,
    site: { ...input.site, appliance_id: input.site.appliance_id || hostname() },
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
      latency: 'STAMP (RFC 8762) from this appliance to the responder, 44-octet probes every 20 ms; RTT = (T4−T1)−(T3−T2); IPDV RFC 3393 on consecutive probes; PDV RFC 5481',
      latency_under_load: 'STAMP probes during each TCP test, warm-up excluded; increase = loaded mean RTT − idle mean RTT (RRUL style)',
      dscp: data.dscp?.method ?? 'not measured (profile requires none)',
    },
    details: {
      idle: data.idle,
      load: Object.fromEntries(Object.entries(data.load).map(([k, v]) => [k, { throughput: v.throughput, loaded: v.loaded }])),
      ramp: data.ramp,
      rfc6349: data.rfc6349,
      dscp: data.dscp,
    },
    ...(input.qos ? { qos: input.qos } : {}),
    raw_sha256: createHash('sha256').update(rawText).digest('hex'),
    raw_file: 'raw.json',
  };
}

// ajv is CommonJS: under NodeNext its default export is the module object.
const Ajv = AjvModule.default;
let validator: ValidateFunction | undefined;

export function validateReport(report: unknown): string[] {
  validator ??= new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(JSON.parse(readFileSync(REPORT_SCHEMA_URL, 'utf8')) as object);
  if (validator(report)) return [];
  return (validator.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? 'invalid'}`);
}

/** Writes DIR/raw.json and DIR/report.json; refuses to write a report that breaks the schema. */
export function writeReport(dir: string, input: ReportInput): { path: string; report: Record<string, unknown> } {
  const rawText = `${JSON.stringify(input.data.raw)}\n`;
  const report = buildReport(input, rawText);
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
