#!/usr/bin/env bash
# Fails when the committed proto/gen differs from what the .proto files generate.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/scripts/genproto.sh" "$tmp"
if ! diff -r "$tmp/gen" "$root/proto/gen"; then
  echo "proto/gen is stale: run 'make proto' and commit the result" >&2
  exit 1
fi
echo "proto/gen is current"
