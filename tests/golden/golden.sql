-- Golden (reference) implementation of the SPEC §4 descriptive tables in
-- plain DuckDB SQL. Independent of the Rust code on purpose: written from
-- the spec text, favouring obviousness over speed.
--
-- Expects, created by make_golden.py before this file runs:
--   raw_lines(order_id, customer_id, order_ts, amount)  -- all VARCHAR, as read
--   params(as_of DATE, w INTEGER, tz VARCHAR)            -- exactly one row
--
-- Produces: customers_out, cohort_retention_out, retention_curve_out,
-- kpis_monthly_out, and the cohort tables for every cohort unit
-- (month, ISO week, quarter) in cohort_retention_by_unit_out and
-- retention_curve_by_unit_out (make_golden.py sorts and writes them).
--
-- Money is integer cents everywhere; it becomes DOUBLE only in the *_out
-- tables, as cents / 100.0, and every ratio of money divides that DOUBLE.

CREATE MACRO money(c) AS CAST(c AS DOUBLE) / 100.0;
CREATE MACRO ratio(a, b) AS
    CASE WHEN b = 0 THEN NULL ELSE CAST(a AS DOUBLE) / CAST(b AS DOUBLE) END;

----------------------------------------------------------------------------
-- 1. Lines -> local timestamps and cents
----------------------------------------------------------------------------
-- A timestamp ending in Z or +hh[:mm] / -hh[:mm] after a time of day is an
-- instant: convert it to the business zone. Anything else (incl. a bare
-- date) is already wall-clock time in the business zone.
CREATE TABLE lines AS
SELECT
    trim(r.order_id)    AS order_id,
    trim(r.customer_id) AS customer_id,
    CASE
        WHEN regexp_matches(trim(r.order_ts),
                '[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)$')
        THEN timezone(p.tz, CAST(trim(r.order_ts) AS TIMESTAMPTZ))
        ELSE CAST(trim(r.order_ts) AS TIMESTAMP)
    END AS local_ts,
    CAST(round(CAST(trim(r.amount) AS DECIMAL(38, 6)) * 100) AS BIGINT) AS cents
FROM raw_lines r, params p;

----------------------------------------------------------------------------
-- 2. Orders: sum the lines, timestamp = earliest line, date = local date
----------------------------------------------------------------------------
CREATE TABLE orders_all AS
SELECT
    order_id,
    min(customer_id)              AS customer_id,
    count(DISTINCT customer_id)   AS n_customer_ids,   -- must be 1 (asserted)
    min(local_ts)                 AS order_ts,
    CAST(min(local_ts) AS DATE)   AS order_date,
    sum(cents)                    AS cents
FROM lines
GROUP BY order_id;

-- Orders dated after as_of are gone entirely (refunds too).
CREATE TABLE orders AS
SELECT o.order_id, o.customer_id, o.order_ts, o.order_date, o.cents,
       o.cents < 0                                   AS is_refund,
       CAST(date_trunc('month', o.order_date) AS DATE) AS order_month
FROM orders_all o, params p
WHERE o.order_date <= p.as_of;

-- Purchases = real orders (total >= 0). Refunds only ever touch revenue.
CREATE TABLE purchases AS SELECT * FROM orders WHERE NOT is_refund;

----------------------------------------------------------------------------
-- 3. Customers
----------------------------------------------------------------------------
CREATE TABLE cust_base AS
SELECT customer_id,
       min(order_date)                            AS first_order_date,
       max(order_date)                            AS last_order_date,
       CAST(date_trunc('month', min(order_date)) AS DATE) AS cohort_month,
       count(*)                                   AS n_orders
FROM purchases
GROUP BY customer_id;

-- One row per customer and distinct order day, with that day's summed amount.
CREATE TABLE order_days AS
SELECT customer_id, order_date, sum(cents) AS day_cents
FROM purchases
GROUP BY customer_id, order_date;

-- Net revenue per customer: every order and refund on or before as_of.
CREATE TABLE cust_net AS
SELECT customer_id, sum(cents) AS net_cents
FROM orders
GROUP BY customer_id;

CREATE TABLE cust_days AS
SELECT d.customer_id,
       count(*)                                                   AS n_days,
       coalesce(sum(d.day_cents) FILTER (WHERE d.order_date > b.first_order_date), 0)
                                                                  AS repeat_day_cents
FROM order_days d JOIN cust_base b USING (customer_id)
GROUP BY d.customer_id;

CREATE TABLE customers_out AS
SELECT
    b.customer_id,
    b.cohort_month,
    b.first_order_date,
    b.last_order_date,
    b.n_orders                                         AS orders,
    money(n.net_cents)                                 AS revenue,
    ratio(money(n.net_cents), b.n_orders)              AS avg_order_value,
    cd.n_days - 1                                      AS frequency,
    date_diff('day', b.first_order_date, b.last_order_date) AS recency_days,
    date_diff('day', b.first_order_date, p.as_of)      AS tenure_days,
    CASE WHEN cd.n_days - 1 = 0 THEN 0.0
         ELSE money(cd.repeat_day_cents) / (cd.n_days - 1) END AS monetary_value,
    date_diff('day', b.last_order_date, p.as_of)       AS days_since_last_order
FROM cust_base b
JOIN cust_net  n  USING (customer_id)
JOIN cust_days cd USING (customer_id)
CROSS JOIN params p;

----------------------------------------------------------------------------
-- 4. Month calendar: first cohort month .. as_of's month
----------------------------------------------------------------------------
CREATE TABLE months AS
WITH bounds AS (
    SELECT (SELECT min(cohort_month) FROM cust_base)           AS first_month,
           CAST(date_trunc('month', p.as_of) AS DATE)         AS last_month,
           p.as_of
    FROM params p
)
SELECT CAST(b.first_month + to_months(CAST(i.range AS INTEGER)) AS DATE) AS month_start,
       last_day(CAST(b.first_month + to_months(CAST(i.range AS INTEGER)) AS DATE)) AS month_end,
       CAST(i.range AS INTEGER) AS month_index,
       last_day(CAST(b.first_month + to_months(CAST(i.range AS INTEGER)) AS DATE)) <= b.as_of
                                                              AS month_complete
FROM bounds b,
     range(0, date_diff('month', b.first_month, b.last_month) + 1) i;

----------------------------------------------------------------------------
-- 5. Activity at evaluation dates
----------------------------------------------------------------------------
-- For each month: 'S' = the day before it starts, 'E' = its last day, or
-- as_of for the (incomplete) month containing as_of.
CREATE TABLE eval_dates AS
SELECT m.month_start, 'S' AS kind, m.month_start - 1 AS eval_date FROM months m
UNION ALL
SELECT m.month_start, 'E' AS kind, least(m.month_end, p.as_of) AS eval_date
FROM months m, params p;

-- Active at d  <=>  some order day o with d - (W - 1) <= o <= d.
-- (Equivalent to: first order <= d and d - latest order on/before d <= W-1.)
CREATE TABLE active_at AS
SELECT DISTINCT e.month_start, e.kind, od.customer_id
FROM eval_dates e
CROSS JOIN params p
JOIN order_days od
  ON od.order_date <= e.eval_date
 AND od.order_date >= e.eval_date - (p.w - 1);

----------------------------------------------------------------------------
-- 6. kpis_monthly
----------------------------------------------------------------------------
CREATE TABLE kpis_monthly_out AS
WITH
s AS (SELECT month_start, count(*) AS n FROM active_at WHERE kind = 'S' GROUP BY 1),
e AS (SELECT month_start, count(*) AS n FROM active_at WHERE kind = 'E' GROUP BY 1),
r AS (SELECT a.month_start, count(*) AS n
        FROM active_at a JOIN active_at b
          ON a.month_start = b.month_start AND a.customer_id = b.customer_id
       WHERE a.kind = 'S' AND b.kind = 'E'
       GROUP BY 1),
nw AS (SELECT cohort_month AS month_start, count(*) AS n FROM cust_base GROUP BY 1),
pu AS (SELECT order_month AS month_start,
              count(DISTINCT customer_id) AS purchasing,
              count(*)                    AS n_orders
         FROM purchases GROUP BY 1),
rv AS (SELECT order_month AS month_start, sum(cents) AS cents FROM orders GROUP BY 1),
rt AS (SELECT x.order_month AS month_start, count(DISTINCT x.customer_id) AS n
         FROM purchases x JOIN cust_base b USING (customer_id)
        WHERE b.first_order_date < x.order_month
        GROUP BY 1),
k AS (
  SELECT m.month_start,
         coalesce(s.n, 0)           AS S,
         coalesce(e.n, 0)           AS E,
         coalesce(nw.n, 0)          AS N,
         coalesce(r.n, 0)           AS R,
         coalesce(pu.purchasing, 0) AS purchasing,
         coalesce(pu.n_orders, 0)   AS n_orders,
         coalesce(rv.cents, 0)      AS rev_cents,
         coalesce(rt.n, 0)          AS n_returning,
         m.month_complete
    FROM months m
    LEFT JOIN s  USING (month_start)
    LEFT JOIN e  USING (month_start)
    LEFT JOIN r  USING (month_start)
    LEFT JOIN nw USING (month_start)
    LEFT JOIN pu USING (month_start)
    LEFT JOIN rv USING (month_start)
    LEFT JOIN rt USING (month_start)
)
SELECT
    month_start                          AS month,
    S                                    AS customers_start,
    E                                    AS customers_end,
    N                                    AS new_customers,
    R                                    AS retained,
    S - R                                AS churned,
    E - R - N                            AS reactivated,
    ratio(E - N, S)                      AS crr,
    ratio(S - R, S)                      AS churn_rate,
    purchasing                           AS purchasing_customers,
    n_orders                             AS orders,
    money(rev_cents)                     AS revenue,
    ratio(money(rev_cents), n_orders)    AS aov,
    ratio(n_orders, purchasing)          AS purchase_frequency,
    n_returning                          AS returning_customers,
    ratio(n_returning, purchasing)       AS repeat_customer_rate,
    month_complete
FROM k;

----------------------------------------------------------------------------
-- 7. cohort_retention (full grid)
----------------------------------------------------------------------------
CREATE TABLE cohorts AS
SELECT cohort_month, count(*) AS cohort_size FROM cust_base GROUP BY 1;

CREATE TABLE grid AS
SELECT c.cohort_month, c.cohort_size, m.month_start AS cal_month,
       date_diff('month', c.cohort_month, m.month_start) AS period,
       m.month_complete AS period_complete
FROM cohorts c JOIN months m ON m.month_start >= c.cohort_month;

CREATE TABLE cohort_retention_out AS
WITH
act AS (SELECT b.cohort_month, x.order_month AS cal_month,
               count(DISTINCT x.customer_id) AS active, count(*) AS n_orders
          FROM purchases x JOIN cust_base b USING (customer_id)
         GROUP BY 1, 2),
rev AS (SELECT b.cohort_month, x.order_month AS cal_month, sum(x.cents) AS cents
          FROM orders x JOIN cust_base b USING (customer_id)
         GROUP BY 1, 2),
-- Unbounded: cohort customers with a purchase in this month or any later
-- one (up to as_of: later orders are gone already).
later AS (SELECT g.cohort_month, g.cal_month, count(DISTINCT x.customer_id) AS n
            FROM grid g
            JOIN cust_base b ON b.cohort_month = g.cohort_month
            JOIN purchases x ON x.customer_id = b.customer_id
                            AND x.order_month >= g.cal_month
           GROUP BY 1, 2),
g AS (
  SELECT g.cohort_month, g.period, g.cohort_size,
         coalesce(act.active, 0)   AS active,
         coalesce(act.n_orders, 0) AS n_orders,
         coalesce(rev.cents, 0)    AS rev_cents,
         coalesce(later.n, 0)      AS later,
         g.period_complete
    FROM grid g
    LEFT JOIN act   USING (cohort_month, cal_month)
    LEFT JOIN rev   USING (cohort_month, cal_month)
    LEFT JOIN later USING (cohort_month, cal_month)
)
SELECT
    cohort_month,
    period,
    cohort_size,
    active                                        AS active_customers,
    ratio(active, cohort_size)                    AS retention_rate,
    n_orders                                      AS orders,
    money(rev_cents)                              AS revenue,
    ratio(money(rev_cents), cohort_size)          AS revenue_per_customer,
    ratio(money(sum(rev_cents) OVER (PARTITION BY cohort_month ORDER BY period
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
          cohort_size)                            AS cumulative_revenue_per_customer,
    period_complete,
    later                                         AS unbounded_active_customers,
    ratio(later, cohort_size)                     AS unbounded_retention_rate
FROM g;

----------------------------------------------------------------------------
-- 8. retention_curve
----------------------------------------------------------------------------
CREATE TABLE retention_curve_out AS
WITH
periods AS (SELECT month_index AS period FROM months),
done AS (SELECT period, count(*) AS cohorts,
                sum(cohort_size) AS customers, sum(active_customers) AS retained,
                sum(unbounded_active_customers) AS later
           FROM cohort_retention_out
          WHERE period_complete
          GROUP BY period)
SELECT p.period,
       coalesce(d.cohorts, 0)                    AS cohorts,
       CAST(coalesce(d.customers, 0) AS BIGINT)  AS customers,
       CAST(coalesce(d.retained, 0) AS BIGINT)   AS retained,
       ratio(coalesce(d.retained, 0), coalesce(d.customers, 0)) AS retention_rate,
       CAST(coalesce(d.later, 0) AS BIGINT)      AS unbounded_retained,
       ratio(coalesce(d.later, 0), coalesce(d.customers, 0)) AS unbounded_retention_rate
FROM periods p LEFT JOIN done d USING (period);

----------------------------------------------------------------------------
-- 9. Cohort tables for every cohort unit: month, ISO week, quarter
----------------------------------------------------------------------------
-- Written separately from sections 7-8 (which stay the plain monthly
-- reference): one set of queries with a `unit` column. A period starts at
-- date_trunc(unit, date) (ISO weeks start on Monday); period k = whole
-- periods between the cohort's start and the period's start; a period is
-- complete when its last day (next start - 1) is on or before as_of.
-- make_golden.py checks that the 'month' rows equal sections 7-8.
CREATE TABLE cohort_units AS
SELECT * FROM (VALUES ('month',   INTERVAL 1 MONTH),
                      ('week',    INTERVAL 7 DAY),
                      ('quarter', INTERVAL 3 MONTH)) t(unit, step);

CREATE MACRO unit_start(unit, d) AS CAST(date_trunc(unit, d) AS DATE);
CREATE MACRO periods_between(unit, a, b) AS CASE unit
    WHEN 'week'    THEN date_diff('day', a, b) // 7
    WHEN 'quarter' THEN date_diff('month', a, b) // 3
    ELSE date_diff('month', a, b) END;

-- Each customer's cohort and the start of their last purchase's period.
CREATE TABLE unit_customers AS
SELECT u.unit, b.customer_id,
       unit_start(u.unit, b.first_order_date) AS cohort_start,
       unit_start(u.unit, b.last_order_date)  AS last_start
FROM cust_base b, cohort_units u;

CREATE TABLE unit_calendar AS
WITH bounds AS (
    SELECT u.unit, u.step,
           (SELECT min(c.cohort_start) FROM unit_customers c WHERE c.unit = u.unit) AS first_start,
           unit_start(u.unit, p.as_of) AS last_start,
           p.as_of
    FROM cohort_units u, params p
),
starts AS (
    SELECT b.unit, b.step, b.as_of,
           CAST(unnest(generate_series(b.first_start, b.last_start, b.step)) AS DATE) AS period_start
    FROM bounds b
)
SELECT unit, period_start,
       CAST(period_start + step AS DATE) - 1 AS period_end,
       CAST(period_start + step AS DATE) - 1 <= as_of AS period_complete
FROM starts;

CREATE TABLE unit_grid AS
WITH sizes AS (SELECT unit, cohort_start, count(*) AS cohort_size
                 FROM unit_customers GROUP BY 1, 2)
SELECT s.unit, s.cohort_start, s.cohort_size, c.period_start AS cal_start,
       periods_between(s.unit, s.cohort_start, c.period_start) AS period,
       c.period_complete
FROM sizes s JOIN unit_calendar c
  ON c.unit = s.unit AND c.period_start >= s.cohort_start;

CREATE TABLE cohort_retention_by_unit_out AS
WITH
act AS (SELECT uc.unit, uc.cohort_start, unit_start(uc.unit, x.order_date) AS cal_start,
               count(DISTINCT x.customer_id) AS active, count(*) AS n_orders
          FROM purchases x JOIN unit_customers uc USING (customer_id)
         GROUP BY 1, 2, 3),
rev AS (SELECT uc.unit, uc.cohort_start, unit_start(uc.unit, x.order_date) AS cal_start,
               sum(x.cents) AS cents
          FROM orders x JOIN unit_customers uc USING (customer_id)
         GROUP BY 1, 2, 3),
later AS (SELECT g.unit, g.cohort_start, g.cal_start, count(*) AS n
            FROM unit_grid g JOIN unit_customers uc
              ON uc.unit = g.unit AND uc.cohort_start = g.cohort_start
             AND uc.last_start >= g.cal_start
           GROUP BY 1, 2, 3),
g AS (
  SELECT g.unit, g.cohort_start, g.period, g.cohort_size,
         coalesce(act.active, 0)   AS active,
         coalesce(act.n_orders, 0) AS n_orders,
         coalesce(rev.cents, 0)    AS rev_cents,
         coalesce(later.n, 0)      AS later,
         g.period_complete
    FROM unit_grid g
    LEFT JOIN act   USING (unit, cohort_start, cal_start)
    LEFT JOIN rev   USING (unit, cohort_start, cal_start)
    LEFT JOIN later USING (unit, cohort_start, cal_start)
)
SELECT
    unit,
    cohort_start,
    period,
    cohort_size,
    active                                        AS active_customers,
    ratio(active, cohort_size)                    AS retention_rate,
    n_orders                                      AS orders,
    money(rev_cents)                              AS revenue,
    ratio(money(rev_cents), cohort_size)          AS revenue_per_customer,
    ratio(money(sum(rev_cents) OVER (PARTITION BY unit, cohort_start ORDER BY period
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
          cohort_size)                            AS cumulative_revenue_per_customer,
    period_complete,
    later                                         AS unbounded_active_customers,
    ratio(later, cohort_size)                     AS unbounded_retention_rate
FROM g;

CREATE TABLE retention_curve_by_unit_out AS
WITH
periods AS (SELECT unit, CAST(range AS BIGINT) AS period
              FROM (SELECT unit, count(*) AS n FROM unit_calendar GROUP BY unit) c,
                   range(0, c.n)),
done AS (SELECT unit, period, count(*) AS cohorts,
                sum(cohort_size) AS customers, sum(active_customers) AS retained,
                sum(unbounded_active_customers) AS later
           FROM cohort_retention_by_unit_out
          WHERE period_complete
          GROUP BY unit, period)
SELECT p.unit, p.period,
       coalesce(d.cohorts, 0)                    AS cohorts,
       CAST(coalesce(d.customers, 0) AS BIGINT)  AS customers,
       CAST(coalesce(d.retained, 0) AS BIGINT)   AS retained,
       ratio(coalesce(d.retained, 0), coalesce(d.customers, 0)) AS retention_rate,
       CAST(coalesce(d.later, 0) AS BIGINT)      AS unbounded_retained,
       ratio(coalesce(d.later, 0), coalesce(d.customers, 0)) AS unbounded_retention_rate
FROM periods p LEFT JOIN done d USING (unit, period);
