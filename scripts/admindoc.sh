#!/usr/bin/env bash
# Regenerates docs/admin-api.md (from the .proto files, through a protoc
# descriptor set with source info) and docs/robustctl.md (from robustctl's
# command tree). Usage: scripts/admindoc.sh [OUT_DIR]   (default: docs/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs}
command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root/proto"
mapfile -t files < <(find robustmq -name '*.proto' | sort)
protoc -I . --include_imports --include_source_info --descriptor_set_out="$tmp/api.pb" "${files[@]}"
mkdir -p "$out"
cd "$root/common"
go run ./cmd/admindoc -descriptors "$tmp/api.pb" -root "$root" \
  -api-out "$out/admin-api.md" -ctl-out "$out/robustctl.md"
