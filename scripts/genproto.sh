#!/usr/bin/env bash
# Regenerates proto/gen from proto/robustmq/**/*.proto with pinned plugins.
# Usage: scripts/genproto.sh [OUT_DIR]   (default: proto/, i.e. in place)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/proto}
tools=$root/bin/tools
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.0
if [[ ! -x $tools/protoc-gen-go || $($tools/protoc-gen-go --version) != *"${PROTOC_GEN_GO_VERSION#v}"* ]]; then
  GOBIN=$tools go install google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION
fi
if [[ ! -x $tools/protoc-gen-go-grpc || $($tools/protoc-gen-go-grpc --version) != *"${PROTOC_GEN_GO_GRPC_VERSION#v}"* ]]; then
  GOBIN=$tools go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION
fi
command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler" >&2; exit 1; }
cd "$root/proto"
mapfile -t files < <(find robustmq -name '*.proto' | sort)
mkdir -p "$out"
PATH=$tools:$PATH protoc -I . \
  --go_out="$out" --go_opt=module=github.com/robustmq/robustmq-go/proto \
  --go-grpc_out="$out" --go-grpc_opt=module=github.com/robustmq/robustmq-go/proto \
  "${files[@]}"
