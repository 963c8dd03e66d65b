# The two commands of the README: `make demo` and `make test`. Each works on a fresh clone:
# it installs the npm dependencies, starts the local stack (downloading and building what it
# needs into ~/.cache/permitflow on first use), and runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UNIT_TESTS := $(wildcard test/unit/*.test.ts)
INTEGRATION_TESTS := $(wildcard test/integration/*.test.ts)
NODE_TEST := node --import tsx --test --test-concurrency=1
# Node 20 is supported with the pinned AWS SDK; its start-up notice about Node 22 is noise.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED := true

.PHONY: help install stack-up stack-down stack-status tools topology demo test test-unit test-integration check bench

help:
	@echo "make demo    run the main job on the local stack"
	@echo "make test    typecheck, lint, unit and integration tests on the local stack"
	@echo "make stack-up | stack-down | stack-status | tools | test-unit | check"

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json

stack-up: install
	npx permitflow stack up

stack-down: install
	npx permitflow stack down

stack-status: install
	npx permitflow stack status

demo: stack-up
	npx permitflow demo

# promtool (pinned; built once into ~/.cache/permitflow with go install) for the ops/prometheus tests.
tools: install
	npx permitflow stack tools

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
