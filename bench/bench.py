#!/usr/bin/env python3
"""`make bench`: retention side by side with DuckDB on generated histories.

For each size in BENCH_SIZES (number of orders) it generates a history
(cached in bench/data/), runs `retention run` and the same definitions in
DuckDB SQL (bench/duckdb_tables.sql) BENCH_RUNS times each, interleaved,
every run in its own process (wall time, peak RSS), checks that the two
engines' tables agree, prints one table and writes it to
bench/results/bench_<UTC timestamp>.csv. See bench/README.md.

Environment:
  BENCH_SIZES    comma-separated order counts   (default 1000000,10000000)
  BENCH_RUNS     runs per engine and size, >= 1 (default 3)
  BENCH_AS_OF    as_of date of every run        (default 2023-12-20)
  BENCH_THREADS  threads for both engines       (default: all cores)

Python standard library only, plus duckdb, which it installs into
.venv-bench/ (python3 -m venv + pip) the first time.
"""

import csv
import datetime as dt
import json
import os
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
BIN = os.path.join(ROOT, "target", "release", "retention")
VENV = os.path.join(ROOT, ".venv-bench")
VENV_PY = os.path.join(VENV, "bin", "python")
DATA = os.path.join(BENCH, "data")
OUT = os.path.join(BENCH, "out")
RESULTS = os.path.join(BENCH, "results")
SQL_FILE = os.path.join(BENCH, "duckdb_tables.sql")
TEMPLATE = os.path.join(BENCH, "pipeline.toml.template")

# Generator settings (fixed: the cache key is the file name).
SEED, START, MONTHS = 42, "2019-01-01", 60
CALIBRATION_CUSTOMERS = 50_000
# Fixed by the pipeline template.
WINDOW_DAYS, TIME_ZONE = 365, "UTC"

CLV_ENGINE = "retention+clv"  # the whole pipeline, CLV stage included
CLV_HORIZON_MONTHS, CLV_DISCOUNT = 12, 0.01  # fixed by the pipeline template
LIFETIMES_VENV = os.path.join(ROOT, ".venv-lifetimes")
LIFETIMES_PY = os.path.join(LIFETIMES_VENV, "bin", "python")
# lifetimes 0.11.3 predates numpy 2, pandas 2 and recent scipy.
LIFETIMES_PINS = ["lifetimes==0.11.3", "numpy<2", "pandas<2", "scipy<1.12",
                  "pyarrow<17", "autograd", "dill"]

# table -> key columns; the DuckDB file's columns are compared.
TABLES = {
    "kpis_monthly": ["month"],
    "retention_curve": ["period"],
    "cohort_retention": ["cohort_month", "period"],
    "customers": ["customer_id"],
}
DOUBLE_TOLERANCE = 1e-9  # relative to max(1, |a|, |b|)
WARNINGS = []  # printed at the end


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    log(f"bench: {msg}")
    sys.exit(1)


# --------------------------------------------------------------------------
# Set-up: duckdb in a local virtualenv
# --------------------------------------------------------------------------

def ensure_duckdb():
    """Import duckdb, or create .venv-bench with it and re-run in it."""
    try:
        import duckdb  # noqa: F401
        return
    except ImportError:
        pass
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        die(f"duckdb is missing from {VENV}; remove that folder and rerun")
    if not os.path.exists(VENV_PY):
        log(f"bench: creating {VENV} (duckdb)")
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    probe = subprocess.run([VENV_PY, "-c", "import duckdb"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([VENV_PY, "-m", "pip", "install", "--quiet", "duckdb"], check=True)
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])


# --------------------------------------------------------------------------
# Measuring one child process
# --------------------------------------------------------------------------

TIME_BIN = "/usr/bin/time"


def measure(cmd, log_path, env=None):
    """Runs cmd; returns (exit code, wall seconds, peak RSS bytes)."""
    with open(log_path, "wb") as logf:
        if os.access(TIME_BIN, os.X_OK):
            fd, tfile = tempfile.mkstemp(prefix="bench-time-")
            os.close(fd)
            try:
                t0 = time.perf_counter()
                rc = subprocess.run([TIME_BIN, "-f", "%e %M", "-o", tfile] + cmd,
                                    stdout=logf, stderr=subprocess.STDOUT, env=env).returncode
                wall = time.perf_counter() - t0
                with open(tfile) as f:
                    last = f.read().strip().splitlines()[-1]
                rss = int(last.split()[1]) * 1024
            finally:
                os.unlink(tfile)
        else:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            p.returncode = rc = os.waitstatus_to_exitcode(status)
            rss = ru.ru_maxrss * 1024  # KiB on Linux
    return rc, wall, rss


def tail(path, n=15):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def lines_out_of_range(path, truth):
    """Lines dated outside the generated range [start, end_exclusive)."""
    import duckdb
    lo = dt.datetime.fromisoformat(truth["start"]).replace(tzinfo=dt.timezone.utc)
    hi = dt.datetime.fromisoformat(truth["end_exclusive"]).replace(tzinfo=dt.timezone.utc)
    con = duckdb.connect()
    n = con.execute(
        "SELECT count(*) FILTER (epoch_us(order_ts) < ? OR epoch_us(order_ts) >= ?) "
        "FROM read_parquet(?)",
        [int(lo.timestamp()) * 10**6, int(hi.timestamp()) * 10**6, path]).fetchone()[0]
    con.close()
    return n


def run_id(out_dir):
    """run_id of OUT/current, or None."""
    try:
        with open(os.path.join(out_dir, "current", "_manifest.json")) as f:
            return json.load(f).get("run_id")
    except (OSError, ValueError):
        return None


def generate(customers, path, fingerprint=None):
    """Generates path unless a cached copy made by the same generator exists
    (same fingerprint, every line inside the generated range); returns its
    truth.json."""
    truth = path + ".truth.json"
    sidecar = path + ".bench.json"
    if fingerprint is not None and all(os.path.exists(p) for p in (path, truth, sidecar)):
        with open(truth) as f:
            cached = json.load(f)
        with open(sidecar) as f:
            same = json.load(f).get("generator") == fingerprint
        if same and not lines_out_of_range(path, cached):
            return cached
        log(f"bench: {os.path.relpath(path, ROOT)} was made by another generator; regenerating")
    for p in (path, truth, sidecar):
        if os.path.exists(p):
            os.unlink(p)
    os.makedirs(DATA, exist_ok=True)
    cmd = [BIN, "generate", "--customers", str(customers), "--seed", str(SEED),
           "--start", START, "--months", str(MONTHS), "--out", path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"generate failed ({' '.join(cmd)}):\n{r.stdout}{r.stderr}")
    log("bench: " + r.stdout.strip().splitlines()[0])
    with open(truth) as f:
        fresh = json.load(f)
    bad = lines_out_of_range(path, fresh)
    if bad:
        WARNINGS.append(f"{path}: the generator wrote {bad} lines dated outside "
                        f"{fresh['start']}..{fresh['end_exclusive']} (a generator bug)")
    if fingerprint is not None:
        with open(sidecar, "w") as f:
            json.dump({"generator": fingerprint}, f)
    return fresh


def calibrate():
    """Generates a small history afresh (0.2 s). Returns orders per customer
    and the generator's fingerprint: its counts and parameters, which change
    whenever the generator's output does, so cached histories are remade."""
    calib = generate(CALIBRATION_CUSTOMERS,
                     os.path.join(DATA, f"calib_{CALIBRATION_CUSTOMERS}.parquet"))
    fingerprint = {k: v for k, v in calib.items() if k != "path"}
    return calib["orders"] / calib["customers"], fingerprint


def write_pipeline(size, data_path, out_dir, clv=False):
    path = os.path.join(OUT, f"pipeline_{size}{'_clv' if clv else ''}.toml")
    here = os.path.dirname(path)
    with open(TEMPLATE) as f:
        text = string.Template(f.read()).substitute(
            size=size,
            input=os.path.relpath(data_path, here),
            out_dir=os.path.relpath(out_dir, here),
            clv="true" if clv else "false",
        )
    with open(path, "w") as f:
        f.write(text)
    return path


# --------------------------------------------------------------------------
# The DuckDB side (also the `duckdb-worker` subcommand: one run per process)
# --------------------------------------------------------------------------

def sql_quote(s):
    return s.replace("'", "''")


def duckdb_worker(argv):
    import argparse
    import duckdb

    ap = argparse.ArgumentParser(prog="bench.py duckdb-worker")
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--window-days", type=int, required=True)
    ap.add_argument("--time-zone", required=True)
    ap.add_argument("--threads", type=int)
    a = ap.parse_args(argv)
    dt.date.fromisoformat(a.as_of)
    t0 = time.perf_counter()
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    config = {"temp_directory": os.path.join(a.out, ".tmp")}
    if a.threads:
        config["threads"] = a.threads
    con = duckdb.connect(config=config)
    with open(SQL_FILE) as f:
        sql = string.Template(f.read()).substitute(
            input=sql_quote(a.input), out=sql_quote(a.out), as_of=a.as_of,
            w=int(a.window_days), tz=sql_quote(a.time_zone))
    con.execute(sql)
    con.close()
    print(json.dumps({"sql_seconds": time.perf_counter() - t0,
                      "duckdb_version": duckdb.__version__}))


# --------------------------------------------------------------------------
# Do the two engines agree?
# --------------------------------------------------------------------------

def compare_tables(con, ours_dir, duck_dir):
    """Returns (ok, lines): per table, rows only on one side and cells that differ."""
    ok, lines = True, []
    for table, keys in TABLES.items():
        a = os.path.join(ours_dir, f"{table}.parquet")
        b = os.path.join(duck_dir, f"{table}.parquet")
        if not os.path.exists(a) or not os.path.exists(b):
            ok = False
            lines.append(f"{table}: missing file ({a if not os.path.exists(a) else b})")
            continue
        ta = dict((r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{sql_quote(a)}')").fetchall())
        tb = [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{sql_quote(b)}')").fetchall()]
        missing = [c for c, _ in tb if c not in ta]
        if missing:
            ok = False
            lines.append(f"{table}: columns missing from ours: {missing}")
            continue
        cols = [c for c, _ in tb if c not in keys]
        doubles = {c for c, t in tb if t in ("DOUBLE", "FLOAT")}
        types = [f"{c} {ta[c]} vs {t}" for c, t in tb
                 if ta[c] != t and not (ta[c] in ("BIGINT", "INTEGER") and t in ("BIGINT", "INTEGER"))]
        if types:
            lines.append(f"{table}: column types differ (ours vs DuckDB): {', '.join(types)}")

        def differs(c):
            x, y = f'a."{c}"', f'b."{c}"'
            if c in doubles:
                return (f"NOT coalesce(({x} IS NULL AND {y} IS NULL) OR abs({x} - {y}) <= "
                        f"{DOUBLE_TOLERANCE} * greatest(1.0, abs({x}), abs({y})), false)")
            return f"{x} IS DISTINCT FROM {y}"

        join = " AND ".join(f'a."{k}" = b."{k}"' for k in keys)
        base = (f"FROM (SELECT *, true AS _a FROM read_parquet('{sql_quote(a)}')) a "
                f"FULL JOIN (SELECT *, true AS _b FROM read_parquet('{sql_quote(b)}')) b ON {join}")
        exprs = ["count(*) FILTER (a._a IS NULL)", "count(*) FILTER (b._b IS NULL)"]
        exprs += [f"count(*) FILTER (a._a AND b._b AND {differs(c)})" for c in cols]
        counts = con.execute(f"SELECT {', '.join(exprs)} {base}").fetchone()
        only_duck, only_ours, per_col = counts[0], counts[1], dict(zip(cols, counts[2:]))
        bad = {c: n for c, n in per_col.items() if n}
        n_rows = con.execute(f"SELECT count(*) FROM read_parquet('{sql_quote(b)}')").fetchone()[0]
        if not (only_duck or only_ours or bad):
            lines.append(f"{table}: agree ({n_rows} rows, {len(cols)} compared columns)")
            continue
        ok = False
        lines.append(f"{table}: DISAGREE ({n_rows} DuckDB rows): {only_ours} rows only in ours, "
                     f"{only_duck} only in DuckDB; differing cells: "
                     + (", ".join(f"{c} {n}" for c, n in bad.items()) or "none"))
        keysel = ", ".join(f'coalesce(a."{k}", b."{k}")' for k in keys)
        for c in list(bad)[:6]:
            rows = con.execute(f'SELECT {keysel}, a."{c}", b."{c}" {base} '
                               f"WHERE a._a AND b._b AND {differs(c)} ORDER BY ALL LIMIT 3").fetchall()
            for r in rows:
                lines.append(f"    {c} at {', '.join(str(v) for v in r[:len(keys)])}: "
                             f"ours {r[-2]!r}, DuckDB {r[-1]!r}")
    return ok, lines


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def machine():
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.cpu_count() or 0, mem


def git_commit():
    r = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty", "--abbrev=7"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def env_int(name, default, minimum):
    v = os.environ.get(name, "").strip()
    try:
        n = int(v) if v else default
    except ValueError:
        die(f"{name}={v!r}: expected an integer")
    if n < minimum:
        die(f"{name}={n}: expected at least {minimum}")
    return n


def mib(b):
    return b / (1 << 20)


def print_table(header, rows, aligns):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    def fmt(r):
        return "  ".join(str(x).rjust(w) if a == ">" else str(x).ljust(w)
                         for x, w, a in zip(r, widths, aligns))
    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))


# --------------------------------------------------------------------------
# CLV: our stage against the lifetimes package, on the same summary
# --------------------------------------------------------------------------

def ensure_lifetimes():
    """The python of .venv-lifetimes (created with pinned versions on first
    use), or None when it cannot be installed."""
    if not os.path.exists(LIFETIMES_PY):
        log(f"bench: creating {LIFETIMES_VENV} (lifetimes 0.11.3 and its pinned dependencies)")
        if subprocess.run([sys.executable, "-m", "venv", LIFETIMES_VENV]).returncode != 0:
            return None
    probe = subprocess.run([LIFETIMES_PY, "-c", "import lifetimes, pyarrow"], capture_output=True)
    if probe.returncode != 0:
        r = subprocess.run([LIFETIMES_PY, "-m", "pip", "install", "--quiet"] + LIFETIMES_PINS)
        if r.returncode != 0:
            return None
    return LIFETIMES_PY


def clv_log_seconds(log_path):
    """Our CLV stage's fit and prediction seconds, from its debug log lines."""
    import re
    found = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            for label, key in (("clv fits", "fit"), ("clv predictions", "predict")):
                if label in line:
                    m = re.search(r"seconds=([0-9.eE+-]+)", line)
                    if m:
                        found[key] = float(m.group(1))
    return found


def compare_lifetimes(size, truth, clv_dir, clv_log, stamp):
    with open(os.path.join(clv_dir, "current", "_manifest.json")) as f:
        manifest = json.load(f)
    stage = next((s["seconds"] for s in manifest.get("stages", []) if s.get("stage") == "clv"), None)
    ours = clv_log_seconds(clv_log)
    customers_parquet = os.path.join(clv_dir, "current", "customers.parquet")
    import duckdb
    con = duckdb.connect()
    params = con.execute(
        "SELECT model, parameter, value FROM read_parquet(?) ORDER BY model, parameter",
        [os.path.join(clv_dir, "current", "clv_model.parquet")]).fetchall()
    con.close()
    ours_params = " ".join(f"{p}={v:.4g}" for _, p, v in params)
    customers = manifest.get("customers") or truth["customers"]
    base = {"timestamp_utc": stamp, "orders": truth["orders"], "customers": customers}
    rows = [dict(base, engine="retention", fit_s=ours.get("fit", float("nan")),
                 predict_s=ours.get("predict", float("nan")),
                 stage_s=stage if stage is not None else "", peak_rss_mib="",
                 parameters=ours_params)]
    py = ensure_lifetimes()
    if py is None:
        WARNINGS.append("lifetimes could not be installed into .venv-lifetimes; "
                        "the CLV comparison shows our side only")
        return rows
    horizon, discount = CLV_HORIZON_MONTHS, CLV_DISCOUNT  # as in the pipeline template
    log_path = os.path.join(OUT, f"lifetimes_{size}.log")
    log(f"bench: lifetimes on the {customers:,}-customer summary (minutes at 1 M customers)")
    rc, wall, rss = measure([py, os.path.join(BENCH, "lifetimes_worker.py"), customers_parquet,
                             str(horizon), str(discount)], log_path)
    if rc != 0:
        WARNINGS.append(f"lifetimes failed (exit {rc}); log {log_path}")
        return rows
    with open(log_path) as f:
        info = json.loads([l for l in f.read().splitlines() if l.startswith("{")][-1])
    lt_params = " ".join(f"{k}={v:.4g}" for k, v in
                         list(info["bgnbd"].items()) + list(info["gamma_gamma"].items()))
    rows.append(dict(base, engine="lifetimes 0.11.3", fit_s=info["fit_s"],
                     predict_s=info["predict_s"], stage_s="", peak_rss_mib=round(mib(rss), 1),
                     parameters=lt_params))
    return rows


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "duckdb-worker":
        ensure_duckdb()
        return duckdb_worker(sys.argv[2:])
    if len(sys.argv) > 1:
        die("usage: bench.py   (settings come from BENCH_* environment variables; see bench/README.md)")
    ensure_duckdb()
    import duckdb

    sizes_text = os.environ.get("BENCH_SIZES", "").strip() or "1000000,10000000"
    try:
        sizes = [int(s.replace("_", "")) for s in sizes_text.split(",") if s.strip()]
    except ValueError:
        die(f"BENCH_SIZES={sizes_text!r}: expected comma-separated order counts")
    if not sizes or min(sizes) < 1000:
        die(f"BENCH_SIZES={sizes_text!r}: expected order counts of at least 1000")
    runs = env_int("BENCH_RUNS", 3, 1)
    threads = env_int("BENCH_THREADS", 0, 0) or None
    as_of = os.environ.get("BENCH_AS_OF", "").strip() or "2023-12-20"
    try:
        dt.date.fromisoformat(as_of)
    except ValueError:
        die(f"BENCH_AS_OF={as_of!r}: expected YYYY-MM-DD")
    if not os.access(BIN, os.X_OK):
        die(f"{BIN} not found: run `make build` first")

    cores, mem_total = machine()
    commit = git_commit()
    supports_force = "--force" in subprocess.run(
        [BIN, "run", "--help"], capture_output=True, text=True).stdout
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log(f"bench: sizes {sizes}, {runs} runs each, as_of {as_of}, "
        f"{threads or cores} threads, {cores} cores, {mib(mem_total) / 1024:.1f} GiB, "
        f"DuckDB {duckdb.__version__}")
    opc, fingerprint = calibrate()
    os.makedirs(OUT, exist_ok=True)
    rows, stage_reports, warnings = [], [], WARNINGS
    clv_runs = []  # (size, truth, output dir, log of the last run)

    for size in sizes:
        data = os.path.join(DATA, f"orders_{size}.parquet")
        truth = generate(max(1, round(size / opc)), data, fingerprint)
        out_dir = os.path.join(OUT, str(size))
        duck_dir = os.path.join(out_dir, "duckdb")
        os.makedirs(out_dir, exist_ok=True)
        pipeline = write_pipeline(size, data, out_dir)
        ours_cmd = [BIN, "run", pipeline, "--out", out_dir, "--as-of", as_of]
        # The whole pipeline, CLV included, in its own output directory.
        clv_dir = os.path.join(OUT, f"{size}_clv")
        os.makedirs(clv_dir, exist_ok=True)
        clv_cmd = [BIN, "run", write_pipeline(size, data, clv_dir, clv=True),
                   "--out", clv_dir, "--as-of", as_of]
        for cmd in (ours_cmd, clv_cmd):
            if supports_force:  # otherwise an unchanged input is "already published"
                cmd.append("--force")
            if threads:
                cmd += ["--threads", str(threads)]
        duck_cmd = [sys.executable, os.path.abspath(__file__), "duckdb-worker",
                    "--input", data, "--out", duck_dir, "--as-of", as_of,
                    "--window-days", str(WINDOW_DAYS), "--time-zone", TIME_ZONE]
        if threads:
            duck_cmd += ["--threads", str(threads)]

        load = os.getloadavg()[0]
        if load > 0.5 * cores:
            warnings.append(f"{size}: machine busy before the runs (load average {load:.1f} "
                            f"on {cores} cores): timings are noisy")
        res = {"retention": [], "duckdb": [], CLV_ENGINE: []}
        sql_seconds = []
        failed = set()
        engines = (("retention", ours_cmd, out_dir), ("duckdb", duck_cmd, None),
                   (CLV_ENGINE, clv_cmd, clv_dir))
        for i in range(1, runs + 1):
            for engine, cmd, engine_out in engines:
                if engine in failed:
                    continue
                log_path = os.path.join(out_dir, f"{engine}_run{i}.log")
                before = run_id(engine_out) if engine_out else None
                # The CLV run logs its fit and prediction times (debug level).
                env = dict(os.environ, RUST_LOG="retention::stages::clv=debug") \
                    if engine == CLV_ENGINE else None
                rc, wall, rss = measure(cmd, log_path, env)
                if rc == 0 and engine_out and run_id(engine_out) in (None, before):
                    failed.add(engine)
                    warnings.append(f"{size}: retention run {i} published nothing new; log {log_path}")
                    continue
                if rc != 0:
                    failed.add(engine)
                    warnings.append(f"{size}: {engine} run {i} failed (exit {rc}); log {log_path}")
                    log(f"bench: {engine} failed (exit {rc}), last lines of {log_path}:\n{tail(log_path)}")
                    continue
                res[engine].append((wall, rss))
                if engine == "duckdb":
                    with open(log_path) as f:
                        info = [l for l in f.read().splitlines() if l.startswith("{")]
                    if info:
                        sql_seconds.append(json.loads(info[-1])["sql_seconds"])
                log(f"bench: {size} orders, run {i}/{runs}, {engine:9s} {wall:8.2f} s  {mib(rss):8.1f} MiB")

        agree = ""
        if not failed:
            con = duckdb.connect()
            ok, lines = compare_tables(con, os.path.join(out_dir, "current"), duck_dir)
            con.close()
            agree = "yes" if ok else "NO"
            print(f"\n== {size} orders: retention vs DuckDB tables ==")
            for line in lines:
                print("  " + line)
            if not ok:
                warnings.append(f"{size}: retention and DuckDB tables DISAGREE (details above)")

        manifest_path = os.path.join(out_dir, "current", "_manifest.json")
        tool_version = ""
        if "retention" not in failed and os.path.exists(manifest_path):
            with open(manifest_path) as f:
                manifest = json.load(f)
            tool_version = manifest.get("tool_version", "")
            stage_reports.append((size, manifest.get("stages", [])))

        duck_wall = statistics.median(w for w, _ in res["duckdb"]) if res["duckdb"] else None
        duck_rss = max(r for _, r in res["duckdb"]) if res["duckdb"] else None
        if CLV_ENGINE not in failed and res[CLV_ENGINE]:
            clv_runs.append((size, truth, clv_dir,
                             os.path.join(out_dir, f"{CLV_ENGINE}_run{len(res[CLV_ENGINE])}.log")))
        for engine in ("retention", CLV_ENGINE, "duckdb"):
            if not res[engine]:
                continue
            walls = [w for w, _ in res[engine]]
            wall = statistics.median(walls)
            rss = max(r for _, r in res[engine])
            rows.append({
                "timestamp_utc": stamp, "git_commit": commit, "tool_version": tool_version,
                "duckdb_version": duckdb.__version__, "target_orders": size,
                "customers": truth["customers"], "orders": truth["orders"],
                "refunds": truth["refunds"], "lines": truth["lines"], "as_of": as_of,
                "engine": engine, "runs": len(walls),
                "wall_s_median": round(wall, 3), "wall_s_min": round(min(walls), 3),
                "wall_s_max": round(max(walls), 3),
                "lines_per_s": round(truth["lines"] / wall),
                "orders_per_s": round(truth["orders"] / wall),
                "peak_rss_mib": round(mib(rss), 1),
                "time_vs_duckdb": round(wall / duck_wall, 3) if duck_wall else "",
                "rss_vs_duckdb": round(rss / duck_rss, 3) if duck_rss else "",
                "duckdb_sql_s_median": round(statistics.median(sql_seconds), 3)
                                       if engine == "duckdb" and sql_seconds else "",
                "tables_agree": agree, "load_avg_before": round(load, 2),
                "threads": threads or cores,
                "cores": cores, "mem_total_gib": round(mib(mem_total) / 1024, 1),
            })

    if not rows:
        die("no successful runs")
    os.makedirs(RESULTS, exist_ok=True)
    csv_path = os.path.join(RESULTS, f"bench_{stamp}.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    print(f"\n== retention vs DuckDB {rows[0]['duckdb_version']}: {cores} cores, "
          f"{rows[0]['mem_total_gib']} GiB, as_of {as_of}, median of {runs} runs ==")
    print_table(
        ["orders", "lines", "engine", "wall s", "lines/s", "peak RSS MiB", "time x DuckDB", "RSS x DuckDB", "agree"],
        [[f"{r['orders']:,}", f"{r['lines']:,}", r["engine"], f"{r['wall_s_median']:.2f}",
          f"{r['lines_per_s']:,}", f"{r['peak_rss_mib']:.0f}",
          f"{r['time_vs_duckdb']:.2f}" if r["time_vs_duckdb"] != "" else "-",
          f"{r['rss_vs_duckdb']:.2f}" if r["rss_vs_duckdb"] != "" else "-",
          r["tables_agree"] if r["engine"] == "retention" else ""] for r in rows],
        "<<<>>>>><")
    dsql = [r for r in rows if r["engine"] == "duckdb" and r["duckdb_sql_s_median"] != ""]
    if dsql:
        print("DuckDB wall includes Python start-up and import; SQL alone: "
              + ", ".join(f"{r['orders']:,} orders {r['duckdb_sql_s_median']:.2f} s" for r in dsql))

    if os.environ.get("BENCH_LIFETIMES", "1").strip() != "0" and clv_runs:
        # The CLV stage against lifetimes, on the size nearest 1 M orders.
        size, truth, clv_dir, clv_log = min(clv_runs, key=lambda c: abs(c[0] - 1_000_000))
        clv_rows = compare_lifetimes(size, truth, clv_dir, clv_log, stamp)
        if clv_rows:
            clv_csv = os.path.join(RESULTS, f"clv_{stamp}.csv")
            with open(clv_csv, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(clv_rows[0]))
                w.writeheader()
                w.writerows(clv_rows)
            print(f"\n== CLV fits and predictions, {size:,} orders "
                  f"({clv_rows[0]['customers']:,} customers): retention vs lifetimes ==")
            print_table(
                ["engine", "fits s", "predictions s", "stage s", "peak RSS MiB", "parameters"],
                [[r["engine"], f"{r['fit_s']:.2f}", f"{r['predict_s']:.2f}",
                  f"{r['stage_s']:.2f}" if r["stage_s"] != "" else "-",
                  f"{r['peak_rss_mib']:.0f}" if r["peak_rss_mib"] != "" else "-",
                  r["parameters"]] for r in clv_rows],
                "<>>>><")
            print(f"wrote {os.path.relpath(clv_csv, ROOT)}")

    for size, stages in stage_reports:
        print(f"\n== retention stages, last run, {size} orders ==")
        print_table(["stage", "seconds", "peak RSS MiB"],
                    [[s.get("stage", "?"), f"{s.get('seconds', 0):.3f}",
                      f"{mib(s.get('peak_rss_bytes', 0)):.0f}"] for s in stages],
                    "<>>")
    print(f"\nwrote {os.path.relpath(csv_path, ROOT)}")
    for wmsg in warnings:
        log(f"bench: WARNING: {wmsg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
