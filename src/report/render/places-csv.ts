import type { ReportDocument } from '../report-document.js';
import { csvLine } from './national-csv.js';

// The national export of places tested from care stations: one row per place of every report
// (a site's audit lists each room), the report's columns that identify it first. Same contract
// as reports.csv: RFC 4180, formula-safe cells, columns added at the end only.

export const PLACE_COLUMNS = [
  'report_id',
  'establishment_code',
  'establishment',
  'region',
  'usmp',
  'appliance_id',
  'profile',
  'place',
  'measured_at',
  'place_verdict',
  'limiting_segment',
  'limiting_direction',
  'limiting_mbps',
  'other_segment_mbps',
  'internal_down_mbps',
  'internal_up_mbps',
  'internal_rtt_ms',
  'internal_loss_pct',
  'hospital_link_down_mbps',
  'hospital_link_up_mbps',
  'hospital_link_rtt_ms',
  'end_to_end_down_mbps',
  'end_to_end_up_mbps',
  'end_to_end_rtt_ms',
  'end_to_end_loaded_rtt_increase_ms',
  'end_to_end_loss_pct',
  'out_of_limits',
] as const;

export const PLACES_HEADER = csvLine([...PLACE_COLUMNS]);

export function placeRows(r: ReportDocument): Array<unknown[]> {
  const s = r.site;
  return (r.places ?? []).map((p) => {
    const row: Record<(typeof PLACE_COLUMNS)[number], unknown> = {
      report_id: r.report_id,
      establishment_code: s.establishment_code,
      establishment: s.establishment,
      region: s.region,
      usmp: s.usmp,
      appliance_id: s.appliance_id,
      profile: r.profile,
      place: p.name,
      measured_at: p.measured_at,
      place_verdict: p.verdict,
      limiting_segment: p.limiting?.segment ?? null,
      limiting_direction: p.limiting?.direction ?? null,
      limiting_mbps: p.limiting?.mbps ?? null,
      other_segment_mbps: p.limiting?.other_mbps ?? null,
      internal_down_mbps: p.internal.down_mbps,
      internal_up_mbps: p.internal.up_mbps,
      internal_rtt_ms: p.internal.rtt_ms,
      internal_loss_pct: p.internal.loss_pct,
      hospital_link_down_mbps: p.hospital_link?.down_mbps ?? null,
      hospital_link_up_mbps: p.hospital_link?.up_mbps ?? null,
      hospital_link_rtt_ms: p.hospital_link?.rtt_ms ?? null,
      end_to_end_down_mbps: p.end_to_end?.down_mbps ?? null,
      end_to_end_up_mbps: p.end_to_end?.up_mbps ?? null,
      end_to_end_rtt_ms: p.end_to_end?.rtt_ms ?? null,
      end_to_end_loaded_rtt_increase_ms: p.end_to_end?.loaded_rtt_increase_ms ?? null,
      end_to_end_loss_pct: p.end_to_end?.loss_pct ?? null,
      out_of_limits: p.failures.map((f) => `${f.metric} (${f.segment})`).join('; '),
    };
    return PLACE_COLUMNS.map((c) => row[c]);
  });
}
