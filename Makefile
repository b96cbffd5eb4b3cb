# batchnotify: `make demo` runs the demo, `make test` runs every test.
# Built tools and cargo's target dir live in a cache outside the clone, keyed
# by version, so a fresh clone is warm when the machine is.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

export BATCHNOTIFY_CACHE ?= $(HOME)/.cache/batchnotify
export CARGO_TARGET_DIR ?= $(BATCHNOTIFY_CACHE)/target
MOTO_VENV = $(BATCHNOTIFY_CACHE)/moto-$(shell sed -n 's/^moto\[server\]==//p' emulator/requirements.txt)

.PHONY: test lint unit emulator-test testbed-deps previous-release testbed demo crd reliability image

## test: everything CI runs — formatting, clippy, the emulator launcher's tests,
## unit and integration tests against the real control plane and emulator.
## The suites run side by side, each on its own test bed (scripts/run-tests.sh).
test: testbed-deps lint previous-release
	mkdir -p $(CARGO_TARGET_DIR)
	MOTO_VENV=$(MOTO_VENV) scripts/run-tests.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	python3 scripts/function-bars.py

emulator-test: testbed-deps
	$(MOTO_VENV)/bin/python -m pytest -q -p no:cacheprovider emulator deploy/argocd deploy/iam

testbed-deps:
	scripts/testbed-deps.sh

## previous-release: the release tests/upgrade takes over from, built once
## into the cache (tests/upgrade/previous-release names its commit).
previous-release:
	scripts/previous-release.sh

## testbed: the control plane and the emulator in the foreground; prints the
## export lines to use them; Ctrl-C stops everything.
testbed: testbed-deps
	cargo run --quiet -p batchnotify-testbed --bin testbed

## demo: the sample end to end on this machine — builds what is missing,
## starts the test bed and the operator, shows a run succeed and one fail with
## both SNS notifications received, then cleans up. `make demo KEEP=1` leaves
## everything running and prints the export lines.
demo:
	DEMO_KEEP=$(or $(KEEP),$(DEMO_KEEP)) scripts/demo.sh

## reliability: the reliability suite (issue #8) at full strength — 24 SIGKILLs
## in the crash scenario instead of `make test`'s 5 — printing its summary
## (kills survived, faults by kind, bad inputs, duplicates, leaks).
## RELIABILITY_SEED=N replays a run.
reliability: testbed-deps
	RELIABILITY_KILLS=$${RELIABILITY_KILLS:-24} cargo test --test reliability -- --nocapture 2>&1 | tee $(CARGO_TARGET_DIR)/reliability-output.txt
	scripts/test-summary.sh $(CARGO_TARGET_DIR)/reliability-output.txt

## bench: the scale benchmark (issues #9, #16): 10, 100 and 1,000 objects against the
## test bed, measuring a release operator; BENCH_NS=1000,10000 adds 10,000 (opt-in).
## BENCH_QUOTA_SCALE=F scales the emulator's quota buckets and the operator's
## budget alike (an account after a quota increase). BENCH_NS=10,100 picks the sizes (see
## benches/scale.rs for the other knobs). The emulator answers up to BENCH_PAGE_SIZE
## (100, AWS's usual page) items a page, where `make test` answers 2 to exercise paging.
## At N=1,000 and 10,000 (BENCH_BASELINE_NS) it also measures the previous release
## (tests/upgrade/previous-release, built optimised once into the cache) in the same
## sitting and fails on a regression of more than 10 %; BENCH_BASELINE= skips that,
## BENCH_BASELINE=path measures another binary.
## Prints a table; writes $(CARGO_TARGET_DIR)/bench/scale.{json,svg} and docs/bench/scale.svg.
BENCH_PAGE_SIZE ?= 100
.PHONY: bench
bench: testbed-deps
	if [ -z "$${BENCH_BASELINE+set}" ]; then scripts/previous-release.sh --release; fi
	BENCH_BASELINE="$${BENCH_BASELINE-$$(scripts/previous-release.sh --release --print)}" \
	BATCHNOTIFY_EMULATOR_ARGS="$${BATCHNOTIFY_EMULATOR_ARGS:-} --page-size $(BENCH_PAGE_SIZE) $(if $(BENCH_QUOTA_SCALE),--quota-scale $(BENCH_QUOTA_SCALE))" cargo bench --bench scale

## crd: regenerate crds/ from the Rust types (and the copies deploy/ ships):
## BatchNotification and AccessGrant.
crd:
	cargo run --quiet --bin crdgen > crds/batchnotify.dev_batchnotifications.yaml
	cp crds/batchnotify.dev_batchnotifications.yaml deploy/base/crd/batchnotify.dev_batchnotifications.yaml
	cp crds/batchnotify.dev_batchnotifications.yaml deploy/helm/batchnotify/files/batchnotify.dev_batchnotifications.yaml
	cargo run --quiet --bin crdgen accessgrants > crds/batchnotify.dev_accessgrants.yaml
	cp crds/batchnotify.dev_accessgrants.yaml deploy/base/crd/batchnotify.dev_accessgrants.yaml
	cp crds/batchnotify.dev_accessgrants.yaml deploy/helm/batchnotify/files/batchnotify.dev_accessgrants.yaml

## image: the operator's image from the Dockerfile, with whichever of docker,
## podman or buildah is installed (IMAGE_BUILDER=… picks one); tagged
## $(IMAGE) (default batchnotify:<version>). Fails saying so when none is.
IMAGE ?= batchnotify:$(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
image:
	IMAGE=$(IMAGE) scripts/image.sh
