import type { EChartsOption } from 'echarts';
import { bucketEdges, type Histogram } from '../histogram.js';

// Charts as SVG strings, drawn by Apache ECharts' server-side renderer (no DOM, no canvas):
// the SVG goes inline in the page, so the report needs no script and no network.
// [echarts.apache.org/handbook/en/how-to/cross-platform/server]

type EChartsModule = typeof import('echarts');
let echartsModule: Promise<EChartsModule> | undefined;
const loadEcharts = (): Promise<EChartsModule> => (echartsModule ??= import('echarts'));

/** Loads the chart library ahead of the first page (a server: its first visitor should not wait). */
export async function warmUpCharts(): Promise<void> {
  await renderChart({ xAxis: { type: 'category', data: ['a'] }, yAxis: { type: 'value' }, series: [{ type: 'bar', data: [1] }] }, { width: 10, height: 10 });
}

export const PALETTE = { up: '#0b57d0', down: '#b3261e', idle: '#1b7f3b', limit: '#5f6368', best: '#9aa0a6' };

const WIDTH = 520;
const HEIGHT = 260;

export async function renderChart(option: EChartsOption, size: { width?: number; height?: number } = {}): Promise<string> {
  const echarts = await loadEcharts();
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: size.width ?? WIDTH, height: size.height ?? HEIGHT });
  try {
    chart.setOption({ animation: false, textStyle: { fontFamily: 'DejaVu Sans, Arial, sans-serif' }, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

export interface Series {
  name: string;
  values: Array<number | null>;
  color: string;
}

/** A vertical line at one x value (an alert, a qualification) on a line chart. */
export interface ChartMark {
  x: string;
  label: string;
  color: string;
}

/** Values over a shared x axis (seconds, dates), with an optional horizontal limit line and vertical marks. */
export function lineChart(o: {
  x: Array<string | number>;
  series: Series[];
  yName: string;
  limit?: { value: number; label: string } | undefined;
  marks?: readonly ChartMark[];
}): Promise<string> {
  const marks = (o.marks ?? []).map((m) => ({
    xAxis: m.x,
    label: { formatter: m.label, position: 'end' as const, fontSize: 9 },
    lineStyle: { color: m.color, type: 'solid' as const, width: 1 },
  }));
  return renderChart({
    // the legend under the axis: at the top it ran into the axis name with three series
    grid: { left: 56, right: 16, top: 36, bottom: 56 },
    legend: { bottom: 0, left: 'center' },
    xAxis: { type: 'category', data: o.x.map(String), boundaryGap: false },
    yAxis: { type: 'value', name: o.yName, nameTextStyle: { align: 'left' } },
    series: o.series.map((s, i) => ({
      type: 'line',
      name: s.name,
      data: s.values,
      color: s.color,
      symbolSize: 4,
      connectNulls: false,
      ...(i === 0 && (o.limit || marks.length)
        ? {
            markLine: {
              symbol: 'none',
              silent: true,
              lineStyle: { color: PALETTE.limit, type: 'dashed' },
              label: { formatter: o.limit?.label ?? '', position: 'insideEndTop' },
              data: [...(o.limit ? [{ yAxis: o.limit.value }] : []), ...marks],
            },
          }
        : {}),
    })),
  });
}

/** Counts per bucket of one or more histograms (sharing nothing: each keeps its own buckets). */
export function histogramChart(o: { histogram: Histogram; name: string; color: string; xName: string }): Promise<string> {
  const edges = bucketEdges(o.histogram);
  return renderChart({
    grid: { left: 48, right: 16, top: 28, bottom: 48 },
    xAxis: { type: 'category', data: edges.map((e) => String(e)), name: o.xName, nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', name: o.name },
    series: [{ type: 'bar', data: o.histogram.counts, color: o.color, barCategoryGap: '5%' }],
  });
}

/** Groups of bars: one group per category, one bar per series. */
export function groupedBars(o: { categories: string[]; series: Series[]; yName: string }): Promise<string> {
  return renderChart({
    // the legend under the axis: at the top it ran into the axis name with three series
    grid: { left: 56, right: 16, top: 36, bottom: 56 },
    legend: { bottom: 0, left: 'center' },
    xAxis: { type: 'category', data: o.categories },
    yAxis: { type: 'value', name: o.yName },
    series: o.series.map((s) => ({ type: 'bar', name: s.name, data: s.values, color: s.color, label: { show: true, position: 'top', fontSize: 10 } })),
  });
}
