#!/bin/sh
# Runs the whole suite (unit, CLI, lab, integration) with tap and ends with the line CI reads.
# Coverage thresholds are in package.json ("tap"); tap fails the run below them.
set -u
cd "$(dirname "$0")/.."
out=$(mktemp)
npx tap --reporter=tap --no-color "$@" > "$out" 2>&1
tap_status=$?
node scripts/count-tap.mjs < "$out"
count_status=$?
rm -f "$out"
if [ $tap_status -ne 0 ] && [ $count_status -eq 0 ]; then
  echo "tap exited $tap_status with no failed test: coverage below the thresholds in package.json (see the table above)"
fi
[ $tap_status -eq 0 ] && [ $count_status -eq 0 ]
