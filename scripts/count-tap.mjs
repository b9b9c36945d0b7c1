// Reads raw TAP from `tap --reporter=tap` on stdin, echoes it, and ends with the line CI
// reads: "N passed, N failed, N skipped". A test point is a top-level subtest of a test file;
// a file that died before reporting any subtest counts as one failure.
import { createInterface } from 'node:readline';

const FILE = /^(not )?ok \d+ - (\S+)/;
const POINT = /^ {4}(not )?ok \d+ - (.*?)(?: # (SKIP|TODO)\b.*)?$/;
let passed = 0,
  failed = 0,
  skipped = 0,
  pointsInFile = 0;
const failures = [];

for await (const line of createInterface({ input: process.stdin })) {
  process.stdout.write(`${line}\n`);
  const point = POINT.exec(line);
  if (point) {
    pointsInFile++;
    if (point[3]) skipped++;
    else if (point[1]) {
      failed++;
      failures.push(point[2]);
    } else passed++;
    continue;
  }
  const file = FILE.exec(line);
  if (file) {
    if (pointsInFile === 0) {
      if (file[1]) {
        failed++;
        failures.push(file[2]);
      } else passed++;
    }
    pointsInFile = 0;
  }
}
for (const name of failures) process.stdout.write(`FAILED: ${name}\n`);
process.stdout.write(`${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = failed > 0 ? 1 : 0;
