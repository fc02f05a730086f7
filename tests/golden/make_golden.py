#!/usr/bin/env python3
"""Golden outputs for the SPEC §4 descriptive tables, computed in DuckDB SQL.

An independent second implementation (see golden.sql) that the Rust test
suite compares against. Run from the repository root:

    /tmp/golden-venv/bin/python tests/golden/make_golden.py \
        --input FILE.csv --as-of YYYY-MM-DD --window-days W \
        --time-zone IANA --out-dir DIR

Input CSV: order_id,customer_id,order_ts,amount (order lines, clean data).
Writes customers.csv, cohort_retention.csv, retention_curve.csv and
kpis_monthly.csv into DIR, and the cohort tables with weekly and quarterly
cohorts: cohort_retention_week.csv, retention_curve_week.csv,
cohort_retention_quarter.csv, retention_curve_quarter.csv.
"""

import argparse
import csv
import datetime as dt
import os
import sys
import time

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
SQL_FILE = os.path.join(HERE, "golden.sql")

# table -> (output file, ORDER BY). Column order is fixed by golden.sql.
TABLES = [
    ("customers_out", "customers.csv", "customer_id"),
    ("cohort_retention_out", "cohort_retention.csv", "cohort_month, period"),
    ("retention_curve_out", "retention_curve.csv", "period"),
    ("kpis_monthly_out", "kpis_monthly.csv", "month"),
]

EXPECTED_COLUMNS = {
    "customers_out": [
        "customer_id", "cohort_month", "first_order_date", "last_order_date",
        "orders", "revenue", "avg_order_value", "frequency", "recency_days",
        "tenure_days", "monetary_value", "days_since_last_order",
    ],
    "cohort_retention_out": [
        "cohort_month", "period", "cohort_size", "active_customers",
        "retention_rate", "orders", "revenue", "revenue_per_customer",
        "cumulative_revenue_per_customer", "period_complete",
        "unbounded_active_customers", "unbounded_retention_rate",
    ],
    "retention_curve_out": [
        "period", "cohorts", "customers", "retained", "retention_rate",
        "unbounded_retained", "unbounded_retention_rate",
    ],
    "kpis_monthly_out": [
        "month", "customers_start", "customers_end", "new_customers",
        "retained", "churned", "reactivated", "crr", "churn_rate",
        "purchasing_customers", "orders", "revenue", "aov",
        "purchase_frequency", "returning_customers", "repeat_customer_rate",
        "month_complete",
    ],
}


# Cohort units other than month: (unit, file suffix, cohort column).
OTHER_UNITS = [("week", "_week", "cohort_week"), ("quarter", "_quarter", "cohort_quarter")]


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return str(v)


def scalar(con, sql):
    return con.execute(sql).fetchone()[0]


def check(con, what, sql):
    """sql returns a count of violating rows; it must be 0."""
    n = scalar(con, sql)
    if n:
        sys.exit(f"make_golden: input assumption violated: {what} ({n} cases)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True, help="order-lines CSV")
    ap.add_argument("--as-of", required=True, help="YYYY-MM-DD, inclusive")
    ap.add_argument("--window-days", required=True, type=int, help="activity window W")
    ap.add_argument("--time-zone", required=True, help="IANA business time zone")
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()

    as_of = dt.date.fromisoformat(a.as_of)
    if a.window_days < 1:
        sys.exit("make_golden: --window-days must be >= 1")

    t0 = time.time()
    con = duckdb.connect()
    if not con.execute("SELECT count(*) FROM pg_timezone_names() WHERE name = ?",
                       [a.time_zone]).fetchone()[0]:
        sys.exit(f"make_golden: unknown time zone {a.time_zone!r}")

    con.execute(
        "CREATE TABLE params AS SELECT CAST(? AS DATE) AS as_of, CAST(? AS INTEGER) AS w, CAST(? AS VARCHAR) AS tz",
        [as_of.isoformat(), a.window_days, a.time_zone],
    )
    con.execute(
        "CREATE TABLE raw_lines AS "
        "SELECT order_id, customer_id, order_ts, amount "
        "FROM read_csv(?, header = true, delim = ',', quote = '\"', all_varchar = true)",
        [a.input],
    )

    with open(SQL_FILE) as f:
        con.execute(f.read())

    # Assumptions the generated data must satisfy (SPEC §3 rejection rules
    # are not implemented here, so make sure they would not fire).
    check(con, "an order_id shared by several customer_ids",
          "SELECT count(*) FROM orders_all WHERE n_customer_ids <> 1")
    check(con, "refund by a customer with no order on or before as_of",
          "SELECT count(*) FROM orders o WHERE is_refund AND NOT EXISTS "
          "(SELECT 1 FROM cust_base b WHERE b.customer_id = o.customer_id)")
    check(con, "refund dated before the customer's first order",
          "SELECT count(*) FROM orders o JOIN cust_base b USING (customer_id) "
          "WHERE o.is_refund AND o.order_date < b.first_order_date")
    check(con, "null/empty customer_id, order_id, timestamp or amount",
          "SELECT count(*) FROM lines WHERE customer_id IS NULL OR customer_id = '' "
          "OR order_id IS NULL OR order_id = '' OR local_ts IS NULL OR cents IS NULL")

    # Reconciliation: revenue agrees across the three tables.
    tot = scalar(con, "SELECT sum(cents) FROM orders")
    for t in ("customers_out", "cohort_retention_out", "kpis_monthly_out"):
        got = scalar(con, f"SELECT CAST(round(sum(revenue) * 100) AS BIGINT) FROM {t}")
        if got != tot:
            sys.exit(f"make_golden: internal error: revenue in {t} = {got} cents, expected {tot}")

    # The by-unit cohort tables: revenue and cohort sizes reconcile for
    # every unit, and their 'month' rows are exactly sections 7-8.
    for unit in ("month", "week", "quarter"):
        got = scalar(con, "SELECT CAST(round(sum(revenue) * 100) AS BIGINT) "
                          f"FROM cohort_retention_by_unit_out WHERE unit = '{unit}'")
        if got != tot:
            sys.exit(f"make_golden: internal error: {unit} cohort revenue = {got} cents, expected {tot}")
        got = scalar(con, "SELECT sum(cohort_size) FROM cohort_retention_by_unit_out "
                          f"WHERE unit = '{unit}' AND period = 0")
        if got != scalar(con, "SELECT count(*) FROM cust_base"):
            sys.exit(f"make_golden: internal error: {unit} cohort sizes sum to {got}")
    for by_unit, monthly, key in (
        ("cohort_retention_by_unit_out", "cohort_retention_out", "cohort_month"),
        ("retention_curve_by_unit_out", "retention_curve_out", None),
    ):
        rename = f"cohort_start AS {key}, " if key else ""
        diff = scalar(con, f"""SELECT count(*) FROM (
            (SELECT * FROM {monthly}
             EXCEPT ALL
             SELECT {rename}* EXCLUDE (unit{', cohort_start' if key else ''})
               FROM {by_unit} WHERE unit = 'month')
            UNION ALL
            (SELECT {rename}* EXCLUDE (unit{', cohort_start' if key else ''})
               FROM {by_unit} WHERE unit = 'month'
             EXCEPT ALL
             SELECT * FROM {monthly}))""")
        if diff:
            sys.exit(f"make_golden: internal error: {by_unit} 'month' differs from {monthly} ({diff} rows)")

    os.makedirs(a.out_dir, exist_ok=True)
    outputs = [(f"SELECT * FROM {table} ORDER BY {order_by}", table, fname)
               for table, fname, order_by in TABLES]
    for unit, suffix, column in OTHER_UNITS:
        outputs.append((f"SELECT cohort_start AS {column}, * EXCLUDE (unit, cohort_start) "
                        f"FROM cohort_retention_by_unit_out WHERE unit = '{unit}' "
                        "ORDER BY cohort_start, period",
                        "cohort_retention_out", f"cohort_retention{suffix}.csv"))
        outputs.append((f"SELECT * EXCLUDE (unit) FROM retention_curve_by_unit_out "
                        f"WHERE unit = '{unit}' ORDER BY period",
                        "retention_curve_out", f"retention_curve{suffix}.csv"))
    for query, table, fname in outputs:
        cur = con.execute(query)
        cols = [d[0] for d in cur.description]
        want = EXPECTED_COLUMNS[table]
        if fname != "cohort_retention.csv" and fname.startswith("cohort_retention"):
            want = [c for c in cols[:1]] + want[1:]
        if cols != want:
            sys.exit(f"make_golden: internal error: {fname} columns {cols}")
        rows = cur.fetchall()
        if table == "customers_out":
            # byte-wise (= code point) order, independent of any collation
            rows.sort(key=lambda r: r[0].encode("utf-8"))
        path = os.path.join(a.out_dir, fname)
        with open(path, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(cols)
            for r in rows:
                w.writerow([fmt(v) for v in r])
        print(f"{path}: {len(rows)} rows")

    n_lines = scalar(con, "SELECT count(*) FROM lines")
    n_orders = scalar(con, "SELECT count(*) FROM orders")
    print(f"{n_lines} lines, {n_orders} orders on or before {as_of}, "
          f"{time.time() - t0:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
