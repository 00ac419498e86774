#!/usr/bin/env bash
# Installs the pinned Go tools the build and lint need into bin/tools.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=$root/bin/tools
mkdir -p "$tools"
[[ -x $tools/staticcheck ]] || GOBIN=$tools go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
[[ -x $tools/protoc-gen-go ]] || GOBIN=$tools go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
[[ -x $tools/protoc-gen-go-grpc ]] || GOBIN=$tools go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
