-- The DuckDB side of `make bench`: the README "Definitions" of the four
-- descriptive tables (customers, cohort_retention, retention_curve,
-- kpis_monthly) written for speed, as a competent DuckDB user would.
--
-- bench.py fills in the dollar-brace parameters (string.Template) and runs the
-- whole file in one fresh DuckDB connection (threads = all cores).
--   ${input}  Parquet order lines: order_id, customer_id, order_ts, amount
--   ${order_ts}  expression giving a line's TIMESTAMPTZ from the file's order_ts
--             (the column itself, or a CAST of its text: the parse is timed)
--   ${amount} expression giving a line's DOUBLE amount (the column or a CAST)
--   ${out}    output directory (exists)
--   ${as_of}  DATE literal text, inclusive
--   ${w}      activity window W in days (>= 31)
--   ${tz}     IANA business time zone
--
-- Scope: clean input, as `retention generate` writes it (no rejects, no
-- exact duplicate lines, one customer per order id). The input checks and
-- rejects of the real pipeline are not reproduced here.
--
-- How activity is computed without a range join. With a customer's
-- distinct order days o_1 < o_2 < ..., "active at d" (latest order day
-- on/before d is fewer than W days before d) holds on a union of spells;
-- one pass of lag/lead over the order days gives the spell edges:
--   o_i starts a spell   when o_i is the first day or o_i - o_{i-1} > W   (+1 at o_i)
--   o_i + W ends a spell when o_i is the last day  or o_{i+1} > o_i + W   (-1 at o_i + W)
-- so active(d) = running sum of those +1/-1 events up to d (a few thousand
-- dates). Churn in month m (active at S_m = day before m, not at E_m = m's
-- last day or as_of) is exactly one spell end o_i + W inside (S_m, E_m]
-- with no order day o_{i+1} <= E_m (this uses W >= 31: a spell lasts at
-- least a month). Then retained = S - churned, reactivated = E - retained - N.

SET TimeZone = '${tz}';          -- TIMESTAMPTZ -> local DATE in the business zone
SET preserve_insertion_order = false;

-- Orders: lines summed per order id, date = local date of the earliest line,
-- money in integer cents. Orders dated after as_of are dropped.
CREATE TEMP TABLE orders AS
SELECT customer_id, d, cents
FROM (
    SELECT order_id, customer_id,
           CAST(min(${order_ts}) AS DATE)                       AS d,
           sum(CAST(round(${amount} * 100) AS BIGINT))::BIGINT  AS cents
    FROM read_parquet('${input}')
    GROUP BY order_id, customer_id
)
WHERE d <= DATE '${as_of}';

-- Refunds (total < 0) only ever touch revenue, in the month of their own date.
CREATE TEMP TABLE refunds AS
SELECT customer_id, CAST(date_trunc('month', d) AS DATE) AS month, sum(cents)::BIGINT AS cents
FROM orders WHERE cents < 0
GROUP BY ALL;

-- Purchases (orders with total >= 0), each with the customer's previous and
-- next order date and first order date. Several orders on one day are
-- adjacent, so prev_d = d marks "not the day's first order" and next_d = d
-- "not its last"; the spell edges and month flags below only fire once a day.
CREATE TEMP TABLE purchases AS
SELECT customer_id, d, cents,
       lag(d)         OVER w AS prev_d,
       lead(d)        OVER w AS next_d,
       first_value(d) OVER w AS first_d
FROM orders
WHERE cents >= 0
WINDOW w AS (PARTITION BY customer_id ORDER BY d);

-- Calendar: first cohort month .. as_of's month, with the evaluation dates.
CREATE TEMP TABLE months AS
SELECT month,
       CAST(month - INTERVAL 1 DAY AS DATE)           AS s_date,
       least(last_day(month), DATE '${as_of}')        AS e_date,
       last_day(month) <= DATE '${as_of}'             AS month_complete
FROM (
    SELECT CAST(unnest(generate_series(
               CAST(date_trunc('month', (SELECT min(d) FROM purchases)) AS TIMESTAMP),
               CAST(date_trunc('month', DATE '${as_of}') AS TIMESTAMP),
               INTERVAL 1 MONTH)) AS DATE) AS month
);

----------------------------------------------------------------------------
-- customers
----------------------------------------------------------------------------
CREATE TEMP TABLE cust AS
SELECT c.customer_id, c.first_d, c.last_d, c.orders, c.n_days,
       c.cents + coalesce(r.cents, 0) AS net_cents, c.repeat_cents
FROM (
    SELECT customer_id,
           min(d)                                  AS first_d,
           max(d)                                  AS last_d,
           count(*)                                AS orders,
           count(*) FILTER (prev_d IS DISTINCT FROM d) AS n_days,
           sum(cents)::BIGINT                      AS cents,
           coalesce(sum(cents) FILTER (d > first_d), 0)::BIGINT AS repeat_cents
    FROM purchases
    GROUP BY customer_id
) c
LEFT JOIN (SELECT customer_id, sum(cents)::BIGINT AS cents FROM refunds GROUP BY ALL) r
       USING (customer_id);

COPY (
    SELECT customer_id,
           CAST(date_trunc('month', first_d) AS DATE)             AS cohort_month,
           first_d                                                AS first_order_date,
           last_d                                                 AS last_order_date,
           orders,
           net_cents / 100.0                                      AS revenue,
           CASE WHEN orders = 0 THEN NULL ELSE (net_cents / 100.0) / orders END AS avg_order_value,
           n_days - 1                                             AS frequency,
           last_d - first_d                                       AS recency_days,
           DATE '${as_of}' - first_d                              AS tenure_days,
           CASE WHEN n_days = 1 THEN 0.0 ELSE (repeat_cents / 100.0) / (n_days - 1) END AS monetary_value,
           DATE '${as_of}' - last_d                               AS days_since_last_order
    FROM cust
    ORDER BY customer_id
) TO '${out}/customers.parquet' (FORMAT parquet, COMPRESSION zstd);

----------------------------------------------------------------------------
-- cohort_retention (full grid) and retention_curve
----------------------------------------------------------------------------
-- Per (cohort, calendar month): active customers (a customer's first order
-- day of the month), orders and purchase cents, plus the cohort's refunds.
CREATE TEMP TABLE cohort_cells AS
SELECT cohort_month, month,
       sum(active)::BIGINT AS active, sum(orders)::BIGINT AS orders, sum(cents)::BIGINT AS cents
FROM (
    SELECT CAST(date_trunc('month', first_d) AS DATE)                       AS cohort_month,
           CAST(date_trunc('month', d) AS DATE)                             AS month,
           CAST(prev_d IS NULL OR date_trunc('month', prev_d) <> date_trunc('month', d) AS INTEGER) AS active,
           1 AS orders, cents
    FROM purchases
    UNION ALL
    SELECT CAST(date_trunc('month', c.first_d) AS DATE), r.month, 0, 0, r.cents
    FROM refunds r JOIN cust c USING (customer_id)
)
GROUP BY ALL;

CREATE TEMP TABLE cohort_retention AS
SELECT g.cohort_month,
       date_diff('month', g.cohort_month, m.month)  AS period,
       g.cohort_size,
       coalesce(x.active, 0)                        AS active_customers,
       coalesce(x.orders, 0)                        AS orders,
       coalesce(x.cents, 0)                         AS cents,
       sum(coalesce(x.cents, 0)) OVER (PARTITION BY g.cohort_month ORDER BY m.month)::BIGINT AS cum_cents,
       m.month_complete                             AS period_complete
FROM (SELECT CAST(date_trunc('month', first_d) AS DATE) AS cohort_month, count(*) AS cohort_size
        FROM cust GROUP BY 1) g
JOIN months m ON m.month >= g.cohort_month
LEFT JOIN cohort_cells x ON x.cohort_month = g.cohort_month AND x.month = m.month;

COPY (
    SELECT cohort_month, period, cohort_size, active_customers,
           active_customers / cohort_size                   AS retention_rate,
           orders,
           cents / 100.0                                    AS revenue,
           (cents / 100.0) / cohort_size                    AS revenue_per_customer,
           (cum_cents / 100.0) / cohort_size                AS cumulative_revenue_per_customer,
           period_complete
    FROM cohort_retention
    ORDER BY cohort_month, period
) TO '${out}/cohort_retention.parquet' (FORMAT parquet, COMPRESSION zstd);

COPY (
    SELECT p.period,
           coalesce(d.cohorts, 0)                    AS cohorts,
           coalesce(d.customers, 0)                  AS customers,
           coalesce(d.retained, 0)                   AS retained,
           CASE WHEN coalesce(d.customers, 0) = 0 THEN NULL
                ELSE d.retained / d.customers END    AS retention_rate
    FROM (SELECT DISTINCT period FROM cohort_retention) p
    LEFT JOIN (SELECT period, count(*) AS cohorts,
                      CAST(sum(cohort_size) AS BIGINT)      AS customers,
                      CAST(sum(active_customers) AS BIGINT) AS retained
                 FROM cohort_retention WHERE period_complete GROUP BY period) d
           USING (period)
    ORDER BY p.period
) TO '${out}/retention_curve.parquet' (FORMAT parquet, COMPRESSION zstd);

----------------------------------------------------------------------------
-- kpis_monthly
----------------------------------------------------------------------------
-- Spell edges by date: +1 at a spell start, -1 the day a spell ends.
CREATE TEMP TABLE spell_events AS
SELECT day, sum(delta)::BIGINT AS delta
FROM (
    SELECT d AS day, 1 AS delta FROM purchases
     WHERE prev_d IS NULL OR d - prev_d > ${w}
    UNION ALL
    SELECT d + ${w}, -1 FROM purchases
     WHERE (next_d IS NULL OR next_d > d + ${w}) AND d + ${w} <= DATE '${as_of}'
)
GROUP BY day;

-- Churned: a spell end in (S_m, E_m] with no order day on or before E_m.
CREATE TEMP TABLE churn AS
SELECT m.month, count(*) AS churned
FROM (SELECT d + ${w} AS lapse, next_d FROM purchases
       WHERE (next_d IS NULL OR next_d > d + ${w}) AND d + ${w} <= DATE '${as_of}') l
JOIN months m ON m.month = CAST(date_trunc('month', l.lapse) AS DATE)
WHERE l.next_d IS NULL OR l.next_d > m.e_date
GROUP BY m.month;

-- active(d) = running sum of the spell edges up to d, looked up per month.
CREATE TEMP TABLE activity AS
WITH running AS (SELECT day, sum(delta) OVER (ORDER BY day)::BIGINT AS active FROM spell_events)
SELECT m.month, coalesce(s.active, 0) AS s, coalesce(e.active, 0) AS e
FROM months m
ASOF LEFT JOIN running s ON m.s_date >= s.day
ASOF LEFT JOIN running e ON m.e_date >= e.day;

CREATE TEMP TABLE monthly AS
SELECT month,
       CAST(coalesce(sum(active) FILTER (cohort_month = month), 0) AS BIGINT) AS new_c,  -- period 0
       sum(active)::BIGINT                               AS purch,
       sum(orders)::BIGINT                               AS orders,
       sum(cents)::BIGINT                                AS cents
FROM cohort_cells
GROUP BY month;

COPY (
    SELECT m.month,
           a.s                                          AS customers_start,
           a.e                                          AS customers_end,
           coalesce(x.new_c, 0)                         AS new_customers,
           a.s - coalesce(c.churned, 0)                 AS retained,
           coalesce(c.churned, 0)                       AS churned,
           a.e - (a.s - coalesce(c.churned, 0)) - coalesce(x.new_c, 0) AS reactivated,
           CASE WHEN a.s = 0 THEN NULL ELSE (a.e - coalesce(x.new_c, 0)) / a.s END AS crr,
           CASE WHEN a.s = 0 THEN NULL ELSE coalesce(c.churned, 0) / a.s END       AS churn_rate,
           coalesce(x.purch, 0)                         AS purchasing_customers,
           coalesce(x.orders, 0)                        AS orders,
           coalesce(x.cents, 0) / 100.0                 AS revenue,
           CASE WHEN coalesce(x.orders, 0) = 0 THEN NULL
                ELSE (x.cents / 100.0) / x.orders END   AS aov,
           CASE WHEN coalesce(x.purch, 0) = 0 THEN NULL
                ELSE x.orders / x.purch END             AS purchase_frequency,
           coalesce(x.purch, 0) - coalesce(x.new_c, 0)  AS returning_customers,
           CASE WHEN coalesce(x.purch, 0) = 0 THEN NULL
                ELSE (x.purch - x.new_c) / x.purch END  AS repeat_customer_rate,
           m.month_complete
    FROM months m
    JOIN activity a USING (month)
    LEFT JOIN churn c USING (month)
    LEFT JOIN monthly x USING (month)
    ORDER BY m.month
) TO '${out}/kpis_monthly.parquet' (FORMAT parquet, COMPRESSION zstd);
