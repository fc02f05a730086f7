//! Deterministic synthetic report inputs for the tests: a five-year
//! history, a small eight-month one and a tiny two-month one.
//!
//! The numbers come from simple closed formulas (no randomness), shaped
//! like a real shop: seasonal cohort sizes, retention decaying towards a
//! floor, a long-tailed CLV distribution. The five-year history also
//! carries a few NaN and infinite values to prove they never reach the
//! output.

use std::f64::consts::PI;

use chrono::{Months, NaiveDate};

use super::data::{
    ClvSection, CohortCell, CohortPeriod, CurvePoint, ForecastMonth, KpiMonth, ModelParameter,
    ReportData, RunFacts, SegmentRow, ValidationBucket,
};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid fixture date")
}

fn plus_months(d: NaiveDate, n: usize) -> NaiveDate {
    d.checked_add_months(Months::new(n as u32))
        .expect("fixture month in range")
}

/// The fractional part of `x`.
fn frac(x: f64) -> f64 {
    x - x.floor()
}

/// The first day of cohort `c` of a grid starting at `start`.
fn period_start(start: NaiveDate, unit: CohortPeriod, c: usize) -> NaiveDate {
    match unit {
        CohortPeriod::Month => plus_months(start, c),
        CohortPeriod::Week => start + chrono::Duration::weeks(c as i64),
        CohortPeriod::Quarter => plus_months(start, 3 * c),
    }
}

/// Customers acquired in period `c`: growing, with a yearly season.
fn cohort_size(c: usize) -> i64 {
    let c = c as f64;
    (900.0 + 12.0 * c + 220.0 * (2.0 * PI * (c + 5.0) / 12.0).sin()).round() as i64
}

/// A cohort grid of `periods` periods from `start` and its retention
/// curve; the last period is in progress (`partial` of it has passed).
fn cohort_grid(
    start: NaiveDate,
    unit: CohortPeriod,
    periods: usize,
    partial: f64,
) -> (Vec<CohortCell>, Vec<CurvePoint>) {
    let last = periods - 1;
    let mut cohorts = Vec::new();
    for c in 0..periods {
        let n = cohort_size(c);
        let spend = 58.0 + 6.0 * (c as f64 / 7.0).sin();
        let mut cumulative = 0.0;
        for k in 0..periods - c {
            let complete = c + k < last;
            let kf = k as f64;
            let mut rate = if k == 0 {
                1.0
            } else {
                0.10 + 0.22 * (-(kf - 1.0) / 3.5).exp()
                    + 0.015 * (c as f64 * 1.3).sin()
                    + 0.01 * (2.0 * PI * (c + k) as f64 / 12.0).sin()
            };
            if !complete && k > 0 {
                rate *= partial;
            }
            let active = (n as f64 * rate).round() as i64;
            let rate = active as f64 / n as f64;
            let rpc = rate * spend * if k == 0 { 1.0 } else { 1.3 };
            cumulative += rpc;
            // "This period or later": decays more slowly, to a higher floor.
            let later = if k == 0 {
                1.0
            } else {
                (0.18 + 0.6 * (-(kf - 1.0) / 6.0).exp()).max(rate)
            };
            cohorts.push(CohortCell {
                cohort_start: period_start(start, unit, c),
                period: k as u32,
                cohort_size: n,
                active_customers: active,
                retention_rate: Some(rate),
                unbounded_retention_rate: Some(later),
                revenue_per_customer: Some(rpc),
                cumulative_revenue_per_customer: Some(cumulative),
                period_complete: complete,
            });
        }
    }
    let curve = curve_of(&cohorts, periods);
    (cohorts, curve)
}

/// The retention curve of a cohort grid: per period, the cohorts that
/// completed it, weighted by size.
fn curve_of(cohorts: &[CohortCell], periods: usize) -> Vec<CurvePoint> {
    let mut curve = Vec::new();
    for k in 0..periods {
        let done: Vec<&CohortCell> = cohorts
            .iter()
            .filter(|x| x.period as usize == k && x.period_complete)
            .collect();
        let customers: i64 = done.iter().map(|x| x.cohort_size).sum();
        let retained: i64 = done.iter().map(|x| x.active_customers).sum();
        let later: i64 = done
            .iter()
            .map(|x| {
                (x.cohort_size as f64 * x.unbounded_retention_rate.unwrap_or(0.0)).round() as i64
            })
            .sum();
        curve.push(CurvePoint {
            period: k as u32,
            cohorts: done.len() as i64,
            customers,
            retained,
            retention_rate: (customers > 0).then(|| retained as f64 / customers as f64),
            unbounded_retained: later,
            unbounded_retention_rate: (customers > 0).then(|| later as f64 / customers as f64),
        });
    }
    curve
}

/// A history of `months` months starting at `start`; the last month is
/// in progress (as_of is its 19th day).
fn history(start: NaiveDate, months: usize, with_clv: bool, poison: bool) -> ReportData {
    // Share of the in-progress month that has passed by as_of.
    let partial = 0.6;
    let (cohorts, curve) = cohort_grid(start, CohortPeriod::Month, months, partial);
    let kpis = monthly_kpis(start, months, partial);
    let customers: i64 = (0..months).map(cohort_size).sum();
    let total_revenue: f64 = kpis.iter().map(|k| k.revenue).sum();
    let mut data = ReportData {
        facts: run_facts(start, months, customers),
        cohort_period: CohortPeriod::Month,
        cohorts,
        curve,
        kpis,
        segments: segments(customers, total_revenue, with_clv),
        clv: with_clv.then(|| clv_section(customers.min(40_000) as usize, poison)),
    };
    if poison {
        poison_history(&mut data, start);
    }
    data
}

/// The KPI months of a history; the last month has `partial` of its flows.
fn monthly_kpis(start: NaiveDate, months: usize, partial: f64) -> Vec<KpiMonth> {
    let last = months - 1;
    let mut kpis = Vec::new();
    let mut start_active = 0i64;
    for m in 0..months {
        let mf = m as f64;
        let scale = if m == last { partial } else { 1.0 };
        let s = start_active;
        let new = (cohort_size(m) as f64 * scale).round() as i64;
        let churned = (s as f64 * (0.07 + 0.015 * (mf / 2.0).sin()) * scale).round() as i64;
        let reactivated = (s as f64 * 0.012 * scale).round() as i64;
        let retained = s - churned;
        let end = retained + new + reactivated;
        let purchasing = ((end as f64) * 0.32 * scale).round() as i64;
        let orders = (purchasing as f64 * 1.25).round() as i64;
        let aov = 55.0 + 5.0 * (mf / 4.0).sin() + 0.05 * mf;
        let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
        kpis.push(KpiMonth {
            month: plus_months(start, m),
            customers_start: s,
            customers_end: end,
            new_customers: new,
            retained,
            churned,
            reactivated,
            crr: ratio(end - new, s),
            churn_rate: ratio(churned, s),
            purchasing_customers: purchasing,
            orders,
            revenue: orders as f64 * aov,
            aov: (orders > 0).then_some(aov),
            repeat_customer_rate: ratio((purchasing - new).max(0), purchasing),
            month_complete: m != last,
        });
        start_active = end;
    }
    kpis
}

/// The nine RFM segments: shares of customers and revenue, CLV and
/// P(alive) when the CLV stage ran.
fn segments(customers: i64, total_revenue: f64, with_clv: bool) -> Vec<SegmentRow> {
    let names = [
        ("Champions", 0.09, 0.38, 410.0, 0.93),
        ("Loyal", 0.12, 0.22, 260.0, 0.88),
        ("Can't lose them", 0.05, 0.11, 190.0, 0.41),
        ("At risk", 0.10, 0.09, 95.0, 0.35),
        ("Promising", 0.08, 0.05, 120.0, 0.81),
        ("New", 0.11, 0.04, 85.0, 0.86),
        ("Need attention", 0.13, 0.05, 70.0, 0.62),
        ("Hibernating", 0.14, 0.04, 30.0, 0.22),
        ("Lost", 0.18, 0.02, 8.0, 0.05),
    ];
    names
        .iter()
        .map(|(name, cs, rs, clv, alive)| SegmentRow {
            rfm_segment: (*name).to_string(),
            customers: (customers as f64 * cs).round() as i64,
            revenue: total_revenue * rs,
            share_of_revenue: Some(*rs),
            avg_clv: with_clv.then_some(*clv),
            avg_p_alive: with_clv.then_some(*alive),
        })
        .collect()
}

/// The CLV outputs for `n` customers; `poison` adds non-finite values.
fn clv_section(n: usize, poison: bool) -> ClvSection {
    let mut clv_values: Vec<f64> = (1..=n)
        .map(|i| {
            // Log-normal through a deterministic Box-Muller transform.
            let u = frac(i as f64 * 0.754_877_666_2).max(1e-9);
            let v = frac(i as f64 * 0.569_840_290_9);
            let z = (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos();
            (4.2 + 0.9 * z).exp()
        })
        .collect();
    if poison {
        clv_values.push(f64::NAN);
        clv_values.push(f64::INFINITY);
    }
    let mut parameters = model_parameters();
    let mut validation = validation_buckets(n);
    if poison {
        parameters[6].std_error = Some(f64::INFINITY);
        validation[3].relative_bias = Some(f64::NAN);
    }
    ClvSection {
        uncomputable: 0,
        clv_values,
        parameters,
        chosen_model: Some("bg_nbd".to_string()),
        validation,
        forecast: (1..=12)
            .map(|month| {
                let orders = 400.0 - 10.0 * month as f64;
                let known = !(poison && month == 3);
                ForecastMonth {
                    month,
                    orders: known.then_some(orders),
                    orders_interval: known.then_some((orders * 0.95, orders * 1.05)),
                    revenue: known.then_some(orders * 31.0),
                    revenue_interval: known.then_some((orders * 29.0, orders * 33.0)),
                }
            })
            .collect(),
    }
}

/// The fitted parameters of both CLV models.
fn model_parameters() -> Vec<ModelParameter> {
    let parameter = |model: &str, name: &str, value: f64, se: f64, ll: f64| ModelParameter {
        model: model.to_string(),
        parameter: name.to_string(),
        value,
        std_error: Some(se),
        log_likelihood: ll,
        fit_status: "converged".to_string(),
        chosen: true,
    };
    vec![
        parameter("BG/NBD", "r", 0.2431, 0.0121, -38_211.57),
        parameter("BG/NBD", "alpha", 4.4139, 0.3012, -38_211.57),
        parameter("BG/NBD", "a", 0.7932, 0.0874, -38_211.57),
        parameter("BG/NBD", "b", 2.4257, 0.4401, -38_211.57),
        parameter("Gamma-Gamma", "p", 6.2480, 0.2101, -21_742.03),
        parameter("Gamma-Gamma", "q", 3.7441, 0.1377, -21_742.03),
        parameter("Gamma-Gamma", "v", 15.4470, 0.9823, -21_742.03),
    ]
}

/// The holdout validation of `n` customers: the overall row, then one
/// bucket per number of calibration orders.
fn validation_buckets(n: usize) -> Vec<ValidationBucket> {
    let buckets = ["0", "1", "2", "3", "4", "5", "6", "7+"];
    let mut validation: Vec<ValidationBucket> = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let fi = i as f64;
            let people = (n as f64 * 0.55 * 0.55f64.powi(i as i32)).round().max(12.0) as i64;
            let actual = people as f64 * (0.12 + 0.35 * fi);
            let predicted = actual * (1.0 + 0.08 * (fi * 1.7).sin());
            ValidationBucket {
                bucket: (*b).to_string(),
                customers: people,
                actual_orders: actual,
                predicted_orders: predicted,
                mae: Some(0.3 + 0.12 * fi),
                rmse: Some(0.5 + 0.2 * fi),
                relative_bias: Some((predicted - actual) / actual),
            }
        })
        .collect();
    let (people, actual, predicted) = validation.iter().fold((0, 0.0, 0.0), |acc, b| {
        (
            acc.0 + b.customers,
            acc.1 + b.actual_orders,
            acc.2 + b.predicted_orders,
        )
    });
    validation.insert(
        0,
        ValidationBucket {
            bucket: "overall".to_string(),
            customers: people,
            actual_orders: actual,
            predicted_orders: predicted,
            mae: Some(0.41),
            rmse: Some(0.77),
            relative_bias: Some((predicted - actual) / actual),
        },
    );
    validation
}

/// The facts of a history's run: as_of on the 19th of its last month, one
/// input file per year, every check passed.
fn run_facts(start: NaiveDate, months: usize, customers: i64) -> RunFacts {
    let accepted = (customers * 3) as u64;
    let rejected = 1_234u64;
    let excluded = 5_678u64;
    let duplicates = 91u64;
    let years = (months / 12).max(1);
    let last_month = plus_months(start, months - 1);
    let as_of = date(
        chrono::Datelike::year(&last_month),
        chrono::Datelike::month(&last_month),
        19,
    );
    RunFacts {
        run_id: format!("{}T020000Z", as_of.format("%Y%m%d")),
        pipeline: "pipelines/shop.toml".to_string(),
        as_of,
        time_zone: "Europe/Berlin".to_string(),
        activity_window_days: 365,
        inputs: (0..years)
            .map(|y| {
                (
                    format!("data/orders/orders_{}.csv.gz", 2019 + y),
                    18_000_000 + 1_250_000 * y as u64,
                )
            })
            .collect(),
        rows_read: accepted + rejected + excluded + duplicates,
        accepted,
        rejected,
        excluded,
        duplicates,
        customers: customers as u64,
        reject_reasons: vec![
            ("invalid_amount".to_string(), 702),
            ("missing_customer_id".to_string(), 311),
            ("order_has_bad_line".to_string(), 150),
            ("invalid_timestamp".to_string(), 71),
        ],
        checks: checks(customers, accepted as i64),
        stages: stage_timings(),
    }
}

/// The reconciliation checks of a history's run, all passed.
fn checks(customers: i64, accepted: i64) -> Vec<(String, i64, i64, bool)> {
    let cents = 912_345_678;
    [
        ("rows_accounted", 1),
        ("revenue_customers_cents", cents),
        ("revenue_kpis_cents", cents),
        ("revenue_cohorts_cents", cents),
        ("customers_vs_cohort_sizes", customers),
        ("customers_vs_new_customers", customers),
        ("orders_customers_vs_kpis", accepted),
    ]
    .into_iter()
    .map(|(name, v)| (name.to_string(), v, v, true))
    .collect()
}

/// The stage timings of a history's run.
fn stage_timings() -> Vec<(String, f64, u64)> {
    [
        ("read", 4.21, 812_000_000),
        ("validate", 1.73, 905_000_000),
        ("orders", 2.48, 1_104_000_000),
        ("customers", 0.92, 1_104_000_000),
        ("cohorts", 0.61, 1_120_000_000),
        ("kpis", 3.37, 1_180_000_000),
        ("segments", 0.18, 1_180_000_000),
        ("checks", 0.35, 1_180_000_000),
        ("publish", 1.96, 1_210_000_000),
    ]
    .into_iter()
    .map(|(name, secs, rss)| (name.to_string(), secs, rss))
    .collect()
}

/// A few non-finite values in a history, which must never reach the
/// output.
fn poison_history(data: &mut ReportData, start: NaiveDate) {
    if let Some(cell) = data
        .cohorts
        .iter_mut()
        .find(|x| x.cohort_start == plus_months(start, 10) && x.period == 5)
    {
        cell.retention_rate = Some(f64::NAN);
        cell.cumulative_revenue_per_customer = Some(f64::NEG_INFINITY);
    }
    if let Some(k) = data.kpis.get_mut(20) {
        k.aov = Some(f64::INFINITY);
    }
    if let Some(s) = data.segments.last_mut() {
        s.avg_clv = Some(f64::NAN);
    }
}

/// Five years of monthly history (60 cohorts × up to 60 periods), with CLV
/// and a few poisoned (NaN / infinite) values.
pub(crate) fn five_year() -> ReportData {
    history(date(2019, 6, 1), 60, true, true)
}

/// Three years of history with weekly cohorts (157 cohorts × up to 157
/// periods), without CLV.
pub(crate) fn weekly() -> ReportData {
    let mut data = history(date(2021, 5, 3), 36, false, false);
    let (cohorts, curve) = cohort_grid(date(2021, 5, 3), CohortPeriod::Week, 157, 0.4);
    data.cohort_period = CohortPeriod::Week;
    data.cohorts = cohorts;
    data.curve = curve;
    data
}

/// Two years of history with quarterly cohorts.
pub(crate) fn quarterly() -> ReportData {
    let mut data = history(date(2022, 7, 1), 24, true, false);
    let (cohorts, curve) = cohort_grid(date(2022, 7, 1), CohortPeriod::Quarter, 8, 0.6);
    data.cohort_period = CohortPeriod::Quarter;
    data.cohorts = cohorts;
    data.curve = curve;
    data
}

/// Eight months of history with CLV (the show snapshot's input).
pub(crate) fn small() -> ReportData {
    history(date(2023, 10, 1), 8, true, false)
}

/// Two months, nothing complete yet, no CLV.
pub(crate) fn tiny() -> ReportData {
    let apr = date(2024, 4, 1);
    let may = date(2024, 5, 1);
    let cell = |m, period, size, active: i64| CohortCell {
        cohort_start: m,
        period,
        cohort_size: size,
        active_customers: active,
        retention_rate: Some(active as f64 / size as f64),
        unbounded_retention_rate: Some(active as f64 / size as f64),
        revenue_per_customer: Some(12.5 * active as f64 / size as f64),
        cumulative_revenue_per_customer: Some(12.5 * active as f64 / size as f64),
        period_complete: false,
    };
    let kpi = |month, s: i64, n: i64, e: i64| KpiMonth {
        month,
        customers_start: s,
        customers_end: e,
        new_customers: n,
        retained: s,
        churned: 0,
        reactivated: e - s - n,
        crr: (s > 0).then(|| (e - n) as f64 / s as f64),
        churn_rate: (s > 0).then_some(0.0),
        purchasing_customers: n,
        orders: n + 1,
        revenue: 40.0 * (n + 1) as f64,
        aov: Some(40.0),
        repeat_customer_rate: Some(0.0),
        month_complete: false,
    };
    let point = |period| CurvePoint {
        period,
        ..CurvePoint::default()
    };
    let segment = |name: &str, customers, revenue, share| SegmentRow {
        rfm_segment: name.to_string(),
        customers,
        revenue,
        share_of_revenue: Some(share),
        avg_clv: None,
        avg_p_alive: None,
    };
    ReportData {
        cohort_period: CohortPeriod::Month,
        facts: tiny_facts(),
        cohorts: vec![cell(apr, 0, 3, 3), cell(apr, 1, 3, 1), cell(may, 0, 2, 2)],
        curve: vec![point(0), point(1)],
        kpis: vec![kpi(apr, 0, 3, 3), kpi(may, 3, 2, 5)],
        segments: vec![
            segment("New", 3, 120.0, 0.6),
            segment("Can't lose them", 1, 60.0, 0.3),
            segment("Promising", 1, 20.0, 0.1),
        ],
        clv: None,
    }
}

/// The facts of the tiny run: an input path that needs escaping and a
/// failed check.
fn tiny_facts() -> RunFacts {
    RunFacts {
        run_id: "20240503T020000Z".to_string(),
        pipeline: "pipelines/tiny.toml".to_string(),
        as_of: date(2024, 5, 2),
        time_zone: "UTC".to_string(),
        activity_window_days: 365,
        inputs: vec![("sample_data/orders <new>.csv".to_string(), 2_048)],
        rows_read: 12,
        accepted: 9,
        rejected: 1,
        excluded: 1,
        duplicates: 1,
        customers: 5,
        reject_reasons: vec![("invalid_amount".to_string(), 1)],
        checks: vec![
            ("rows_accounted".to_string(), 12, 12, true),
            ("revenue_kpis_cents".to_string(), 24_000, 23_999, false),
        ],
        stages: vec![("read".to_string(), 0.01, 20_000_000)],
    }
}
