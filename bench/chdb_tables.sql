-- The chDB (embedded ClickHouse) side of `make bench`: the README
-- "Definitions" of the four descriptive tables (customers, cohort_retention,
-- retention_curve, kpis_monthly), the same as bench/duckdb_tables.sql,
-- written in ClickHouse SQL for speed, as a competent ClickHouse user would.
--
-- bench.py fills in the dollar-brace parameters (string.Template) and runs the
-- whole file in one fresh chDB session (max_threads = all cores).
--   ${input}     Parquet order lines: order_id, customer_id, order_ts, amount
--   ${order_ts}  expression giving a line's DateTime64 from the file's order_ts
--                (the column itself, or for text a parseDateTime64BestEffort
--                call in the business zone: the parse is part of the time)
--   ${amount}    expression giving a line's Float64 amount
--   ${out}       output directory (exists)
--   ${as_of}     date text, inclusive
--   ${w}         activity window W in days (>= 31)
--   ${tz}        IANA business time zone
--
-- Scope: clean input, as `retention generate` writes it (no rejects, no
-- exact duplicate lines, one customer per order id), as for DuckDB.
--
-- Shape. Where DuckDB uses window functions over each customer's orders,
-- this file does what ClickHouse is fastest at: lines are grouped into
-- orders and orders into one sorted array per customer (a second GROUP BY
-- on the first's output, nothing materialized in between); array functions
-- on that array give every per-customer value, the spell edges and the
-- churn events, and ARRAY JOIN spreads them into the small per-month
-- tables. No join touches a big table.
--
-- Activity without a range join, as in the DuckDB file: with a customer's
-- distinct order days o_1 < o_2 < ... (day numbers), a spell starts at o_i
-- when i = 1 or o_i - o_{i-1} > W (+1 at o_i) and ends at o_i + W when o_i
-- is the last day or o_{i+1} > o_i + W (-1 at o_i + W), so active(d) is the
-- running sum of those events up to d. Churn in month m is a spell end
-- inside (S_m, E_m] with no order day on or before E_m (exact because
-- W >= 31), so every spell end counts as churn in its own month exactly when
-- the next order day is after that month's E date.

-- Date functions on Date32 return Date32 (1900..2299, like the pipeline's
-- 1900..2200) instead of the 16-bit Date (1970..2149).
SET enable_extended_results_for_datetime_functions = 1;
-- An unmatched LEFT JOIN row gets 0, not NULL: the grid and calendar joins
-- below want zero counts.
SET join_use_nulls = 0;
-- Read Parquet columns with their plain types, not as Nullable because the
-- file would allow a null (DuckDB, which writes the text variant, marks
-- every column optional): the input is clean, and the day arithmetic on
-- arrays below wants plain Int32, not Nullable(Int32).
SET schema_inference_make_columns_nullable = 0;
SET output_format_parquet_compression_method = 'zstd';
SET output_format_parquet_string_as_string = 1;
SET engine_file_truncate_on_insert = 1;

-- One row per customer with a purchase (an order with total >= 0), from
-- the orders: lines summed per order id, date = local date of the earliest
-- line (an Int32 day number, so that day arithmetic is integer arithmetic),
-- money in integer cents (ClickHouse's round() is half-to-even on floats;
-- DuckDB's, and ours, half away from zero: hence sign * floor(|x| + 0.5)),
-- orders dated after as_of dropped. A customer's orders are gathered into
-- one array sorted by day (groupArray + arraySort: several times faster
-- here than sumMap or window functions); from it:
--   o:        every order (day, cents), refunds included;
--   days:     the distinct purchase days, sorted;
--   pmonths:  the distinct months with a purchase (first day's number);
--   first_d, orders, net_cents (purchases and refunds), repeat_cents
--             (purchases after the first purchase day);
--   starts:   spell starts; lapses: (o_i + W, o_{i+1}) for every spell end
--             on or before as_of, o_{i+1} = 2^31 - 1 when there is none.
CREATE TEMPORARY TABLE cust AS
SELECT customer_id, o, days, pmonths, first_d, orders, net_cents, repeat_cents, starts, lapses
FROM (
    SELECT customer_id, o,
           arrayFilter(t -> t.2 >= 0, o)                                      AS p,
           arrayMap(t -> t.1, p)                                              AS pdays,
           arrayCompact(pdays)                                                AS days,
           arrayCompact(arrayMap(x -> toInt32(toStartOfMonth(toDate32(x))), days)) AS pmonths,
           days[1]                                                            AS first_d,
           length(p)                                                          AS orders,
           arraySum(t -> t.2, o)                                              AS net_cents,
           arraySum(t -> if(t.1 > first_d, t.2, 0), p)                        AS repeat_cents,
           arrayFilter((x, gap, i) -> i = 1 OR gap > ${w},
                       days, arrayDifference(days), arrayEnumerate(days))     AS starts,
           arrayFilter(t -> t.2 > t.1 AND t.1 <= toInt32(toDate32('${as_of}')),
                       arrayZip(arrayMap(x -> x + ${w}, days),
                                arrayPushBack(arrayPopFront(days), toInt32(2147483647)))) AS lapses
    FROM (
        SELECT customer_id, arraySort(groupArray((d, cents))) AS o
        FROM (
            SELECT customer_id,
                   toInt32(toDate32(min(${order_ts}), '${tz}'))                      AS d,
                   sum(toInt64(sign(${amount}) * floor(abs(${amount} * 100) + 0.5))) AS cents
            FROM file('${input}', Parquet)
            GROUP BY order_id, customer_id
        )
        WHERE d <= toInt32(toDate32('${as_of}'))
        GROUP BY customer_id
    )
)
WHERE orders > 0;

----------------------------------------------------------------------------
-- customers
----------------------------------------------------------------------------
INSERT INTO FUNCTION file('${out}/customers.parquet', Parquet)
SELECT customer_id,
       toStartOfMonth(toDate32(first_d))                                   AS cohort_month,
       toDate32(first_d)                                                   AS first_order_date,
       toDate32(days[-1])                                                  AS last_order_date,
       toInt64(orders)                                                     AS orders,
       net_cents / 100.0                                                   AS revenue,
       if(orders = 0, NULL, (net_cents / 100.0) / orders)                  AS avg_order_value,
       toInt64(length(days) - 1)                                           AS frequency,
       toInt64(days[-1] - first_d)                                         AS recency_days,
       toInt64(toInt32(toDate32('${as_of}')) - first_d)                    AS tenure_days,
       if(length(days) = 1, 0.0,
          (repeat_cents / 100.0) / (length(days) - 1))                     AS monetary_value,
       toInt64(toInt32(toDate32('${as_of}')) - days[-1])                   AS days_since_last_order
FROM cust
ORDER BY customer_id;

----------------------------------------------------------------------------
-- The calendar and the per (cohort, month) cells
----------------------------------------------------------------------------
-- First cohort month .. as_of's month, with the evaluation dates S (the day
-- before the month) and E (its last day, or as_of).
CREATE TEMPORARY TABLE calendar AS
-- (a scalar subquery is Nullable; numbers() wants a plain count)
WITH assumeNotNull((SELECT toStartOfMonth(toDate32(min(first_d))) FROM cust)) AS first_month,
     toStartOfMonth(toDate32('${as_of}'))                          AS last_month
SELECT addMonths(first_month, number)                                            AS month,
       toInt32(month)                                                            AS m,
       toInt32(month) - 1                                                        AS s_day,
       least(toInt32(toLastDayOfMonth(month)), toInt32(toDate32('${as_of}')))    AS e_day,
       toLastDayOfMonth(month) <= toDate32('${as_of}')                           AS month_complete
FROM numbers(toUInt64(dateDiff('month', first_month, last_month) + 1));

-- Per (cohort, calendar month): active customers (one per customer and
-- month with a purchase), purchases, and the cents of purchases and
-- refunds (a refund counts in its own month).
CREATE TEMPORARY TABLE cells AS
SELECT cohort, m,
       toInt64(sum(active)) AS active,
       toInt64(sum(n))      AS orders,
       toInt64(sum(c))      AS cents
FROM (
    SELECT toInt32(toStartOfMonth(toDate32(first_d))) AS cohort,
           toInt32(toStartOfMonth(toDate32(t.1)))     AS m,
           0 AS active, toUInt8(t.2 >= 0) AS n, t.2 AS c
    FROM cust ARRAY JOIN o AS t
    UNION ALL
    SELECT toInt32(toStartOfMonth(toDate32(first_d))), pm, 1, 0, 0
    FROM cust ARRAY JOIN pmonths AS pm
)
GROUP BY cohort, m;

----------------------------------------------------------------------------
-- cohort_retention (full grid) and retention_curve
----------------------------------------------------------------------------
CREATE TEMPORARY TABLE grid AS
SELECT g.cohort                                             AS cohort,
       k.m                                                  AS m,
       toDate32(g.cohort)                                   AS cohort_month,
       toInt64(dateDiff('month', toDate32(g.cohort), k.month)) AS period,
       g.cohort_size                                        AS cohort_size,
       x.active                                             AS active_customers,
       x.orders                                             AS orders,
       x.cents                                              AS cents,
       toInt64(sum(x.cents) OVER (PARTITION BY g.cohort ORDER BY k.m
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS cum_cents,
       k.month_complete                                     AS period_complete
FROM (SELECT toInt32(toStartOfMonth(toDate32(first_d))) AS cohort, toInt64(count()) AS cohort_size
        FROM cust GROUP BY cohort) g
CROSS JOIN calendar k
LEFT JOIN cells x ON x.cohort = g.cohort AND x.m = k.m
WHERE k.m >= g.cohort;

INSERT INTO FUNCTION file('${out}/cohort_retention.parquet', Parquet)
SELECT cohort_month, period, cohort_size, active_customers,
       active_customers / cohort_size                       AS retention_rate,
       orders,
       cents / 100.0                                        AS revenue,
       (cents / 100.0) / cohort_size                        AS revenue_per_customer,
       (cum_cents / 100.0) / cohort_size                    AS cumulative_revenue_per_customer,
       CAST(period_complete AS Bool)                        AS period_complete
FROM grid
ORDER BY cohort_month, period;

-- Every period of the grid; the sums only over complete periods.
INSERT INTO FUNCTION file('${out}/retention_curve.parquet', Parquet)
SELECT period,
       toInt64(countIf(period_complete))                    AS cohorts,
       toInt64(sumIf(cohort_size, period_complete))         AS customers,
       toInt64(sumIf(active_customers, period_complete))    AS retained,
       if(customers = 0, NULL, retained / customers)        AS retention_rate
FROM grid
GROUP BY period
ORDER BY period;

----------------------------------------------------------------------------
-- kpis_monthly
----------------------------------------------------------------------------
-- Spell edges by day: +1 at a spell start, -1 the day a spell ends.
CREATE TEMPORARY TABLE spell_events AS
SELECT day, toInt64(sum(delta)) AS delta
FROM (
    SELECT day, toInt64(1) AS delta FROM cust ARRAY JOIN starts AS day
    UNION ALL
    SELECT l.1 AS day, toInt64(-1) AS delta FROM cust ARRAY JOIN lapses AS l
)
GROUP BY day;

-- Churned in m: a spell end in m whose next order day is after m's E date.
CREATE TEMPORARY TABLE churn AS
SELECT m, toInt64(count()) AS churned
FROM (
    SELECT toInt32(toStartOfMonth(toDate32(l.1)))                                       AS m,
           l.2 > least(toInt32(toLastDayOfMonth(toDate32(l.1))), toInt32(toDate32('${as_of}'))) AS gone
    FROM cust ARRAY JOIN lapses AS l
)
WHERE gone
GROUP BY m;

-- active(d) = the sum of the spell edges up to d: a few thousand event days
-- against a few hundred months, so a plain cross join.
CREATE TEMPORARY TABLE activity AS
SELECT k.m AS m, toInt64(sumIf(e.delta, e.day <= k.s_day)) AS s, toInt64(sumIf(e.delta, e.day <= k.e_day)) AS e
FROM calendar k CROSS JOIN spell_events e
GROUP BY k.m;

CREATE TEMPORARY TABLE monthly AS
SELECT m,
       toInt64(sumIf(active, cohort = m)) AS new_c,   -- period 0
       toInt64(sum(active))               AS purch,
       toInt64(sum(orders))               AS orders,
       toInt64(sum(cents))                AS cents
FROM cells
GROUP BY m;

INSERT INTO FUNCTION file('${out}/kpis_monthly.parquet', Parquet)
SELECT k.month                                              AS month,
       a.s                                                  AS customers_start,
       a.e                                                  AS customers_end,
       x.new_c                                              AS new_customers,
       a.s - c.churned                                      AS retained,
       c.churned                                            AS churned,
       a.e - (a.s - c.churned) - x.new_c                    AS reactivated,
       if(a.s = 0, NULL, (a.e - x.new_c) / a.s)             AS crr,
       if(a.s = 0, NULL, c.churned / a.s)                   AS churn_rate,
       x.purch                                              AS purchasing_customers,
       x.orders                                             AS orders,
       x.cents / 100.0                                      AS revenue,
       if(x.orders = 0, NULL, (x.cents / 100.0) / x.orders) AS aov,
       if(x.purch = 0, NULL, x.orders / x.purch)            AS purchase_frequency,
       x.purch - x.new_c                                    AS returning_customers,
       if(x.purch = 0, NULL, (x.purch - x.new_c) / x.purch) AS repeat_customer_rate,
       CAST(k.month_complete AS Bool)                       AS month_complete
FROM calendar k
LEFT JOIN activity a ON a.m = k.m
LEFT JOIN churn c    ON c.m = k.m
LEFT JOIN monthly x  ON x.m = k.m
ORDER BY month;
