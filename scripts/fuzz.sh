#!/usr/bin/env bash
# Runs every `go test -fuzz` target of every module for the given time each
# (default 30s; `make test` runs a 5s smoke of each).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fuzztime=${1:-30s}
found=0
for mod in proto common placement-center journal-server broker-server; do
  [[ -d $root/$mod ]] || continue
  while IFS= read -r file; do
    dir=$(dirname "$file")
    for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
      found=$((found + 1))
      echo "== fuzz $mod/${dir#$root/$mod/} $target ($fuzztime)"
      (cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" .)
    done
  done < <(grep -rl --include='*_test.go' -E '^func Fuzz' "$root/$mod" || true)
done
echo "fuzzed $found targets"
