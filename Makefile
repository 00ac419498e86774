# RobustMQ-Go. The two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
# TESTLOGS holds the integration and deploy tests' full output (per checkout,
# so two checkouts testing at once do not overwrite each other's).
TESTLOGS := $(BIN)/test-logs
MODULES := proto common placement-center journal-server broker-server tests
# GOMODS are the modules that hold Go code yet (vet and test need packages).
GOMODS = $(shell for m in $(MODULES); do if find $$m -name '*.go' | grep -q .; then echo $$m; fi; done)
export CGO_ENABLED ?= 0

.PHONY: all build build-static images test-compose test-deploy proto proto-check admin-doc admin-doc-check test test-unit test-integration lint run run-cluster bench bench-placement bench-journal bench-mqtt bench-kafka fuzz chaos clean fuzz-smoke bench-smoke tidy

all: build

## build: compile every binary into bin/
build:
	@mkdir -p $(BIN)
	cd placement-center && $(GO) build -o $(BIN)/placement-center ./cmd/placement-center
	cd journal-server && $(GO) build -o $(BIN)/journal-server ./cmd/journal-server
	cd broker-server && $(GO) build -o $(BIN)/broker-server ./cmd/broker-server
	cd common && $(GO) build -o $(BIN)/robustctl ./cmd/robustctl

## build-static: the binaries the container image holds (CGO_ENABLED=0, -trimpath), into bin/static/
STATIC := $(BIN)/static
STATIC_FLAGS := -trimpath -ldflags='-s -w'
build-static:
	@mkdir -p $(STATIC)/rootfs/data
	cd placement-center && CGO_ENABLED=0 $(GO) build $(STATIC_FLAGS) -o $(STATIC)/placement-center ./cmd/placement-center
	cd journal-server && CGO_ENABLED=0 $(GO) build $(STATIC_FLAGS) -o $(STATIC)/journal-server ./cmd/journal-server
	cd broker-server && CGO_ENABLED=0 $(GO) build $(STATIC_FLAGS) -o $(STATIC)/broker-server ./cmd/broker-server
	cd common && CGO_ENABLED=0 $(GO) build $(STATIC_FLAGS) -o $(STATIC)/robustctl ./cmd/robustctl
	cd deploy/healthcheck && GOWORK=off CGO_ENABLED=0 $(GO) build $(STATIC_FLAGS) -o $(STATIC)/robustmq-healthcheck .

## images: the robustmq-go image (FROM scratch, bin/static/ only; needs a Docker engine)
IMAGE ?= robustmq-go:dev
images: build-static
	docker build -f deploy/docker/Dockerfile -t $(IMAGE) .

## test-compose: deploy/docker-compose.yml end to end (needs a Docker engine; not part of `make test`)
test-compose: images
	ROBUSTMQ_IMAGE=$(IMAGE) scripts/test-compose.sh

## test-deploy: the image inputs, the compose file (run on loopback) and the Helm chart (rendered, decoded strictly)
DEPLOY_MODS := deploy/healthcheck deploy/test
test-deploy: build-static
	@out=$$(gofmt -l $(DEPLOY_MODS)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(DEPLOY_MODS); do (cd $$m && GOWORK=off $(GO) vet ./... && if [ -x $(BIN)/tools/staticcheck ]; then GOWORK=off $(BIN)/tools/staticcheck ./...; fi); done
	cd deploy/healthcheck && GOWORK=off $(GO) test -count=1 ./...
	@mkdir -p $(TESTLOGS)
	cd deploy/test && GOWORK=off ROBUSTMQ_STATIC_BIN=$(STATIC) $(GO) test -count=1 -timeout 10m -v ./... >$(TESTLOGS)/deploy.log 2>&1; rc=$$?; grep -E '^(\s*--- |PASS|FAIL|ok|panic)' $(TESTLOGS)/deploy.log; if [ $$rc -ne 0 ]; then tail -150 $(TESTLOGS)/deploy.log; fi; exit $$rc

## proto: regenerate proto/gen from the .proto files (protoc + pinned plugins), and the API doc
proto:
	scripts/genproto.sh
	scripts/admindoc.sh

## proto-check: fail when the committed generated code is stale
proto-check:
	scripts/checkproto.sh

## admin-doc: regenerate docs/admin-api.md (from the protos) and docs/robustctl.md (from robustctl)
admin-doc:
	scripts/admindoc.sh

## admin-doc-check: fail when the committed docs/admin-api.md or docs/robustctl.md is stale
admin-doc-check:
	scripts/checkadmindoc.sh

## test: everything CI runs (under 25 minutes on 2 cores)
test: proto-check admin-doc-check lint build test-unit fuzz-smoke test-integration bench-smoke test-deploy

test-unit:
	@set -e; for m in $(GOMODS); do echo "== go test $$m"; (cd $$m && $(GO) test -count=1 -timeout 15m $$( [ "$$m" = tests ] && echo "-skip Integration" ) ./...); done

# The full -v output goes to $(TESTLOGS)/integration.log; on a failure the
# lines before each "--- FAIL" (the failing test's own messages) are shown too.
test-integration: build
	@mkdir -p $(TESTLOGS)
	cd tests && ROBUSTMQ_BIN=$(BIN) $(GO) test -count=1 -timeout 15m -run Integration -v ./... 2>&1 | tee $(TESTLOGS)/integration.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)' ; rc=$${PIPESTATUS[0]}; if [ $$rc -ne 0 ]; then echo "== failures ($(TESTLOGS)/integration.log)"; grep -E -B40 '^\s*--- FAIL|^panic' $(TESTLOGS)/integration.log | tail -400; fi; exit $$rc

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $(MODULES) | grep -v '^proto/gen/' || true); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(GOMODS); do (cd $$m && $(GO) vet ./...); done
	@if [ -x $(BIN)/tools/staticcheck ]; then set -e; for m in $(GOMODS); do (cd $$m && $(BIN)/tools/staticcheck ./...); done; else echo "staticcheck not installed (scripts/install-tools.sh); skipped"; fi

## run: build and start placement center (+ journal + broker as they land) locally
run: build
	scripts/run-local.sh

## run-cluster: a 3-member placement center from config/raft/
run-cluster: build
	scripts/run-cluster.sh

## bench: every benchmark against its peer
bench: bench-placement bench-journal bench-mqtt bench-kafka

bench-placement: build
	scripts/bench-placement.sh

## bench-journal: journal produce/consume vs NATS JetStream and the disk's limit
bench-journal: build
	scripts/bench-journal.sh

## bench-mqtt: MQTT broker vs mosquitto (QoS 1, QoS 0 fan-in, slow subscriber)
bench-mqtt: build
	scripts/bench-mqtt.sh

## bench-kafka: franz-go against the Kafka front end vs NATS JetStream and the raw stream client
bench-kafka: build
	scripts/bench-kafka.sh

bench-smoke: build
	cd tests/bench && GOWORK=off $(GO) test -count=1 ./...
	scripts/bench-placement.sh --smoke
	scripts/bench-journal.sh --smoke
	scripts/bench-mqtt.sh --smoke
	scripts/bench-kafka.sh --smoke

## fuzz: longer fuzzing of every wire decoder (FUZZTIME=30s per target by default)
fuzz:
	scripts/fuzz.sh $${FUZZTIME:-30s}

## chaos: the long fault-injection runs
chaos: build
	cd tests && ROBUSTMQ_BIN=$(BIN) ROBUSTMQ_CHAOS=1 $(GO) test -count=1 -timeout 60m -run Integration -v ./...

clean:
	rm -rf $(BIN) data

fuzz-smoke:
	scripts/fuzz.sh 5s

# GENPROTO pins the monolithic google.golang.org/genproto module: pebble's
# cockroachdb/errors requires a 2023 version whose googleapis/rpc/status
# package clashes with the split-out module grpc uses ("ambiguous import").
# `go mod tidy` drops the pin because nothing imports the module directly,
# so always tidy through this target.
GENPROTO := google.golang.org/genproto@v0.0.0-20261026165753-2ffab32bce7e

## tidy: go mod tidy every module, keeping the genproto pin where pebble is used
tidy:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) mod tidy && if grep -q cockroachdb/pebble go.mod; then $(GO) get $(GENPROTO); fi); done
