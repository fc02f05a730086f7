# One optimized profile (release, no LTO) serves run, test and bench, so
# Polars is compiled once.
CARGO ?= cargo
BIN := target/release/retention
PIPELINE ?= pipelines/sample.toml
AS_OF ?=
THREADS ?=
TEST_VENV := .venv-test

.PHONY: build run nightly test chaos bench bench-clv lint fmt sample-data golden clean

build:
	$(CARGO) build --release --bin retention

## Run the default pipeline on the shipped sample data (every time: a
## second `make run` compares itself with the first; `make nightly` skips
## a run whose pipeline, inputs and as_of are already published).
run: build
	$(BIN) run pipelines/sample.toml --force

## Nightly job: make nightly PIPELINE=pipelines/x.toml AS_OF=2024-05-31
nightly: build
	$(BIN) run $(PIPELINE) $(if $(AS_OF),--as-of $(AS_OF)) $(if $(THREADS),--threads $(THREADS))

## Unit, property and black-box tests (release profile, shared with run).
## The black-box tests also need .venv-test/: an S3-compatible server
## process (moto's) and the Python readers the tables are read back with.
test: $(TEST_VENV)/installed
	RETENTION_TEST_VENV=$(abspath $(TEST_VENV)) $(CARGO) test --release --features failpoints

$(TEST_VENV)/installed: tests/python/requirements.txt
	python3 -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@

lint:
	$(CARGO) fmt --all -- --check
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

## The CLV stage alone at 1 M and 2 M customers on 3-year daily histories, next to lifetimes:
## make bench-clv [BENCH_CLV_CUSTOMERS=1000000,2000000 BENCH_CLV_MODELS=bg_nbd,auto]
bench-clv: build
	python3 bench/clv_bench.py

## Nightly soak: the crash tests with 100 random kills.
chaos:
	RETENTION_CHAOS_KILLS=$${RETENTION_CHAOS_KILLS:-100} $(CARGO) test --release --features failpoints --test it chaos -- --nocapture
