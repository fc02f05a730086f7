"""`make bench-cluster`: the same histories run embedded and on a local
cluster of three processes (a scheduler and two executors of our binary,
on loopback), side by side.

For each size in BENCH_CLUSTER_SIZES (orders; default 10000000,100000000)
it reuses (or makes) the typed history of `make bench`, runs the
descriptive pipeline embedded, then starts a fresh cluster, runs the same
pipeline with `--engine ballista`, and reports for each: the client's wall
time, CPU/wall and peak RSS; the scheduler's and each executor's peak RSS
(VmHWM, read before they are stopped); and the shuffle bytes, the size of
the executors' work directories after the run (Ballista's shuffle files;
the orders' own spill is in the output directory, not there). Every table
of the two runs is checked equal (DuckDB, EXCEPT ALL both ways).

Needs the binary with the cluster engine (`make build-cluster`, which
`make bench-cluster` runs first). Writes bench/results/cluster_<stamp>.csv.
"""

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench.py: paths, measure, generate, tables)

SCHEDULER_PORT, EXECUTOR_PORTS = 50150, (50151, 50161)


def sizes():
    text = os.environ.get("BENCH_CLUSTER_SIZES", "").strip() or "10000000,100000000"
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        bench.die(f"BENCH_CLUSTER_SIZES={text!r}: expected integers")


def history(size, opc, fingerprint):
    """The typed history of `make bench` for this size (cached there)."""
    path = os.path.join(bench.DATA, f"orders_{size}.parquet")
    return path, bench.generate(max(1, round(size / opc)), path, fingerprint)


def wait_listening(port, what, process, deadline_s=60):
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if process.poll() is not None:
            bench.die(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    bench.die(f"{what} never listened on 127.0.0.1:{port}")


class Cluster:
    """A scheduler and two executors, each its own process, logs in `work`."""

    def __init__(self, work):
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        self.work = work
        self.processes = {}
        self.start("scheduler", ["cluster", "scheduler", "--bind",
                                 f"127.0.0.1:{SCHEDULER_PORT}"], SCHEDULER_PORT)
        for port in EXECUTOR_PORTS:
            work_dir = self.work_dir(port)
            os.makedirs(work_dir)
            self.start(f"executor-{port}",
                       ["cluster", "executor", "--scheduler", f"127.0.0.1:{SCHEDULER_PORT}",
                        "--bind", f"127.0.0.1:{port}", "--work-dir", work_dir], port)
        time.sleep(2)  # executors poll the scheduler: let both register

    def work_dir(self, port):
        return os.path.join(self.work, f"executor-{port}")

    def start(self, name, args, port):
        log = open(os.path.join(self.work, f"{name}.log"), "wb")
        p = subprocess.Popen([bench.BIN] + args, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = p
        wait_listening(port, name, p)

    def peak_rss(self):
        """VmHWM of each process, bytes (the kernel's high-water mark)."""
        out = {}
        for name, p in self.processes.items():
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        out[name] = int(line.split()[1]) * 1024
        return out

    def shuffle_bytes(self):
        total = 0
        for port in EXECUTOR_PORTS:
            for root, _, files in os.walk(self.work_dir(port)):
                total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
        return total

    def stop(self):
        for p in self.processes.values():
            p.kill()
            p.wait()


def tables_equal(a_dir, b_dir):
    """Names of the tables that differ between two published runs."""
    import duckdb
    con = duckdb.connect()
    differ = []
    a_cur, b_cur = os.path.join(a_dir, "current"), os.path.join(b_dir, "current")
    for table in sorted(os.listdir(a_cur)):
        if not os.path.isdir(os.path.join(a_cur, table)) or table in ("run_comparison", "gates"):
            continue
        a = os.path.join(a_cur, table, "*.parquet")
        b = os.path.join(b_cur, table, "*.parquet")
        n = con.execute(
            "SELECT (SELECT count(*) FROM (SELECT * FROM read_parquet(?) EXCEPT ALL "
            "SELECT * FROM read_parquet(?))) + (SELECT count(*) FROM (SELECT * FROM "
            "read_parquet(?) EXCEPT ALL SELECT * FROM read_parquet(?)))",
            [a, b, b, a]).fetchone()[0]
        if n:
            differ.append(table)
    return differ


def run(name, pipeline, out_dir, extra):
    log_path = os.path.join(bench.OUT, f"{name}.log")
    rc, wall, rss, cpu = bench.measure(
        [bench.BIN, "run", pipeline, "--force", "--out", out_dir] + extra, log_path)
    if rc != 0:
        bench.die(f"{name} failed (exit {rc}); log {log_path}:\n{bench.tail(log_path)}")
    return {"wall_s": round(wall, 2), "cpu_per_wall": round(cpu / wall, 2),
            "client_peak_rss_mib": round(bench.mib(rss))}


def main():
    if not os.access(bench.BIN, os.X_OK):
        bench.die(f"{bench.BIN} is missing: run `make build-cluster` first")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    opc, fingerprint = bench.calibrate()
    rows = []
    for size in sizes():
        data, truth = history(size, opc, fingerprint)
        name = f"{size}_cluster"
        out_embedded = os.path.join(bench.OUT, f"{name}_embedded")
        out_cluster = os.path.join(bench.OUT, f"{name}_ballista")
        pipeline = bench.write_pipeline(name, data, out_embedded)
        bench.log(f"bench: {size:,} orders embedded")
        embedded = run(f"{name}_embedded", pipeline, out_embedded, [])
        rows.append(dict(embedded, orders=truth["orders"], engine="embedded"))
        bench.log(f"bench: {size:,} orders on a scheduler and two executors")
        cluster = Cluster(os.path.join(bench.OUT, f"{name}_processes"))
        try:
            on_cluster = run(f"{name}_ballista", pipeline, out_cluster,
                             ["--engine", "ballista", "--scheduler",
                              f"127.0.0.1:{SCHEDULER_PORT}"])
            peaks = cluster.peak_rss()
            shuffle = cluster.shuffle_bytes()
        finally:
            cluster.stop()
        differ = tables_equal(out_embedded, out_cluster)
        if differ:
            bench.die(f"{size:,} orders: tables differ between the engines: {differ}")
        rows.append(dict(
            on_cluster, orders=truth["orders"], engine="ballista (1 scheduler, 2 executors)",
            scheduler_peak_rss_mib=round(bench.mib(peaks["scheduler"])),
            executor_peak_rss_mib=" / ".join(
                str(round(bench.mib(peaks[f"executor-{p}"]))) for p in EXECUTOR_PORTS),
            shuffle_mib=round(bench.mib(shuffle), 1)))
    fields = ["engine", "orders", "wall_s", "cpu_per_wall", "client_peak_rss_mib",
              "scheduler_peak_rss_mib", "executor_peak_rss_mib", "shuffle_mib"]
    path = bench.write_results(f"cluster_{stamp}", fields, rows)
    cores, mem = bench.machine()
    print(f"\n== embedded and on a local cluster ({cores} cores, "
          f"{bench.mib(mem) / 1024:.1f} GiB, {bench.git_commit()}); tables equal ==")
    bench.print_table_and_finish(
        ["engine", "orders", "wall s", "CPU/wall", "client MiB", "scheduler MiB",
         "executors MiB", "shuffle MiB"],
        [[r["engine"], f"{r['orders']:,}", f"{r['wall_s']:.2f}", f"{r['cpu_per_wall']:.2f}",
          str(r["client_peak_rss_mib"]), str(r.get("scheduler_peak_rss_mib", "")),
          r.get("executor_peak_rss_mib", ""), str(r.get("shuffle_mib", ""))] for r in rows],
        "<>>>>>>>", path)
    return 0


def ensure_duckdb():
    """DuckDB checks the cached histories and the tables: without it here,
    run in make bench's venv (created with DuckDB alone if missing)."""
    if bench.importable_here("duckdb"):
        return
    if os.path.realpath(sys.prefix) == os.path.realpath(bench.VENV):
        bench.die(f"duckdb is missing from {bench.VENV}; remove that folder and rerun")
    if not os.path.exists(bench.VENV_PY):
        bench.log(f"bench: creating {bench.VENV} (duckdb)")
        subprocess.run([sys.executable, "-m", "venv", bench.VENV], check=True)
    probe = subprocess.run([bench.VENV_PY, "-c", "import duckdb"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([bench.VENV_PY, "-m", "pip", "install", "--quiet", "duckdb"], check=True)
    os.execv(bench.VENV_PY, [bench.VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])


if __name__ == "__main__":
    ensure_duckdb()
    sys.exit(main())
