// The page shell shared by the printed report and the national dashboard: one file, no
// external resource (the appliance and many prison PCs are offline), and a Content Security
// Policy that forbids fetching anything, so a forgotten link fails loudly in a test instead of
// leaking a request. Printable: A4, charts kept whole on a page.

export function escapeHtml(value: unknown): string {
  return textOf(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Text of a value for a page or a cell: nothing for null, JSON for an object (never "[object Object]"). */
export function textOf(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value.toString();
  if (typeof value === 'object') return JSON.stringify(value);
  return '';
}

const CSS = `
:root { --ok: #1b7f3b; --warn: #b26a00; --bad: #b3261e; --muted: #5f6368; --line: #d0d4d9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, "DejaVu Sans", Arial, sans-serif; color: #1f2328; margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kv th { width: 32%; background: none; font-weight: 500; color: var(--muted); }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 4px; font-weight: 700; color: #fff; }
.v-pass { background: var(--ok); } .v-pass\\* { background: #5b9f6f; } .v-fail { background: var(--bad); } .v-fail\\* { background: #d0665f; } .v-info { background: var(--muted); } .v-stale { background: var(--warn); }
.banner { display: flex; gap: 16px; align-items: center; margin: 12px 0; padding: 12px; border: 1px solid var(--line); border-radius: 6px; }
.banner .big { font-size: 20px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 12px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; break-inside: avoid; }
figcaption { font-weight: 600; margin-bottom: 4px; }
figure svg { width: 100%; max-width: 640px; height: auto; display: block; }
.muted { color: var(--muted); } .mono { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
.filters { display: flex; gap: 12px; align-items: end; flex-wrap: wrap; margin: 8px 0; }
.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
a { color: #0b57d0; }
td.c-ok { background: #e6f4ea; } td.c-warn { background: #fef3e0; } td.c-bad { background: #fce8e6; font-weight: 600; } td.c-none { color: var(--muted); }
.grid td { text-align: center; font-variant-numeric: tabular-nums; } .grid td:first-child { text-align: left; }
.signoff td { height: 70px; }
@media print { body { margin: 0; max-width: none; font-size: 11px; } nav, .filters { display: none; } h2 { break-after: avoid; } }
@page { size: A4; margin: 14mm; }
`;

export function htmlPage(o: { lang: string; title: string; body: string }): string {
  return `<!doctype html>
<html lang="${escapeHtml(o.lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'">
<title>${escapeHtml(o.title)}</title>
<style>${CSS}</style>
</head>
<body>
${o.body}
</body>
</html>
`;
}
