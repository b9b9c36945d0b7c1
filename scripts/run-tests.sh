#!/bin/sh
# Runs the whole suite (unit, CLI, lab, integration) with tap and ends with the line CI reads,
# "N passed, N failed, N skipped". tap's output streams through the counter, so progress
# shows as it happens. Coverage thresholds are in package.json ("tap"): below them tap fails,
# and the closing line counts that as one failure.
set -u
cd "$(dirname "$0")/.."
status_file=$(mktemp)
out_file=$(mktemp)
{ npx tap --reporter=tap --no-color "$@" 2>&1; echo $? > "$status_file"; } | node scripts/count-tap.mjs | tee "$out_file"
tap_status=$(cat "$status_file")
summary=$(tail -n 1 "$out_file")
rm -f "$status_file" "$out_file"
case "$summary" in
  *" 0 failed"*)
    if [ "$tap_status" -ne 0 ]; then
      echo "tap exited $tap_status with no failed test: coverage is below the thresholds in package.json (see the table above)"
      echo "$summary" | sed 's/ 0 failed/ 1 failed/'
      exit 1
    fi
    exit 0 ;;
esac
exit 1
