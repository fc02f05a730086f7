# One optimized profile (release, no LTO) serves run, test and bench, so
# Polars is compiled once.
CARGO ?= cargo
BIN := target/release/retention
PIPELINE ?= pipelines/sample.toml
AS_OF ?=
THREADS ?=
TEST_VENV := .venv-test
# The tests, lint and chaos build with the cluster engine and the fault
# points (one set of features: the dependencies are compiled once for them).
TEST_FEATURES := failpoints,distributed
# `make nightly ENGINE=ballista [SCHEDULER=HOST:PORT]`: on a cluster (see `make cluster`).
ENGINE ?= embedded
SCHEDULER ?=
CLUSTER_DIR := .cluster

.PHONY: build build-cluster run nightly cluster cluster-stop test test-build chaos bench bench-cluster bench-clv lint fmt sample-data golden clean

build:
	$(CARGO) build --release --bin retention

## The binary with the cluster engine (`--engine ballista`, `retention cluster`).
build-cluster:
	$(CARGO) build --release --features distributed --bin retention

## Run the default pipeline on the shipped sample data (every time: a
## second `make run` compares itself with the first; `make nightly` skips
## a run whose pipeline, inputs and as_of are already published).
run: build
	$(BIN) run pipelines/sample.toml --force

## Nightly job: make nightly PIPELINE=pipelines/x.toml AS_OF=2024-05-31
## On a cluster: make nightly ENGINE=ballista SCHEDULER=127.0.0.1:50050
nightly: $(if $(filter ballista,$(ENGINE)),build-cluster,build)
	$(BIN) run $(PIPELINE) $(if $(AS_OF),--as-of $(AS_OF)) $(if $(THREADS),--threads $(THREADS)) --engine $(ENGINE) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

## A local cluster in the background: a scheduler on 127.0.0.1:50050 and
## two executors (127.0.0.1:50051 and :50061); logs and pids in .cluster/.
cluster: build-cluster
	mkdir -p $(CLUSTER_DIR)
	$(BIN) cluster scheduler --bind 127.0.0.1:50050 >$(CLUSTER_DIR)/scheduler.log 2>&1 & echo $$! >$(CLUSTER_DIR)/scheduler.pid
	sleep 1
	for port in 50051 50061; do \
	    $(BIN) cluster executor --scheduler 127.0.0.1:50050 --bind 127.0.0.1:$$port --work-dir $(CLUSTER_DIR)/executor-$$port \
	        >$(CLUSTER_DIR)/executor-$$port.log 2>&1 & echo $$! >$(CLUSTER_DIR)/executor-$$port.pid; \
	done
	@echo "cluster up: scheduler 127.0.0.1:50050, executors 127.0.0.1:50051 and 127.0.0.1:50061 (logs in $(CLUSTER_DIR)/)"
	@echo "run on it:  make nightly ENGINE=ballista SCHEDULER=127.0.0.1:50050"
	@echo "stop it:    make cluster-stop"

cluster-stop:
	-for pid in $(CLUSTER_DIR)/*.pid; do kill $$(cat $$pid) 2>/dev/null; rm -f $$pid; done

## Unit, property and black-box tests (release profile, shared with run).
## The black-box tests also need .venv-test/: an S3-compatible server
## process (moto's) and the Python readers the tables are read back with.
test: $(TEST_VENV)/installed
	RETENTION_TEST_VENV=$(abspath $(TEST_VENV)) $(CARGO) test --release --features $(TEST_FEATURES)

## Compile what `make test` runs, without running it (CI starts this first
## and installs the test tools while it compiles).
test-build:
	$(CARGO) test --release --features $(TEST_FEATURES) --no-run

$(TEST_VENV)/installed: tests/python/requirements.txt
	python3 -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets --features $(TEST_FEATURES) -- -D warnings
	$(CARGO) clippy --release --all-targets --features failpoints -- -D warnings

fmt:
	$(CARGO) fmt --all

## Regenerate the shipped sample (deterministic: same seed, same file).
sample-data: build
	$(BIN) generate --customers 2000 --seed 7 --start 2022-01-01 --months 36 --out sample_data/orders.csv --surveys sample_data/surveys.csv

## Regenerate the DuckDB golden outputs (needs Python; see tests/golden/README.md).
golden: build
	bash tests/golden/regenerate.sh

clean:
	rm -rf out

## Side by side with DuckDB and chDB, on typed and string-typed histories (bench/README.md):
## make bench [BENCH_SIZES=1000000,10000000 BENCH_RUNS=3 BENCH_VARIANTS=typed,text]
## Installs duckdb and chdb into .venv-bench/ on first use.
bench: build
	python3 bench/bench.py
	python3 bench/clv_bench.py

## Embedded and on a local three-process cluster, 10 M and 100 M orders (bench/cluster_bench.py):
## make bench-cluster [BENCH_CLUSTER_SIZES=10000000,100000000]
bench-cluster: build-cluster
	python3 bench/cluster_bench.py

## The CLV stage alone at 1 M and 2 M customers on 3-year daily histories, next to lifetimes:
## make bench-clv [BENCH_CLV_CUSTOMERS=1000000,2000000 BENCH_CLV_MODELS=bg_nbd,auto BENCH_CLV_RUNS=3]
bench-clv: build
	python3 bench/clv_bench.py

## Nightly soak: the crash tests with 100 random kills.
chaos:
	RETENTION_CHAOS_KILLS=$${RETENTION_CHAOS_KILLS:-100} $(CARGO) test --release --features $(TEST_FEATURES) --test it chaos -- --nocapture
