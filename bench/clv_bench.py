#!/usr/bin/env python3
"""The CLV stage at scale (`make bench` runs it after bench.py; `make
bench-clv` alone): on 3-year daily histories of 1 M and 2 M customers, our
whole pipeline with each `[clv] model` in BENCH_CLV_MODELS, and the
`lifetimes` package (BG/NBD and Gamma-Gamma) on the same customer summary.
Reports the CLV stage's seconds and peak RSS (from the run's manifest), its
fit and prediction seconds (from its debug log), the whole run's wall time
and peak RSS, and lifetimes' fit and prediction seconds; writes them to
bench/results/clv_scale_<UTC timestamp>.csv. See bench/README.md.

Environment:
  BENCH_CLV_CUSTOMERS  comma-separated customer counts (default 1000000,2000000; 0 skips)
  BENCH_CLV_MODELS     [clv] model of each run         (default bg_nbd,auto)
  BENCH_CLV_RUNS       runs of each of our configurations; every figure
                       is the median of the runs  (default 3)
  BENCH_LIFETIMES      0 leaves lifetimes out          (default 1)

Python standard library only; it reuses bench.py's helpers (the lifetimes
virtualenv among them).
"""

import datetime as dt
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench.py: paths, measure, lifetimes venv, tables)

SEED, START, MONTHS = 42, "2021-01-01", 36
MODELS = ("bg_nbd", "pareto_nbd", "mbg_nbd", "auto")

PIPELINE = """# Written by bench/clv_bench.py: the CLV stage at scale.
name = "clv36_{customers}_{model}"

[input]
path = "{input}"
format = "parquet"

[columns]
customer_id = "customer_id"
order_ts = "order_ts"
amount = "amount"
order_id = "order_id"

[business]
time_zone = "UTC"
activity_window_days = 365

[clv]
enabled = true
model = "{model}"
horizon_months = 12
discount_rate_monthly = 0.01

[output]
dir = "{out_dir}"
keep_runs = 2
"""


def parse_list(name, default, parse):
    text = os.environ.get(name, "").strip() or default
    try:
        return [parse(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError as e:
        bench.die(f"{name}={text!r}: {e}")


def model_name(m):
    if m not in MODELS:
        raise ValueError(f"{m!r} is not one of {', '.join(MODELS)}")
    return m


def history(customers):
    """bench/data/clv36_<customers>.parquet, generated once (delete it to
    make it again) and its truth.json."""
    path = os.path.join(bench.DATA, f"clv36_{customers}.parquet")
    truth = path + ".truth.json"
    if not (os.path.exists(path) and os.path.exists(truth)):
        os.makedirs(bench.DATA, exist_ok=True)
        cmd = [bench.BIN, "generate", "--customers", str(customers), "--seed", str(SEED),
               "--start", START, "--months", str(MONTHS), "--out", path]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            bench.die(f"generate failed ({' '.join(cmd)}):\n{r.stdout}{r.stderr}")
        bench.log("bench: " + r.stdout.strip().splitlines()[0])
    with open(truth) as f:
        return path, json.load(f)


def run_ours(customers, model, data, runs):
    """`runs` whole runs with the CLV stage on: their row for the table,
    each figure the median of the runs (the machine is noisy; one run can
    be 15 % off)."""
    rows = []
    for _ in range(runs):
        out_dir, row = run_ours_once(customers, model, data)
        rows.append(row)
    median = {k: statistics.median(r[k] for r in rows)
              for k, v in rows[0].items() if isinstance(v, (int, float))}
    return out_dir, dict(rows[0], **median, runs=runs)


def run_ours_once(customers, model, data):
    """One whole run with the CLV stage on: its row for the table."""
    out_dir = os.path.join(bench.OUT, f"clv36_{customers}_{model}")
    os.makedirs(out_dir, exist_ok=True)
    pipeline = os.path.join(bench.OUT, f"clv36_{customers}_{model}.toml")
    with open(pipeline, "w") as f:
        f.write(PIPELINE.format(customers=customers, model=model,
                                input=os.path.relpath(data, bench.OUT),
                                out_dir=os.path.relpath(out_dir, bench.OUT)))
    log_path = os.path.join(bench.OUT, f"clv36_{customers}_{model}.log")
    env = dict(os.environ, RUST_LOG="retention::stages::clv=debug")
    bench.log(f"bench: retention, [clv] model = {model}, {customers:,} customers")
    rc, wall, rss, cpu = bench.measure([bench.BIN, "run", pipeline, "--force", "--out", out_dir],
                                       log_path, env=env)
    if rc != 0:
        bench.die(f"retention failed (exit {rc}); log {log_path}:\n{bench.tail(log_path)}")
    with open(os.path.join(out_dir, "current", "_manifest.json")) as f:
        manifest = json.load(f)
    stage = next(s for s in manifest["stages"] if s.get("stage") == "clv")
    seconds = bench.clv_log_seconds(log_path)
    return out_dir, {
        "engine": f"retention ({model})",
        "customers": manifest.get("customers"),
        "clv_stage_s": round(stage["seconds"], 3),
        "clv_stage_peak_rss_mib": round(bench.mib(stage.get("peak_rss_bytes", 0)), 1),
        "fit_s": round(seconds.get("fit", float("nan")), 3),
        "predict_s": round(seconds.get("predict", float("nan")), 3),
        "whole_run_s": round(wall, 2),
        "whole_run_cpu_per_wall": round(cpu / wall, 2) if wall > 0 else "",
        "peak_rss_mib": round(bench.mib(rss), 1),
    }


def run_lifetimes(customers, out_dir):
    """lifetimes on the customers table our run published, compressed to
    unique rows with weights (as its documentation suggests for large
    data); None when it cannot be installed or fails."""
    py = bench.ensure_lifetimes()
    if py is None:
        bench.WARNINGS.append("lifetimes could not be installed into .venv-lifetimes")
        return None
    log_path = os.path.join(bench.OUT, f"clv36_{customers}_lifetimes.log")
    bench.log(f"bench: lifetimes, {customers:,} customers (a minute or more)")
    rc, wall, rss, _ = bench.measure(
        [py, os.path.join(bench.BENCH, "lifetimes_worker.py"),
         os.path.join(out_dir, "current", "customers"),
         str(bench.CLV_HORIZON_MONTHS), str(bench.CLV_DISCOUNT), "--weights"], log_path)
    if rc != 0:
        bench.WARNINGS.append(f"lifetimes failed (exit {rc}); log {log_path}")
        return None
    with open(log_path) as f:
        info = json.loads([l for l in f.read().splitlines() if l.startswith("{")][-1])
    return {
        "engine": "lifetimes 0.11.3 (bg_nbd)",
        "customers": info["customers"],
        "clv_stage_s": round(info["fit_s"] + info["predict_s"], 3),
        "clv_stage_peak_rss_mib": "",
        "fit_s": round(info["fit_s"], 3),
        "predict_s": round(info["predict_s"], 3),
        "whole_run_s": round(wall, 2),
        "whole_run_cpu_per_wall": "",
        "peak_rss_mib": round(bench.mib(rss), 1),
    }


def main():
    sizes = parse_list("BENCH_CLV_CUSTOMERS", "1000000,2000000", int)
    if sizes == [0]:
        return 0
    models = parse_list("BENCH_CLV_MODELS", "bg_nbd,auto", model_name)
    runs = max(1, parse_list("BENCH_CLV_RUNS", "3", int)[0])
    with_lifetimes = os.environ.get("BENCH_LIFETIMES", "1").strip() != "0"
    if not os.access(bench.BIN, os.X_OK):
        bench.die(f"{bench.BIN} is missing: run `make build` first")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    rows = []
    for customers in sizes:
        data, truth = history(customers)
        last_dir = None
        for model in models:
            out_dir, row = run_ours(customers, model, data, runs)
            rows.append(dict(row, orders=truth["orders"], history_months=MONTHS))
            if model == "bg_nbd" or last_dir is None:
                last_dir = out_dir
        if with_lifetimes:
            row = run_lifetimes(customers, last_dir)
            if row:
                rows.append(dict(row, orders=truth["orders"], history_months=MONTHS, runs=1))
    fields = ["engine", "customers", "orders", "history_months", "clv_stage_s",
              "clv_stage_peak_rss_mib", "fit_s", "predict_s", "whole_run_s",
              "whole_run_cpu_per_wall", "peak_rss_mib", "runs"]
    path = bench.write_results(f"clv_scale_{stamp}", fields, rows)
    print(f"\n== the CLV stage on {MONTHS}-month daily histories, median of {runs} runs "
          f"(lifetimes, one run: fits and predictions of BG/NBD and Gamma-Gamma) ==")
    bench.print_table_and_finish(
        ["engine", "customers", "CLV stage s", "stage peak MiB", "fits s", "predictions s",
         "whole run s", "peak RSS MiB"],
        [[r["engine"], f"{r['customers']:,}", f"{r['clv_stage_s']:.2f}",
          str(r["clv_stage_peak_rss_mib"]), f"{r['fit_s']:.2f}", f"{r['predict_s']:.2f}",
          f"{r['whole_run_s']:.2f}", f"{r['peak_rss_mib']:.0f}"] for r in rows],
        "<>>>>>>>", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
