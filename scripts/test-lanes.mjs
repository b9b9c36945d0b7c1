// Splits the test files into the two lanes scripts/run-tests.sh runs side by side, one file at a
// time in each (usage: node scripts/test-lanes.mjs lab|rest). The lab lane holds the files that
// judge rates and delays in the lab (they were shown to hold with one of the two cores busy,
// never with two of them competing) and the heaviest files (the appliance image booted, the
// Chromium pages, the demo's qualification), so that beside a lab file only a light one runs.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const LAB_LANE = [
  /^test\/integration\/.*lab.*\.test\.ts$/,
  /^test\/monitor\//,
  /^test\/lab\//,
  /^test\/qos\/.*proof.*\.test\.ts$/,
  /^test\/install\//,
  /^test\/integration\/demo\.test\.ts$/,
  /^test\/collector\/(oidc-sign-in|national-dashboard|fleet-pages|live-fleet)\.test\.ts$/,
];

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const lane = process.argv[2];
if (lane !== 'lab' && lane !== 'rest') {
  process.stderr.write('usage: node scripts/test-lanes.mjs lab|rest\n');
  process.exit(2);
}
const files = testFiles('test').sort();
const inLab = (file) => LAB_LANE.some((pattern) => pattern.test(file));
process.stdout.write(`${files.filter((f) => (lane === 'lab' ? inLab(f) : !inLab(f))).join('\n')}\n`);
