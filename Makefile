# hydrognn: build, test and run everything from the repository root.
#
#   make build        the binaries (rig-agent, rig-cloud, rigctl, rigsim, hydrognn-codec-example) into ./bin/
#   make test         what CI runs: lint, then go test -race over every module
#   make e2e          the long end-to-end tests (20 agents and rig-cloud); CI runs it too
#   make build-arm64  rig-agent for linux/arm64; make test-arm64 runs it under qemu
#   make help         every target, one line each
#
# Modules are those listed in go.work; test services (ONNX Runtime's library,
# PostgreSQL, Mosquitto) come from the scripts in deploy/dev/. See
# docs/development.md.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
MAKEFLAGS += --no-print-directory

GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
# Modules of the workspace, as ./dir, and their package patterns (./dir/...).
MODULES  := $(shell $(GO) list -m -f '{{.Dir}}' | sed 's|^$(CURDIR)/|./|')
PKGS     := $(addsuffix /...,$(MODULES))
# Main packages built by `make build`; the binary is named after the folder.
BINARIES := ./agent/cmd/rig-agent ./cloud/cmd/rig-cloud ./tools/cmd/rigctl ./tools/cmd/rigsim ./agent/plugins/examplecodec/cmd/hydrognn-codec-example

STATICCHECK_VERSION ?= v0.8.2
FUZZTIME ?= 10s
# Minimising each new input for up to 60 s (go test's default) stalled short runs at 0 execs/s.
FUZZMINIMIZE ?= 5s
# Extra flags for go test, e.g. make test GOTESTFLAGS='-run TestX -v'.
GOTESTFLAGS ?=

# WITH_SERVICES prefixes a recipe line: it runs the provisioning scripts and
# exports what they print. Each script keeps a value the caller already set
# (ONNXRUNTIME_LIB, DATABASE_URL, MQTT_URL). A failing script stops make.
# With the services provisioned, HYDROGNN_REQUIRE_SERVICES=1 (unless the
# caller set it, e.g. to 0) makes a test that finds one missing fail rather
# than skip (shared/testenv); make env does not print it.
WITH_SERVICES = \
	ONNXRUNTIME_LIB="$$(deploy/dev/onnxruntime.sh)"; export ONNXRUNTIME_LIB; \
	DATABASE_URL="$$(deploy/dev/postgres.sh)"; export DATABASE_URL; \
	MQTT_URL="$$(deploy/dev/mosquitto.sh)"; export MQTT_URL; \
	HYDROGNN_REQUIRE_SERVICES="$${HYDROGNN_REQUIRE_SERVICES:-1}"; export HYDROGNN_REQUIRE_SERVICES; \
	redact() { printf '%s' "$$1" | sed -E 's|(://[^:/@]*):[^@/]*@|\1:xxx@|'; };

.PHONY: help build arm64-cc arm64-deps build-arm64 test-arm64 test test-short e2e bench models lint fmt fuzz demo env \
	services services-stop services-check clean distclean tidy image

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

build: ## build rig-agent, rig-cloud, rigctl, rigsim and the example codec plugin into ./bin/
	@mkdir -p bin
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ $(BINARIES)
	@echo "built $(notdir $(BINARIES)) $(VERSION) into bin/"

# rig-cloud's container image (docs/releases.md, "rig-cloud's container image"), built
# without a container engine by rigctl release image: rig-cloud static
# (CGO_ENABLED=0: the CPU build; XLA needs cgo) for each of IMAGE_PLATFORMS
# into dist/, then one archive (an image index of them) that docker load,
# podman load and skopeo copy oci-archive: take. Timestamps are the commit's
# (SOURCE_DATE_EPOCH), so a rebuild of a commit with the same Go release and
# the same CA bundle gives the same digest. IMAGE_CA_CERTS is the CA bundle
# copied into the image (every CA in it ships; its sha256 is the label
# io.hydrognn.ca-certificates.sha256): Debian's path by default, on
# Fedora/RHEL make image IMAGE_CA_CERTS=/etc/pki/tls/certs/ca-bundle.crt.
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
IMAGE_CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt

image: ## build rig-cloud static for IMAGE_PLATFORMS into dist/ and its container image dist/rig-cloud-image.tar
	@mkdir -p dist
	@set --; for p in $(IMAGE_PLATFORMS); do os="$${p%%/*}"; arch="$${p#*/}"; \
		set -x; env CGO_ENABLED=0 GOOS="$$os" GOARCH="$$arch" $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o "dist/rig-cloud-$$os-$$arch" ./cloud/cmd/rig-cloud; \
		{ set +x; } 2>/dev/null; set -- "$$@" --binary "$$p=dist/rig-cloud-$$os-$$arch"; done; \
	export SOURCE_DATE_EPOCH="$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct)}"; \
	set -x; $(GO) run ./tools/cmd/rigctl release image "$$@" --version "$(VERSION)" \
		--revision "$$(git rev-parse HEAD)" --ca-certs "$(IMAGE_CA_CERTS)" --out dist/rig-cloud-image.tar

# build-arm64 and test-arm64 install what they lack with apt-get (as root or
# through passwordless sudo, as deploy/dev/ does); otherwise they stop and
# print the apt-get command to run. docs/jetson.md.
APT_INSTALL = . deploy/dev/lib.sh && apt_install

# arm64-cc and arm64-deps install, when missing, what build-arm64 and
# test-arm64 need (CI runs arm64-deps in the background from its start:
# apt-get mostly waits on the network).
arm64-cc: ## install the arm64 cross-compiler when missing (apt-get)
	@command -v aarch64-linux-gnu-gcc >/dev/null || { \
		echo "installing gcc-aarch64-linux-gnu libc6-dev-arm64-cross (apt-get)"; \
		$(APT_INSTALL) gcc-aarch64-linux-gnu libc6-dev-arm64-cross; }

arm64-deps: arm64-cc ## install the arm64 cross-compiler, qemu-user and the arm64 libstdc++ when missing (apt-get)
	@command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || { \
		echo "installing qemu-user (apt-get)"; $(APT_INSTALL) qemu-user; }
	@[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || { \
		echo "installing libstdc++6-arm64-cross (apt-get)"; $(APT_INSTALL) libstdc++6-arm64-cross; }

build-arm64: arm64-cc ## cross-compile rig-agent for linux/arm64 (cgo, gcc-aarch64-linux-gnu) into bin/linux-arm64/ with its ONNX Runtime
	@mkdir -p bin/linux-arm64
	CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc GOOS=linux GOARCH=arm64 \
		$(GO) build -ldflags "$(LDFLAGS)" -o bin/linux-arm64/ ./agent/cmd/rig-agent
	@lib="$$(deploy/dev/onnxruntime.sh --arch arm64)"; cp "$$lib" bin/linux-arm64/libonnxruntime.so.1
	@echo "built bin/linux-arm64/rig-agent $(VERSION) with libonnxruntime.so.1 (ONNX Runtime, linux-arm64) beside it"

test-arm64: arm64-deps build-arm64 ## run bin/linux-arm64/rig-agent's inference under qemu-user and compare it with the host build's
	@ONNXRUNTIME_LIB="$$(deploy/dev/onnxruntime.sh)"; export ONNXRUNTIME_LIB; \
	export ONNXRUNTIME_LIB_ARM64="$(CURDIR)/bin/linux-arm64/libonnxruntime.so.1"; \
	export HYDROGNN_ARM64_RIG_AGENT="$(CURDIR)/bin/linux-arm64/rig-agent" HYDROGNN_TEST_ARM64=1; \
	echo "go test -run TestARM64 ./tests/: HYDROGNN_ARM64_RIG_AGENT=$$HYDROGNN_ARM64_RIG_AGENT under $$(command -v qemu-aarch64 || command -v qemu-aarch64-static)"; \
	$(GO) test -count=1 -v -run '^TestARM64' $(GOTESTFLAGS) ./tests/

# Packages that start no goroutine, in their code or their tests, run
# without -race, beside the others: the detector has nothing to find there
# and slows their number crunching eight to fifteen times (the simulator's
# physics: tools/internal/sim 289 s under -race, 37 s without; training:
# models/train 118 s, 8 s; go test -count=1 [-race] PKG).
# tests/TestRaceFreePackages fails when one of them starts a goroutine or
# calls t.Parallel; their in-repo dependencies are tested under -race in
# their own packages.
RACE_FREE := ./tools/internal/sim ./models/train ./models/export ./models/pipeline ./models/report ./models/skab ./models/gnn ./models/onnx

test: lint ## lint, then go test -race -count=1 over every module (RACE_FREE without -race, alongside), with services (CI runs this)
	@$(WITH_SERVICES) \
	echo "go test -race: ONNXRUNTIME_LIB=$$ONNXRUNTIME_LIB DATABASE_URL=$$(redact "$$DATABASE_URL") MQTT_URL=$$(redact "$$MQTT_URL")"; \
	free="$$($(GO) list $(RACE_FREE))"; \
	race="$$($(GO) list $(PKGS) | grep -vxF "$$free")"; \
	log="$$(mktemp)"; trap 'rm -f "$$log"' EXIT; \
	$(GO) test -count=1 $(GOTESTFLAGS) $(RACE_FREE) >"$$log" 2>&1 & bg=$$!; \
	rc=0; $(GO) test -race -count=1 $(GOTESTFLAGS) $$race || rc=$$?; \
	wait "$$bg" || rc=$$?; \
	echo "go test (no -race, RACE_FREE): $(RACE_FREE)"; cat "$$log"; exit "$$rc"

# The long end-to-end tests (tests/, HYDROGNN_TEST_E2E): TestRolloutEndToEnd
# runs rig-cloud, the test Mosquitto and 20 rig-agent processes through a
# staged rollout, a failed canary and a rig-cloud crash (about 2.5 minutes
# on 2 cores; docs/releases.md). Not part of `make test`, whose packages run
# in parallel: 20 agents would slow them down; CI runs it after.
e2e: ## the long end-to-end tests (rollouts to 20 rig-agent processes), with services
	@$(WITH_SERVICES) \
	echo "go test -run TestRolloutEndToEnd ./tests/: DATABASE_URL=$$(redact "$$DATABASE_URL") MQTT_URL=$$(redact "$$MQTT_URL")"; \
	HYDROGNN_TEST_E2E=1 $(GO) test -count=1 -v -run '^TestRolloutEndToEnd$$' $(GOTESTFLAGS) ./tests/

test-short: ## go test -short over every module (no lint, no race), with services
	@$(WITH_SERVICES) \
	$(GO) test -short -count=1 $(GOTESTFLAGS) $(PKGS)

bench: ## run every benchmark once over all modules (-benchmem), with services
	@$(WITH_SERVICES) \
	$(GO) test -run '^$$' -bench . -benchmem $(GOTESTFLAGS) $(PKGS)

# The shipped model bundles (models/bundles/, docs/model.md): `make models`
# retrains them (minutes on 2 cores; never part of `make test`); `make models
# MODELS=skab-testbed` one of them. Sizes are gnn.Sizes as JSON ({}: the
# defaults, the sizes cross-validated in docs/model.md); SKAB_SIZES are the
# sizes the shipped skab-testbed bundle was trained with. Training reports
# (report.md, loss and accuracy curves) go to dist/reports/<bundle>/.
MODELS           ?= zema-testrig excavator skab-testbed
UCI_DATA         ?= ../shared/data/uci-hydraulic-1hz
SKAB_DATA        ?= ../shared/data/skab/data
MODEL_SIZES      ?= {}
SKAB_SIZES       ?= {"hidden":16,"window":8,"readout":8,"head_hidden":16}
MODEL_SEED       ?= 1
EXCAVATOR_CYCLES ?= 1500
EXCAVATOR_SIM    := dataset --rig firmware-configs/excavator.yaml --random --cycles $(EXCAVATOR_CYCLES) --grid-hz 1 --seed $(MODEL_SEED)

models: ## retrain the shipped model bundles in models/bundles/ (MODELS: zema-testrig excavator skab-testbed)
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(GO) build -ldflags "$(LDFLAGS)" -o "$$tmp/" ./tools/cmd/rigctl ./tools/cmd/rigsim; \
	train() { "$$tmp/rigctl" train --rig "firmware-configs/$$1.yaml" --out "models/bundles/$$1" \
		--sizes '$(MODEL_SIZES)' --seed $(MODEL_SEED) --report "dist/reports/$$1" "$${@:2}"; }; \
	for m in $(MODELS); do case "$$m" in \
	zema-testrig) echo "== zema-testrig: trained on uci:$(UCI_DATA)"; \
		train zema-testrig --data uci:$(UCI_DATA) ;; \
	excavator) echo "== excavator: trained on rigsim $(EXCAVATOR_SIM)"; \
		"$$tmp/rigsim" $(EXCAVATOR_SIM) --out "$$tmp/excavator" -q; \
		train excavator --data sim:"$$tmp/excavator" --dataset-label 'sim:rigsim $(EXCAVATOR_SIM)' ;; \
	skab-testbed) echo "== skab-testbed: trained on the normal data of skab:$(SKAB_DATA)"; \
		train skab-testbed --data skab:$(SKAB_DATA) --sizes '$(SKAB_SIZES)' ;; \
	*) echo "make models: unknown bundle $$m (want zema-testrig, excavator or skab-testbed)"; exit 2 ;; \
	esac; done

lint: ## gofmt, go vet and staticcheck over every module
	@echo "gofmt -l $(MODULES)"; \
	out="$$(gofmt -l $(MODULES))"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need 'gofmt -w' (or make fmt):"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

fmt: ## gofmt -w every module
	gofmt -w $(MODULES)

# `go test -list` prints each package's Fuzz targets and then an "ok <pkg>"
# line; -fuzz takes one target of one package at a time.
fuzz: ## run each Fuzz target for FUZZTIME (default 10s)
	@$(WITH_SERVICES) \
	targets="$$($(GO) test -list '^Fuzz' $(PKGS) | \
		awk '/^Fuzz/ {names = names " " $$1} /^ok / {n = split(names, a, " "); for (i = 1; i <= n; i++) print $$2, a[i]; names = ""}')"; \
	if [ -z "$$targets" ]; then echo "no Fuzz targets found"; exit 0; fi; \
	while read -r pkg name; do \
		echo "== $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) "$$pkg"; \
	done <<< "$$targets"

demo: ## run `rigctl demo` with services
	@$(WITH_SERVICES) \
	$(GO) run -ldflags "$(LDFLAGS)" ./tools/cmd/rigctl demo

env: ## print export lines for the services: eval "$(make -s env)"
	@$(WITH_SERVICES) \
	printf 'export ONNXRUNTIME_LIB=%q\nexport DATABASE_URL=%q\nexport MQTT_URL=%q\n' \
		"$$ONNXRUNTIME_LIB" "$$DATABASE_URL" "$$MQTT_URL"

services: ## start (or find) the test services and say where they are
	@$(WITH_SERVICES) true

services-stop: ## stop the PostgreSQL and Mosquitto that deploy/dev started
	@deploy/dev/postgres.sh stop >/dev/null
	@deploy/dev/mosquitto.sh stop >/dev/null

services-check: ## check that the broker at MQTT_URL queues without loss (needs mosquitto-clients)
	@MQTT_URL="$$(deploy/dev/mosquitto.sh)"; deploy/dev/mqtt-check.sh "$$MQTT_URL"

clean: ## remove bin/ and dist/
	rm -rf bin dist

distclean: services-stop clean ## also remove .cache/ (downloaded libraries, throwaway databases)
	@c="$$(readlink -f .cache/pg/cluster 2>/dev/null || true)"; \
	case "$$c" in /tmp/hydrognn-pg-*) rm -rf "$$c" ;; esac
	rm -rf .cache

# go mod tidy ignores go.work: a module importing another of ours needs a
# require + replace pair in its go.mod (docs/development.md).
tidy: ## go mod tidy in every module, then go work sync
	@failed=; for m in $(MODULES); do echo "go mod tidy in $$m"; \
		(cd "$$m" && $(GO) mod tidy) || failed="$$failed $$m"; done; \
	if [ -n "$$failed" ]; then \
		echo "go mod tidy failed in:$$failed"; \
		echo "a module that imports github.com/hydrognn/hydrognn/<mod> needs in its go.mod:"; \
		echo "  require github.com/hydrognn/hydrognn/<mod> v0.0.0-00010101000000-000000000000"; \
		echo "  replace github.com/hydrognn/hydrognn/<mod> => ../<mod>"; \
		exit 1; fi
	$(GO) work sync
