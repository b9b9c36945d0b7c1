// Splits the test files into the two lanes scripts/run-tests.sh runs side by side, one file at a
// time in each (usage: node scripts/test-lanes.mjs lab|rest). The lab lane holds the files that
// judge rates and delays in the lab: two of them never compete for the two CPUs, and beside one
// runs one file of the other lane at most — the condition they were shown to hold under (one of
// the two cores held by a busy loop, docs/development.md). The two heaviest files (the appliance
// image built and booted, the demo's qualification) are in that lane too, never beside a lab file;
// everything else is in the other lane.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const LAB_LANE = [
  /^test\/integration\/.*lab.*\.test\.ts$/,
  /^test\/monitor\/(link-alerts|rtp-analysis|teleconsultations)\.test\.ts$/,
  /^test\/lab\//,
  /^test\/qos\/.*proof.*\.test\.ts$/,
  /^test\/install\//,
  /^test\/integration\/demo\.test\.ts$/,
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
