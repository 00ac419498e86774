#!/usr/bin/env bash
# Fails when the committed docs/admin-api.md or docs/robustctl.md differ
# from what scripts/admindoc.sh generates now.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/scripts/admindoc.sh" "$tmp"
stale=0
for f in admin-api.md robustctl.md; do
  if ! diff -u "$root/docs/$f" "$tmp/$f"; then
    echo "docs/$f is stale: run 'make admin-doc' and commit the result" >&2
    stale=1
  fi
done
[ "$stale" = 0 ] && echo "docs/admin-api.md and docs/robustctl.md are current"
exit "$stale"
