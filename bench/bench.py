#!/usr/bin/env python3
"""`make bench`: retention side by side with DuckDB and chDB on generated histories.

For each size in BENCH_SIZES (number of orders) it generates a history
(cached in bench/data/) and a string-typed copy of it (order_ts and amount
as text, as CSV exports carry them), and on each variant runs `retention
run` and the same definitions in DuckDB SQL (bench/duckdb_tables.sql) and
in ClickHouse SQL on chDB (bench/chdb_tables.sql) BENCH_RUNS times each,
interleaved, every run in its own process (wall time, peak RSS), checks
that each SQL engine's tables agree with ours, prints one table and writes
it to bench/results/bench_<UTC timestamp>.csv. See bench/README.md.

Environment:
  BENCH_SIZES     comma-separated order counts   (default 1000000,10000000)
  BENCH_VARIANTS  typed, text or both            (default typed,text)
  BENCH_RUNS      runs per engine and size, >= 1 (default 3)
  BENCH_AS_OF     as_of date of every run        (default 2023-12-20)
  BENCH_THREADS   threads for every engine       (default: all cores)
  BENCH_CLV_MODEL [clv] model of the CLV run     (default bg_nbd; auto fits all three)
  BENCH_MEMORY_LIMIT --memory-limit of our runs  (default: the run's own default budget)
  BENCH_DUCKDB_TEMP_LIMIT DuckDB's max_temp_directory_size (default: DuckDB's, 90 % of the free disk)

Python standard library only, plus duckdb and chdb, which it installs into
.venv-bench/ (python3 -m venv + pip) the first time. Without chdb (it
cannot be installed) the run goes on with a warning.
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
SQL_FILES = {"duckdb": os.path.join(BENCH, "duckdb_tables.sql"),
             "chdb": os.path.join(BENCH, "chdb_tables.sql")}
PEERS = ("duckdb", "chdb")  # the SQL engines, checked against ours
PEER_NAMES = {"duckdb": "DuckDB", "chdb": "chDB"}
TEMPLATE = os.path.join(BENCH, "pipeline.toml.template")

# Generator settings (fixed: the cache key is the file name).
SEED, START, MONTHS = 42, "2019-01-01", 60
CALIBRATION_CUSTOMERS = 50_000
# Fixed by the pipeline template.
WINDOW_DAYS, TIME_ZONE = 365, "UTC"

CLV_ENGINE = "retention+clv"  # the whole pipeline, CLV stage included
# `[clv] model` of that run: bg_nbd (the default), pareto_nbd, mbg_nbd or
# auto (all three fitted and validated, the CLV stage's slowest setting).
CLV_MODEL = os.environ.get("BENCH_CLV_MODEL", "").strip() or "bg_nbd"
CLV_HORIZON_MONTHS, CLV_DISCOUNT = 12, 0.01  # fixed by the pipeline template
LIFETIMES_VENV = os.path.join(ROOT, ".venv-lifetimes")
# Above this many orders the comparison with lifetimes (about a minute per
# 1 M orders, one core) runs only when BENCH_LIFETIMES=1 asks for it.
LIFETIMES_MAX_ORDERS = 20_000_000
LIFETIMES_PY = os.path.join(LIFETIMES_VENV, "bin", "python")
# lifetimes 0.11.3 predates numpy 2, pandas 2 and recent scipy.
LIFETIMES_PINS = ["lifetimes==0.11.3", "numpy<2", "pandas<2", "scipy<1.12",
                  "pyarrow<17", "autograd", "dill"]

# table -> key columns; the SQL engine's columns are compared.
TABLES = {
    "kpis_monthly": ["month"],
    "retention_curve": ["period"],
    "cohort_retention": ["cohort_month", "period"],
    "customers": ["customer_id"],
}
DOUBLE_TOLERANCE = 1e-9  # relative to max(1, |a|, |b|)

# The two variants of each history. "typed" is the generator's Parquet file
# (order_ts a UTC TIMESTAMP, amount a DOUBLE). "text" holds the same rows,
# in the same order and row groups, in Parquet too, but with order_ts and
# amount as strings, the way CSV exports carry them: RFC 3339 UTC text with
# microseconds ("2021-03-04T10:11:12.123456Z") and amounts with two
# decimals ("12.34", "-5.00"). Parquet rather than CSV so that the two
# variants differ only in those two columns' types: the text variant times
# parsing timestamps and amounts, not CSV tokenizing.
VARIANTS = ("typed", "text")
TEXT_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # DuckDB strftime
TEXT_FORMAT_VERSION = 1  # bump when the text file changes: cached copies are remade

# How each SQL engine reads a line's timestamp and amount from each variant
# (the ${order_ts} and ${amount} of its SQL file). On text, the parse is
# what a user of that engine would write, and it is part of the timed SQL:
# DuckDB casts (ISO 8601, an offset-less text is in the session's time zone,
# set to the business zone); ClickHouse parses with its best-effort parser,
# offset-less text in the business zone ({tz}). Both amounts become a
# DOUBLE that the SQL rounds to cents, as for the typed file.
LINE_EXPRS = {
    "duckdb": {"typed": ("order_ts", "amount"),
               "text": ("CAST(order_ts AS TIMESTAMPTZ)", "CAST(amount AS DOUBLE)")},
    "chdb": {"typed": ("order_ts", "amount"),
             "text": ("parseDateTime64BestEffort(order_ts, 6, '{tz}')", "toFloat64(amount)")},
}
WARNINGS = []  # printed at the end


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    log(f"bench: {msg}")
    sys.exit(1)


# --------------------------------------------------------------------------
# Set-up: duckdb and chdb in a local virtualenv
# --------------------------------------------------------------------------

# Set (to the reason) in the re-executed process when chdb could not be
# installed, so that it runs without chDB instead of trying again.
NO_CHDB_ENV = "BENCH_NO_CHDB"


# What must run for an engine to count as installed. For chdb, more than
# `import chdb`: chdb-core alone (left behind by `pip uninstall chdb`) makes
# a `chdb` namespace package without the package's own module that imports.
ENGINE_PROBES = {"duckdb": "import duckdb",
                 "chdb": "import chdb; from chdb import session; chdb.__version__"}


def importable_here(module):
    try:
        exec(ENGINE_PROBES[module], {})
        return True
    except (ImportError, AttributeError):
        return False


def ensure_engines():
    """Import duckdb (required) and chdb (optional), or install the missing
    ones into .venv-bench and re-run in it."""
    missing = [m for m in ("duckdb", "chdb") if not importable_here(m)]
    if not missing or (missing == ["chdb"] and os.environ.get(NO_CHDB_ENV)):
        return
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(VENV)
    if in_venv and "duckdb" in missing:
        die(f"duckdb is missing from {VENV}; remove that folder and rerun")
    py = sys.executable if in_venv else VENV_PY
    if not os.path.exists(py):
        log(f"bench: creating {VENV} (duckdb, chdb)")
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)

    def importable(module):
        return subprocess.run([py, "-c", ENGINE_PROBES[module]], capture_output=True).returncode == 0

    if not importable("duckdb"):
        subprocess.run([py, "-m", "pip", "install", "--quiet", "duckdb"], check=True)
    env = dict(os.environ)
    if not importable("chdb"):
        log("bench: installing chdb (embedded ClickHouse) into .venv-bench")
        r = subprocess.run([py, "-m", "pip", "install", "--quiet", "chdb"],
                           capture_output=True, text=True)
        if r.returncode != 0 or not importable("chdb"):
            last = (r.stderr or r.stdout).strip().splitlines()
            env[NO_CHDB_ENV] = last[-1] if last else f"pip exit {r.returncode}"
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


def chdb_version():
    """chdb's package version and ClickHouse engine version, or None."""
    if not importable_here("chdb"):
        return None
    import chdb
    engine = getattr(chdb, "engine_version", "") or ""
    return f"{chdb.__version__} (ClickHouse {engine})" if engine else chdb.__version__


# --------------------------------------------------------------------------
# Measuring one child process
# --------------------------------------------------------------------------

TIME_BIN = "/usr/bin/time"


def measure(cmd, log_path, env=None):
    """Runs cmd; returns (exit code, wall seconds, peak RSS bytes, CPU
    seconds: user + system, of the child and the processes it waited for)."""
    with open(log_path, "wb") as logf:
        if os.access(TIME_BIN, os.X_OK):
            fd, tfile = tempfile.mkstemp(prefix="bench-time-")
            os.close(fd)
            try:
                t0 = time.perf_counter()
                rc = subprocess.run([TIME_BIN, "-f", "%e %M %U %S", "-o", tfile] + cmd,
                                    stdout=logf, stderr=subprocess.STDOUT, env=env).returncode
                wall = time.perf_counter() - t0
                with open(tfile) as f:
                    lines = f.read().strip().splitlines()
                # No line when `time` itself was stopped (a signal to the
                # whole process group): a failed run, not a crash here.
                fields = lines[-1].split() if lines else []
                if len(fields) != 4:
                    return rc if rc != 0 else 1, wall, 0, float("nan")
                rss = int(fields[1]) * 1024
                cpu = float(fields[2]) + float(fields[3])
            finally:
                os.unlink(tfile)
        else:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            p.returncode = rc = os.waitstatus_to_exitcode(status)
            rss = ru.ru_maxrss * 1024  # KiB on Linux
            cpu = ru.ru_utime + ru.ru_stime
    return rc, wall, rss, cpu


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


def spill_figures(out_dir):
    """The budget, partitions and spill of OUT/current's run (the manifest's
    resources), as result columns; empty for a peer (out_dir None) or when
    the manifest has none."""
    resources = {}
    if out_dir is not None:
        try:
            with open(os.path.join(out_dir, "current", "_manifest.json")) as f:
                resources = json.load(f).get("resources") or {}
        except (OSError, ValueError):
            pass
    keys = ("memory_limit_bytes", "partitions", "spilled_bytes", "spill_compressed")
    return {k: resources.get(k, "") for k in keys}


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


def text_variant(typed_path):
    """Writes (unless a cached copy of this very typed file exists) the
    string-typed copy of a history beside it, orders_<size>_text.parquet, and
    returns its path. Same rows, same order, same row group size as the
    typed file; only order_ts and amount become text (see VARIANTS). After
    writing, every line is read back from both files side by side and must
    give the same instant and the same cents, so both variants are the same
    history."""
    import duckdb
    stem, ext = os.path.splitext(typed_path)
    path = f"{stem}_text{ext}"
    sidecar = path + ".bench.json"
    st = os.stat(typed_path)
    key = {"typed": os.path.basename(typed_path), "typed_bytes": st.st_size,
           "typed_mtime_ns": st.st_mtime_ns, "format": TEXT_FORMAT_VERSION}
    if os.path.exists(path) and os.path.exists(sidecar):
        with open(sidecar) as f:
            if json.load(f) == key:
                return path
    for p in (path, sidecar):
        if os.path.exists(p):
            os.unlink(p)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # a long COPY would draw one on stderr
    # The generator writes row groups of 1,048,576 rows; the copy keeps that,
    # as readers split their work by row group.
    groups = con.execute("SELECT max(row_group_num_rows) FROM parquet_metadata(?)",
                         [typed_path]).fetchone()[0] or 1048576
    tmp = path + ".tmp"
    con.execute(
        f"COPY (SELECT * REPLACE ("
        f"  strftime(timezone('UTC', order_ts), '{TEXT_TS_FORMAT}') AS order_ts,"
        f"  printf('%.2f', amount) AS amount)"
        f" FROM read_parquet('{sql_quote(typed_path)}'))"
        f" TO '{sql_quote(tmp)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {int(groups)})")
    bad = con.execute(
        f"SELECT count(*) FILTER (t.order_id IS DISTINCT FROM x.order_id"
        f"  OR t.customer_id IS DISTINCT FROM x.customer_id"
        f"  OR t.order_ts IS DISTINCT FROM CAST(x.order_ts AS TIMESTAMPTZ)"
        f"  OR round(t.amount * 100) IS DISTINCT FROM round(CAST(x.amount AS DOUBLE) * 100)),"
        f" count(*) FILTER (t.order_id IS NULL OR x.order_id IS NULL)"
        f" FROM read_parquet('{sql_quote(typed_path)}') t"
        f" POSITIONAL JOIN read_parquet('{sql_quote(tmp)}') x").fetchone()
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
                             f"read_parquet('{sql_quote(tmp)}'))").fetchall())
    con.close()
    if bad != (0, 0) or types.get("order_ts") != "VARCHAR" or types.get("amount") != "VARCHAR":
        os.unlink(tmp)
        die(f"the text copy of {typed_path} does not read back as the same history "
            f"({bad[0]} lines differ, {bad[1]} unpaired, types {types})")
    os.replace(tmp, path)
    with open(sidecar, "w") as f:
        json.dump(key, f)
    log(f"bench: wrote {os.path.relpath(path, ROOT)} ({time.perf_counter() - t0:.1f} s)")
    return path


def write_pipeline(name, data_path, out_dir, clv=False):
    path = os.path.join(OUT, f"pipeline_{name}{'_clv' if clv else ''}.toml")
    here = os.path.dirname(path)
    with open(TEMPLATE) as f:
        text = string.Template(f.read()).substitute(
            size=name,
            input=os.path.relpath(data_path, here),
            out_dir=os.path.relpath(out_dir, here),
            clv="true" if clv else "false",
            clv_model=CLV_MODEL,
        )
    with open(path, "w") as f:
        f.write(text)
    return path


# --------------------------------------------------------------------------
# The SQL engines (the `duckdb-worker` and `chdb-worker` subcommands: one
# run per process)
# --------------------------------------------------------------------------

def sql_quote(s):
    return s.replace("'", "''")


def sql_worker(engine, argv):
    """Runs the engine's SQL file on one history, writing its four tables to
    --out; prints a JSON line with the seconds the SQL took (from before the
    connection is opened to after the last file is written)."""
    import argparse

    ap = argparse.ArgumentParser(prog=f"bench.py {engine}-worker")
    ap.add_argument("--input", required=True)
    ap.add_argument("--variant", choices=VARIANTS, default="typed")
    ap.add_argument("--out", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--window-days", type=int, required=True)
    ap.add_argument("--time-zone", required=True)
    ap.add_argument("--threads", type=int)
    a = ap.parse_args(argv)
    dt.date.fromisoformat(a.as_of)
    if engine == "duckdb":
        import duckdb as module
    else:
        import chdb as module
        from chdb import session
    t0 = time.perf_counter()
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    tz = sql_quote(a.time_zone)
    order_ts, amount = (e.format(tz=tz) for e in LINE_EXPRS[engine][a.variant])
    with open(SQL_FILES[engine]) as f:
        sql = string.Template(f.read()).substitute(
            input=sql_quote(a.input), out=sql_quote(a.out), as_of=a.as_of,
            w=int(a.window_days), tz=tz, order_ts=order_ts, amount=amount)
    if engine == "duckdb":
        config = {"temp_directory": os.path.join(a.out, ".tmp")}
        # A cap on DuckDB's spill, so a history too big for the disk fails
        # the run instead of filling the disk.
        temp_limit = os.environ.get("BENCH_DUCKDB_TEMP_LIMIT", "").strip()
        if temp_limit:
            config["max_temp_directory_size"] = temp_limit
        if a.threads:
            config["threads"] = a.threads
        con = module.connect(config=config)
        con.execute(sql)
        con.close()
    else:
        # A session of its own (temporary tables live in it), its files in
        # the output directory, removed when it is closed.
        sess = session.Session(os.path.join(a.out, ".chdb"))
        if a.threads:
            sql = f"SET max_threads = {int(a.threads)};\n{sql}"
        sess.query(sql)
        sess.close()
        shutil.rmtree(os.path.join(a.out, ".chdb"), ignore_errors=True)
    print(json.dumps({"sql_seconds": time.perf_counter() - t0,
                      "version": module.__version__}))


# --------------------------------------------------------------------------
# Do ours and a SQL engine's tables agree?
# --------------------------------------------------------------------------

def compare_tables(con, ours_dir, peer_dir, peer="DuckDB"):
    """Returns (ok, lines): per table, rows only on one side and cells that
    differ, ours against the engine named peer (its columns are compared).
    A column whose type differs (other than INTEGER vs BIGINT) is a
    disagreement too: the tables are meant to be the same tables."""
    ok, lines = True, []
    for table, keys in TABLES.items():
        # Ours: a directory of part files per table.
        a = os.path.join(ours_dir, table, "*.parquet")
        b = os.path.join(peer_dir, f"{table}.parquet")
        if not os.path.isdir(os.path.dirname(a)) or not os.path.exists(b):
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
            ok = False
            lines.append(f"{table}: column types differ (ours vs {peer}): {', '.join(types)}")

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
        only_peer, only_ours, per_col = counts[0], counts[1], dict(zip(cols, counts[2:]))
        bad = {c: n for c, n in per_col.items() if n}
        n_rows = con.execute(f"SELECT count(*) FROM read_parquet('{sql_quote(b)}')").fetchone()[0]
        if not (only_peer or only_ours or bad):
            lines.append(f"{table}: agree ({n_rows} rows, {len(cols)} compared columns)")
            continue
        ok = False
        lines.append(f"{table}: DISAGREE ({n_rows} {peer} rows): {only_ours} rows only in ours, "
                     f"{only_peer} only in {peer}; differing cells: "
                     + (", ".join(f"{c} {n}" for c, n in bad.items()) or "none"))
        keysel = ", ".join(f'coalesce(a."{k}", b."{k}")' for k in keys)
        for c in list(bad)[:6]:
            rows = con.execute(f'SELECT {keysel}, a."{c}", b."{c}" {base} '
                               f"WHERE a._a AND b._b AND {differs(c)} ORDER BY ALL LIMIT 3").fetchall()
            for r in rows:
                lines.append(f"    {c} at {', '.join(str(v) for v in r[:len(keys)])}: "
                             f"ours {r[-2]!r}, {peer} {r[-1]!r}")
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


def write_results(name, fields, rows):
    """Writes rows to bench/results/NAME.csv; returns the path."""
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path


def print_table_and_finish(header, rows, aligns, path):
    """The result table, where it was written, and the run's warnings."""
    print_table(header, rows, aligns)
    print(f"wrote {os.path.relpath(path, ROOT)}")
    for wmsg in WARNINGS:
        log(f"bench: WARNING: {wmsg}")


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
    customers_parquet = os.path.join(clv_dir, "current", "customers")
    import duckdb
    con = duckdb.connect()
    params = con.execute(
        "SELECT model, parameter, value FROM read_parquet(?) ORDER BY model, parameter",
        [os.path.join(clv_dir, "current", "clv_model", "*.parquet")]).fetchall()
    con.close()
    # Prefixed with the model: with `auto` there are three purchase models.
    ours_params = " ".join(f"{m}.{p}={v:.4g}" for m, p, v in params)
    customers = manifest.get("customers") or truth["customers"]
    base = {"timestamp_utc": stamp, "orders": truth["orders"], "customers": customers}
    rows = [dict(base, engine=f"retention ({CLV_MODEL})", fit_s=ours.get("fit", float("nan")),
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
    rc, wall, rss, _ = measure([py, os.path.join(BENCH, "lifetimes_worker.py"), customers_parquet,
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


def parse_variants():
    text = os.environ.get("BENCH_VARIANTS", "").strip() or ",".join(VARIANTS)
    chosen = []
    for v in (x.strip() for x in text.split(",")):
        if v not in VARIANTS:
            die(f"BENCH_VARIANTS={text!r}: expected a comma-separated subset of {','.join(VARIANTS)}")
        if v not in chosen:
            chosen.append(v)
    return chosen


def worker_seconds(log_path):
    """The SQL seconds a worker printed as its last JSON line, or None."""
    with open(log_path, errors="replace") as f:
        info = [l for l in f.read().splitlines() if l.startswith("{")]
    return json.loads(info[-1])["sql_seconds"] if info else None


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("duckdb-worker", "chdb-worker"):
        # Started by main() with the interpreter that has both engines.
        return sql_worker(sys.argv[1].split("-")[0], sys.argv[2:])
    if len(sys.argv) > 1:
        die("usage: bench.py   (settings come from BENCH_* environment variables; see bench/README.md)")
    ensure_engines()
    import duckdb

    sizes_text = os.environ.get("BENCH_SIZES", "").strip() or "1000000,10000000"
    try:
        sizes = [int(s.replace("_", "")) for s in sizes_text.split(",") if s.strip()]
    except ValueError:
        die(f"BENCH_SIZES={sizes_text!r}: expected comma-separated order counts")
    if not sizes or min(sizes) < 1000:
        die(f"BENCH_SIZES={sizes_text!r}: expected order counts of at least 1000")
    variants = parse_variants()
    runs = env_int("BENCH_RUNS", 3, 1)
    threads = env_int("BENCH_THREADS", 0, 0) or None
    # Our runs' budget; the run itself checks the size and refuses a bad one.
    memory_limit = os.environ.get("BENCH_MEMORY_LIMIT", "").strip() or None
    as_of = os.environ.get("BENCH_AS_OF", "").strip() or "2023-12-20"
    try:
        dt.date.fromisoformat(as_of)
    except ValueError:
        die(f"BENCH_AS_OF={as_of!r}: expected YYYY-MM-DD")
    if not os.access(BIN, os.X_OK):
        die(f"{BIN} not found: run `make build` first")

    warnings = WARNINGS
    chdb_ver = chdb_version()
    if chdb_ver is None:
        reason = os.environ.get(NO_CHDB_ENV, "not importable")
        warnings.append(f"chdb could not be installed into {os.path.relpath(VENV, ROOT)} "
                        f"({reason}); the run goes on without chDB")
    peers = [p for p in PEERS if p != "chdb" or chdb_ver is not None]
    versions = {"duckdb": duckdb.__version__, "chdb": chdb_ver or ""}

    cores, mem_total = machine()
    commit = git_commit()
    supports_force = "--force" in subprocess.run(
        [BIN, "run", "--help"], capture_output=True, text=True).stdout
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log(f"bench: sizes {sizes}, variants {variants}, {runs} runs each, as_of {as_of}, "
        f"{threads or cores} threads, {cores} cores, {mib(mem_total) / 1024:.1f} GiB, "
        f"DuckDB {versions['duckdb']}" + (f", chDB {chdb_ver}" if chdb_ver else ", no chDB"))
    opc, fingerprint = calibrate()
    os.makedirs(OUT, exist_ok=True)
    rows, stage_reports = [], []
    clv_runs = []  # (size, truth, output dir, log of the last run): typed variant only

    for size in sizes:
        typed_data = os.path.join(DATA, f"orders_{size}.parquet")
        truth = generate(max(1, round(size / opc)), typed_data, fingerprint)
        for variant in variants:
            data = typed_data if variant == "typed" else text_variant(typed_data)
            # Typed keeps the names it always had (bench/out/<size>/ ...).
            name = str(size) if variant == "typed" else f"{size}_{variant}"
            label = f"{size} orders, {variant}"
            out_dir = os.path.join(OUT, name)
            peer_dirs = {p: os.path.join(out_dir, p) for p in peers}
            os.makedirs(out_dir, exist_ok=True)
            ours_cmd = [BIN, "run", write_pipeline(name, data, out_dir),
                        "--out", out_dir, "--as-of", as_of]
            # The whole pipeline, CLV included, in its own output directory.
            clv_dir = os.path.join(OUT, f"{name}_clv")
            os.makedirs(clv_dir, exist_ok=True)
            clv_cmd = [BIN, "run", write_pipeline(name, data, clv_dir, clv=True),
                       "--out", clv_dir, "--as-of", as_of]
            for cmd in (ours_cmd, clv_cmd):
                if supports_force:  # otherwise an unchanged input is "already published"
                    cmd.append("--force")
                if threads:
                    cmd += ["--threads", str(threads)]
                if memory_limit:
                    cmd += ["--memory-limit", memory_limit]
            engines = [("retention", ours_cmd, out_dir)]
            for p in peers:
                cmd = [sys.executable, os.path.abspath(__file__), f"{p}-worker",
                       "--input", data, "--variant", variant, "--out", peer_dirs[p],
                       "--as-of", as_of, "--window-days", str(WINDOW_DAYS),
                       "--time-zone", TIME_ZONE]
                if threads:
                    cmd += ["--threads", str(threads)]
                engines.append((p, cmd, None))
            engines.append((CLV_ENGINE, clv_cmd, clv_dir))

            load = os.getloadavg()[0]
            if load > 0.5 * cores:
                warnings.append(f"{label}: machine busy before the runs (load average {load:.1f} "
                                f"on {cores} cores): timings are noisy")
            res = {e: [] for e, _, _ in engines}
            sql_seconds = {p: [] for p in peers}
            failed = set()
            for i in range(1, runs + 1):
                for engine, cmd, engine_out in engines:
                    if engine in failed:
                        continue
                    log_path = os.path.join(out_dir, f"{engine}_run{i}.log")
                    before = run_id(engine_out) if engine_out else None
                    # The CLV run logs its fit and prediction times (debug level).
                    env = dict(os.environ, RUST_LOG="retention::stages::clv=debug") \
                        if engine == CLV_ENGINE else None
                    rc, wall, rss, cpu = measure(cmd, log_path, env)
                    if rc == 0 and engine_out and run_id(engine_out) in (None, before):
                        failed.add(engine)
                        warnings.append(f"{label}: {engine} run {i} published nothing new; log {log_path}")
                        continue
                    if rc != 0:
                        failed.add(engine)
                        warnings.append(f"{label}: {engine} run {i} failed (exit {rc}); log {log_path}")
                        log(f"bench: {engine} failed (exit {rc}), last lines of {log_path}:\n{tail(log_path)}")
                        continue
                    res[engine].append((wall, rss, cpu))
                    if engine in sql_seconds:
                        secs = worker_seconds(log_path)
                        if secs is not None:
                            sql_seconds[engine].append(secs)
                    log(f"bench: {label}, run {i}/{runs}, {engine:13s} {wall:8.2f} s  {mib(rss):8.1f} MiB")

            # Ours against each SQL engine that ran, table for table.
            agree = {}
            for p in peers:
                if "retention" in failed or p in failed:
                    continue
                con = duckdb.connect()
                ok, lines = compare_tables(con, os.path.join(out_dir, "current"), peer_dirs[p],
                                           PEER_NAMES[p])
                con.close()
                agree[p] = "yes" if ok else "NO"
                print(f"\n== {label}: retention vs {PEER_NAMES[p]} tables ==")
                for line in lines:
                    print("  " + line)
                if not ok:
                    warnings.append(f"{label}: retention and {PEER_NAMES[p]} tables DISAGREE "
                                    f"(details above)")

            manifest_path = os.path.join(out_dir, "current", "_manifest.json")
            tool_version = ""
            if "retention" not in failed and os.path.exists(manifest_path):
                with open(manifest_path) as f:
                    manifest = json.load(f)
                tool_version = manifest.get("tool_version", "")
                stage_reports.append((label, manifest.get("stages", [])))

            peer_wall = {p: statistics.median(w for w, _, _ in res[p]) for p in peers if res[p]}
            peer_rss = {p: max(r for _, r, _ in res[p]) for p in peers if res[p]}
            if variant == "typed" and CLV_ENGINE not in failed and res[CLV_ENGINE]:
                clv_runs.append((size, truth, clv_dir,
                                 os.path.join(out_dir, f"{CLV_ENGINE}_run{len(res[CLV_ENGINE])}.log")))
            engine_dirs = {"retention": out_dir, CLV_ENGINE: clv_dir}
            for engine in ["retention", CLV_ENGINE] + peers:
                if not res[engine]:
                    continue
                walls = [w for w, _, _ in res[engine]]
                wall = statistics.median(walls)
                rss = max(r for _, r, _ in res[engine])
                # How many cores the run kept busy: CPU seconds over wall
                # seconds, run by run, the median.
                cpu_per_wall = statistics.median(c / w for w, _, c in res[engine])
                row = {
                    "timestamp_utc": stamp, "git_commit": commit, "tool_version": tool_version,
                    "duckdb_version": versions["duckdb"], "chdb_version": versions["chdb"],
                    "target_orders": size,
                    "customers": truth["customers"], "orders": truth["orders"],
                    "refunds": truth["refunds"], "lines": truth["lines"], "as_of": as_of,
                    "variant": variant, "engine": engine, "runs": len(walls),
                    "wall_s_median": round(wall, 3), "wall_s_min": round(min(walls), 3),
                    "wall_s_max": round(max(walls), 3),
                    "lines_per_s": round(truth["lines"] / wall),
                    "orders_per_s": round(truth["orders"] / wall),
                    "peak_rss_mib": round(mib(rss), 1),
                    "cpu_s_median": round(statistics.median(c for _, _, c in res[engine]), 3),
                    "cpu_per_wall": round(cpu_per_wall, 2),
                }
                # Ours only: the budget and what the last run spilled.
                row.update(spill_figures(engine_dirs.get(engine)))
                for p in PEERS:
                    row[f"time_vs_{p}"] = round(wall / peer_wall[p], 3) if p in peer_wall else ""
                    row[f"rss_vs_{p}"] = round(rss / peer_rss[p], 3) if p in peer_rss else ""
                for p in PEERS:
                    row[f"{p}_sql_s_median"] = (round(statistics.median(sql_seconds[p]), 3)
                                                if engine == p and sql_seconds.get(p) else "")
                # tables_agree is ours against DuckDB (its name since the
                # first bench); tables_agree_chdb ours against chDB.
                row["tables_agree"] = agree.get("duckdb", "") if engine == "retention" else ""
                row["tables_agree_chdb"] = agree.get("chdb", "") if engine == "retention" else ""
                row.update({"load_avg_before": round(load, 2), "threads": threads or cores,
                            "cores": cores, "mem_total_gib": round(mib(mem_total) / 1024, 1)})
                rows.append(row)

    if not rows:
        die("no successful runs")
    csv_path = write_results(f"bench_{stamp}", list(rows[0]), rows)

    def ratio(v):
        return f"{v:.2f}" if v != "" else "-"

    def spilled(r):
        if r["spilled_bytes"] == "":
            return "-"
        return f"{r['spilled_bytes'] / 1e6:,.0f}" + (" zstd" if r["spill_compressed"] else "")

    print(f"\n== retention vs DuckDB {versions['duckdb']}"
          + (f" and chDB {chdb_ver}" if chdb_ver else "")
          + f": {cores} cores, {rows[0]['mem_total_gib']} GiB, as_of {as_of}, "
          f"median of {runs} runs ==")
    print_table(
        ["orders", "lines", "variant", "engine", "wall s", "CPU/wall", "lines/s", "peak RSS MiB",
         "spilled MB", "time x DuckDB", "time x chDB", "RSS x DuckDB", "RSS x chDB", "agree DuckDB", "agree chDB"],
        [[f"{r['orders']:,}", f"{r['lines']:,}", r["variant"], r["engine"],
          f"{r['wall_s_median']:.2f}", f"{r['cpu_per_wall']:.2f}", f"{r['lines_per_s']:,}",
          f"{r['peak_rss_mib']:.0f}", spilled(r), ratio(r["time_vs_duckdb"]),
          ratio(r["time_vs_chdb"]), ratio(r["rss_vs_duckdb"]), ratio(r["rss_vs_chdb"]),
          r["tables_agree"], r["tables_agree_chdb"]] for r in rows],
        "<<<<>>>>>>>>><<")
    for p in peers:
        sql = [r for r in rows if r["engine"] == p and r[f"{p}_sql_s_median"] != ""]
        if sql:
            print(f"{PEER_NAMES[p]} wall includes Python start-up and import; SQL alone: "
                  + ", ".join(f"{r['orders']:,} orders {r['variant']} "
                              f"{r[f'{p}_sql_s_median']:.2f} s" for r in sql))

    lifetimes_wanted = os.environ.get("BENCH_LIFETIMES", "").strip()
    if lifetimes_wanted != "0" and clv_runs:
        # The CLV stage against lifetimes, on the size nearest 1 M orders.
        size, truth, clv_dir, clv_log = min(clv_runs, key=lambda c: abs(c[0] - 1_000_000))
        clv_rows = None
        if size > LIFETIMES_MAX_ORDERS and lifetimes_wanted != "1":
            warnings.append(f"lifetimes left out: the smallest history here has {size:,} orders, "
                            f"and lifetimes takes about a minute per 1 M; BENCH_LIFETIMES=1 runs it")
        else:
            clv_rows = compare_lifetimes(size, truth, clv_dir, clv_log, stamp)
        if clv_rows:
            clv_csv = write_results(f"clv_{stamp}", list(clv_rows[0]), clv_rows)
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

    for label, stages in stage_reports:
        print(f"\n== retention stages, last run, {label} ==")
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
