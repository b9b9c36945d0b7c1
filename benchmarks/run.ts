import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeMachine, toolVersions, type Benchmark, type BenchResult } from './harness.js';

// npm run bench [-- NAME ...]: runs every benchmarks/*.bench.ts (or the named ones), writes
// benchmarks/results/<name>.json, then rebuilds benchmarks/RESULTS.md from all results.

const here = fileURLToPath(new URL('.', import.meta.url));
const resultsDir = `${here}results/`;
mkdirSync(resultsDir, { recursive: true });
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();

for (const file of files) {
  const bench = ((await import(pathToFileURL(`${here}${file}`).href)) as { default: Benchmark }).default;
  if (wanted.length > 0 && !wanted.includes(bench.name)) continue;
  const reason = bench.unavailable?.();
  if (reason) {
    process.stderr.write(`bench ${bench.name}: not run here: ${reason}\n`);
    continue;
  }
  process.stderr.write(`bench ${bench.name}: running\n`);
  const { rows, notes } = await bench.run((line) => process.stderr.write(`  ${line}\n`));
  const result: BenchResult = {
    name: bench.name,
    title: bench.title,
    command: `npm run bench -- ${bench.name}`,
    date: new Date().toISOString(),
    machine: describeMachine(),
    versions: toolVersions(),
    notes,
    rows,
  };
  writeFileSync(`${resultsDir}${bench.name}.json`, `${JSON.stringify(result, null, 2)}\n`);
}

writeFileSync(`${here}RESULTS.md`, renderMarkdown());

function renderMarkdown(): string {
  const lines = ['# Benchmark results', '', 'Written by `npm run bench`; each section names the command that produced it.', ''];
  for (const file of readdirSync(resultsDir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const r = JSON.parse(readFileSync(`${resultsDir}${file}`, 'utf8')) as BenchResult;
    lines.push(
      `## ${r.title}`,
      '',
      `\`${r.command}\` — ${r.date.slice(0, 16).replace('T', ' ')} UTC, ${r.machine.cores} × ${r.machine.cpu}, kernel ${r.machine.kernel}; ${Object.entries(
        r.versions,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join('; ')}`,
      '',
    );
    for (const group of [...new Set(r.rows.map((row) => row.group))]) {
      const rows = r.rows.filter((row) => row.group === group);
      const keys = [...new Set(rows.flatMap((row) => Object.keys(row.figures)))];
      lines.push(`**${group}**`, '', `| case | tool | ${keys.join(' | ')} |`, `|---|---|${keys.map(() => '---').join('|')}|`);
      for (const row of rows) lines.push(`| ${row.case} | ${row.tool} | ${keys.map((k) => String(row.figures[k] ?? '')).join(' | ')} |`);
      lines.push('');
    }
    lines.push(...r.notes.map((n) => `- ${n}`), '');
  }
  return `${lines.join('\n')}\n`;
}
