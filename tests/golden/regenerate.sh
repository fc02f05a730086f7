#!/usr/bin/env bash
# Regenerates the golden data set and its DuckDB outputs (committed).
# Needs the release binary (make build) and Python 3 with duckdb.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${GOLDEN_VENV:-.venv-golden}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet duckdb pyarrow
fi
# The input: a generated history (refunds, order lines, UTC timestamps).
target/release/retention generate --customers 3000 --seed 11 --start 2022-01-01 \
    --months 30 --out tests/golden/input.csv
# as_of mid-month, so the last month is incomplete; New York time, so
# orders near midnight UTC move to the previous day or month.
"$VENV/bin/python" tests/golden/make_golden.py --input tests/golden/input.csv \
    --as-of 2024-05-17 --window-days 90 --time-zone America/New_York \
    --out-dir tests/golden/expected
# CLV parity golden from the `lifetimes` package, on the summary above
# (needs its own pinned environment; see clv/make_lifetimes_golden.py).
LIFETIMES_VENV=${LIFETIMES_VENV:-.venv-lifetimes}
if [ ! -x "$LIFETIMES_VENV/bin/python" ]; then
    python3 -m venv "$LIFETIMES_VENV"
    "$LIFETIMES_VENV/bin/pip" install --quiet "lifetimes==0.11.3" "numpy<2" "pandas<2" \
        "scipy<1.12" "pyarrow<17" autograd dill
fi
"$LIFETIMES_VENV/bin/python" tests/golden/clv/make_lifetimes_golden.py \
    tests/golden/expected/customers.csv tests/golden/clv/lifetimes_golden.json
