import pino from 'pino';
import { LinkMonitor } from '../src/monitor/link-monitor.js';
import type { Alert } from '../src/monitor/alerts/alert.js';
import type { ProbeWindow } from '../src/monitor/link-rules.js';
import { loadProfiles } from '../src/qualify/profiles.js';
import { mean, meanInterval, medianInterval, sortedCopy } from '../src/measure/statistics.js';
import { bernoulliCount, seededRandom } from '../test/fixtures/seeded-random.js';
import type { Benchmark, BenchRow } from './harness.js';

// How often each alert rule fires on a link at half its limit (false alerts per site per week),
// and how long it takes on a link at twice its limit: the daemon's own judgement (LinkMonitor,
// its rules and loss evidence, default settings) fed with simulated 5 s windows of 12 probes/s,
// 80 while it confirms a loss. The prober's rate for a window is decided before the window two
// back has been judged (sessions follow each other; a window's replies are waited for 1 s), and
// that lag is simulated too. Seeded: a run repeats exactly.

const WINDOW_S = 5;
const BASE_PPS = 12;
const CONFIRM_PPS = 80;
const WEEK_WINDOWS = (7 * 86_400) / WINDOW_S;
const profiles = loadProfiles();
const profile = profiles.get('teleconsultation-hd')!; // loss ≤ 1 %, IPDV ≤ 30 ms, RTT ≤ 100 ms
const log = pino({ level: 'silent' });

interface Link {
  lossUp: number;
  /** RTT of one probe, ms. */
  rtt: (random: () => number) => number;
}

class SimulatedSite {
  readonly alerts: Alert[] = [];
  readonly monitor: LinkMonitor;
  #clock = 0;
  #decided: boolean[] = [false, false];
  constructor(readonly random: () => number) {
    this.monitor = new LinkMonitor({
      profile,
      profiles: [...profiles.values()],
      rules: { rttIncreaseMs: 20, throughputDropRatio: 0.7 },
      hysteresis: { enterWindows: 1, leaveWindows: 4 },
      baselinePeriodMs: 86_400_000,
      appliance: 'sim',
      sinks: [{ name: 'memory', deliver: (a) => this.alerts.push(a) }],
      log,
      now: () => this.#clock,
    });
  }

  get seconds(): number {
    return this.#clock / 1000;
  }

  /** One window on `link`; the probe rate was chosen two windows back. */
  window(link: Link): void {
    const confirming = this.#decided.shift()!;
    const n = (confirming ? CONFIRM_PPS : BASE_PPS) * WINDOW_S;
    const lostUp = bernoulliCount(n, link.lossUp, this.random);
    const rtts: number[] = [];
    for (let i = 0; i < n - lostUp; i++) rtts.push(link.rtt(this.random));
    const ipdv = rtts.slice(1).map((x, i) => Math.abs(x - rtts[i]!));
    const sorted = sortedCopy(rtts);
    this.#clock += WINDOW_S * 1000;
    const w: ProbeWindow = {
      startedAt: this.#clock - WINDOW_S * 1000,
      endedAt: this.#clock,
      sent: n,
      received: n - lostUp,
      rttMedianMs: sorted[Math.floor(sorted.length / 2)]!,
      ipdvMeanMs: mean(ipdv),
      lossUpPct: (100 * lostUp) / n,
      lossDownPct: 0,
      lossCounts: { up: { lost: lostUp, of: n }, down: { lost: 0, of: n - lostUp } },
      dscpUp: 'preserved',
      dscpDown: 'preserved',
    };
    const rttCi = medianInterval(sorted);
    const ipdvCi = meanInterval(ipdv);
    if (rttCi) w.rttMedianCiMs = rttCi;
    if (ipdvCi) w.ipdvMeanCiMs = ipdvCi;
    this.monitor.onWindow(w);
    this.#decided.push(this.monitor.wantsConfirmation);
  }

  raised(metric: string): number {
    return this.alerts.filter((a) => a.metric === metric && a.kind === 'raised').length;
  }
}

const uniform = (random: () => number, half: number) => (2 * random() - 1) * half;
/** 25 ± 5 ms each way, as the lab's emulator draws: the jittery link of the lab tests. */
const jittery =
  (shiftMs = 0) =>
  (random: () => number) =>
    50 + shiftMs + uniform(random, 5) + uniform(random, 5);
/** Normal jitter of standard deviation σ: mean |IPDV| of independent probes is 2σ/√π. */
const gaussian = (sigma: number) => (random: () => number) => 150 + sigma * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

function falseAlerts(name: string, metric: string, weeks: number, link: Link, seed: number, warmup?: Link): BenchRow {
  const site = new SimulatedSite(seededRandom(seed));
  // a day of the clean link first, so that the RTT baseline is the link's own
  if (warmup) for (let i = 0; i < 86_400 / WINDOW_S; i++) site.window(warmup);
  const before = site.raised(metric);
  const confirming = { windows: 0 };
  for (let i = 0; i < weeks * WEEK_WINDOWS; i++) {
    site.window(link);
    if (site.monitor.wantsConfirmation) confirming.windows++;
  }
  const alerts = site.raised(metric) - before;
  return {
    group: 'False alerts on a link at half its limit (per site and week)',
    case: name,
    tool: `${metric}, ${weeks} simulated weeks`,
    figures: {
      alerts,
      per_week: Math.round((alerts / weeks) * 1000) / 1000,
      confirming_pct: Math.round((1000 * confirming.windows) / (weeks * WEEK_WINDOWS)) / 10,
    },
  };
}

function detection(name: string, metric: string, runs: number, clean: Link, faulty: Link, seed: number): BenchRow {
  const random = seededRandom(seed);
  const delays: number[] = [];
  const clears: number[] = [];
  for (let r = 0; r < runs; r++) {
    const site = new SimulatedSite(random);
    for (let i = 0; i < 24; i++) site.window(clean);
    // the fault begins somewhere inside a window: that window has its share of faulty probes
    const onsetShare = random();
    const onset = site.seconds + (1 - onsetShare) * WINDOW_S;
    site.window(onsetShare > 0.5 ? faulty : clean);
    while (site.raised(metric) === 0 && site.seconds - onset < 600) site.window(faulty);
    delays.push(site.seconds - onset + 1); // + the 1 s a window's last replies are waited for
    const stop = site.seconds;
    while (!site.alerts.some((a) => a.metric === metric && a.kind === 'cleared') && site.seconds - stop < 600) site.window(clean);
    clears.push(site.seconds - stop + 1);
  }
  const sorted = sortedCopy(delays);
  const cleared = sortedCopy(clears);
  const q = (xs: number[], p: number) => Math.round(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]! * 10) / 10;
  return {
    group: 'Detection on a link at twice its limit (s from the fault to the alert; from its end to the clear)',
    case: name,
    tool: `${metric}, ${runs} simulated faults`,
    figures: {
      median_s: q(sorted, 0.5),
      p95_s: q(sorted, 0.95),
      p99_s: q(sorted, 0.99),
      max_s: Math.round(sorted.at(-1)! * 10) / 10,
      within_60_s_pct: Math.round((1000 * delays.filter((d) => d <= 60).length) / runs) / 10,
      clear_median_s: q(cleared, 0.5),
      clear_max_s: cleared.at(-1)!,
    },
  };
}

const bench: Benchmark = {
  name: 'alert-rates',
  title: "Alert rules: false alerts at half the limit, detection at twice the limit (the daemon's judgement on simulated windows)",
  async run(log) {
    const rows: BenchRow[] = [];
    const clean: Link = { lossUp: 0, rtt: jittery() };
    const add = (row: BenchRow) => {
      rows.push(row);
      log(`${row.case}: ${JSON.stringify(row.figures)}`);
    };
    add(falseAlerts('loss 0.5 % up (limit 1 %), 25 ± 5 ms jitter each way', 'loss_up_pct', 20, { lossUp: 0.005, rtt: jittery() }, 1));
    add(falseAlerts('loss 0.3 % up', 'loss_up_pct', 20, { lossUp: 0.003, rtt: jittery() }, 2));
    add(falseAlerts('RTT +10 ms over the baseline (limit +20 ms), 25 ± 5 ms jitter each way', 'rtt_ms', 2, { lossUp: 0, rtt: jittery(10) }, 3, clean));
    add(falseAlerts('mean |IPDV| 15 ms (limit 30 ms): normal jitter σ 13.3 ms', 'ipdv_ms', 2, { lossUp: 0, rtt: gaussian(13.3) }, 4));
    add(detection('loss 2 % up', 'loss_up_pct', 2000, clean, { lossUp: 0.02, rtt: jittery() }, 5));
    add(detection('RTT +40 ms', 'rtt_ms', 500, clean, { lossUp: 0, rtt: jittery(40) }, 6));
    add(detection('mean |IPDV| 60 ms: σ 53 ms', 'ipdv_ms', 500, { lossUp: 0, rtt: gaussian(1) }, { lossUp: 0, rtt: gaussian(53) }, 7));
    return {
      rows,
      notes: [
        "Loss: Page's CUSUM of the Bernoulli log-likelihood ratio between twice the limit and half of it, threshold 12 (src/monitor/loss-evidence.ts). RTT and IPDV: DEGRADED when the 99 % interval of the window's median RTT (order statistics) or mean |IPDV| (normal approximation) lies past the limit, OK again when it lies within the leave value; then 1 window in a row to enter, 4 to leave (the defaults).",
        "A site's week = 120 960 windows of 5 s. Rates per direction and per metric; the loss rows are for the upload direction, the download one is the same test.",
      ],
    };
  },
};

export default bench;
