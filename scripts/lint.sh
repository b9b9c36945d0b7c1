#!/bin/sh
# npm run lint: the type check, typescript-eslint and Prettier's check, failing if any of them
# fails. ESLint's typed rules are the long one (about 20 s here): it takes one core, while the
# type check and then Prettier (10 s + 9 s) take the other; three at once on two cores took 45 s.
set -u
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx eslint . > "$out/eslint" 2>&1 & eslint=$!
(
  npx tsc -p tsconfig.json --noEmit > "$out/tsc" 2>&1; echo $? > "$out/tsc.status"
  npx prettier --check --log-level warn . > "$out/prettier" 2>&1; echo $? > "$out/prettier.status"
) & others=$!
wait "$eslint"; echo $? > "$out/eslint.status"
wait "$others"
status=0
for tool in tsc eslint prettier; do
  if [ "$(cat "$out/$tool.status")" = 0 ]; then echo "lint: $tool ok"; else status=1; echo "lint: $tool failed:"; cat "$out/$tool"; fi
done
exit "$status"
