#!/bin/sh
# Runs the whole suite (unit, CLI, lab, integration) with tap in two lanes side by side, one file
# at a time in each (scripts/test-lanes.mjs says which file goes where and why), then the
# coverage of both together against the thresholds in package.json ("tap"), and ends with the
# line CI reads, "N passed, N failed, N skipped". The lab lane's output streams as it happens;
# the other lane's follows it. Coverage below a threshold counts as one failure.
set -u
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node scripts/test-lanes.mjs lab > "$work/lab.list"
node scripts/test-lanes.mjs rest > "$work/rest.list"
# Both lanes write their coverage into .tap/coverage; tap clears it only when no --save list is
# given, so it is cleared here, once, before either starts.
rm -rf .tap/coverage .tap/processinfo
lane() {
  # $1: lane name; tap reads the files to run from its --save list
  npx tap --reporter=tap --no-color --allow-incomplete-coverage --coverage-report=none --save "$work/$1.list" 2>&1
  echo $? > "$work/$1.status"
}
lane rest > "$work/rest.out" &
rest_pid=$!
lane lab | node scripts/count-tap.mjs | tee "$work/lab.counted"
wait "$rest_pid"
echo "# the other lane:"
node scripts/count-tap.mjs < "$work/rest.out" | tee "$work/rest.counted"
echo "# coverage of both lanes together:"
npx tap report text
coverage_status=$?

sum() { tail -n 1 "$work/lab.counted" "$work/rest.counted" | grep -E '^[0-9]+ passed' | awk -v col="$1" '{ n += $col } END { print n + 0 }'; }
passed=$(sum 1)
failed=$(sum 3)
skipped=$(sum 5)
status=0
[ "$(cat "$work/lab.status")" -ne 0 ] || [ "$(cat "$work/rest.status")" -ne 0 ] && status=1
if [ "$coverage_status" -ne 0 ]; then
  echo "coverage is below the thresholds in package.json (see the table above)"
  failed=$((failed + 1))
fi
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
