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
    ClvDistribution, ClvSection, CohortCell, CohortPeriod, ComparedFigure, CurvePoint,
    ForecastMonth, GateRow, KpiMonth, ModelParameter, NpsCohort, NpsCounts, NpsMonth, NpsRetention,
    NpsSection, NpsTier, ReportData, RestatedRow, RunFacts, SegmentRow, SincePrevious,
    TargetCustomer, TargetList, TargetSection, TierMove, TierSection, ValidationBucket,
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
        ..ReportData::default()
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
        distribution: ClvDistribution::of_values(&clv_values),
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

/// The fixture runs' wall time through publishing: less than their
/// stages' sum (15.81 s), as when the CLV stage runs beside the others.
pub(crate) const WHOLE_RUN_SECONDS: f64 = 14.9;

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
        whole_run_seconds: Some(WHOLE_RUN_SECONDS),
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

/// Five years of monthly history (60 cohorts × up to 60 periods), with CLV,
/// a comparison with the previous run, tiers, target lists, NPS and a few
/// poisoned (NaN / infinite) values.
pub(crate) fn five_year() -> ReportData {
    let start = date(2019, 6, 1);
    let mut data = history(start, 60, true, true);
    data.since_previous = Some(compared_with_previous(&data.facts, true));
    data.tiers = Some(tier_history(start, 60));
    data.targets = target_lists();
    data.nps = Some(nps_history(start, 60, true));
    data
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

/// Eight months of history with CLV (the show snapshot's input): the
/// first run of its output directory, a win-back list and an empty
/// re-engagement list, no tiers, no surveys.
pub(crate) fn small() -> ReportData {
    let mut data = history(date(2023, 10, 1), 8, true, false);
    data.since_previous = Some(first_run(&data.facts));
    let mut lists = target_lists();
    lists
        .lists
        .retain(|l| l.name == "win_back" || l.name == "reengage_new");
    lists.lists[1] = target_list("reengage_new", 0, "second-order incentive", false, 0.0);
    data.targets = lists;
    data
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
        ..ReportData::default()
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
        whole_run_seconds: None,
    }
}

/// A comparison row of `run_comparison`.
fn compared_row(
    section: &str,
    item: &str,
    previous: Option<f64>,
    current: Option<f64>,
) -> ComparedFigure {
    let change = current.zip(previous).map(|(c, p)| c - p);
    let status = match (previous, change) {
        (None, _) => "none",
        (Some(_), Some(0.0)) => "same",
        _ => "changed",
    };
    ComparedFigure {
        section: section.to_string(),
        item: item.to_string(),
        previous,
        current,
        change,
        relative_change: change
            .zip(previous.filter(|p| *p != 0.0))
            .map(|(d, p)| d / p.abs()),
        status: status.to_string(),
        ..ComparedFigure::default()
    }
}

/// A text row of `run_comparison`.
fn compared_text(
    section: &str,
    item: &str,
    previous: Option<&str>,
    current: &str,
    status: &str,
) -> ComparedFigure {
    ComparedFigure {
        section: section.to_string(),
        item: item.to_string(),
        previous_text: previous.map(str::to_string),
        current_text: Some(current.to_string()),
        status: status.to_string(),
        ..ComparedFigure::default()
    }
}

/// A gate's row.
fn gate(
    name: &str,
    action: &str,
    threshold: f64,
    measured: Option<f64>,
    outcome: &str,
    detail: &str,
) -> GateRow {
    GateRow {
        gate: name.to_string(),
        action: action.to_string(),
        threshold: Some(threshold),
        measured,
        outcome: outcome.to_string(),
        detail: detail.to_string(),
    }
}

/// The run id and as_of of the run before a history's run: a day earlier.
const PREVIOUS_RUN_ID: &str = "20240418T020000Z";
const PREVIOUS_AS_OF: &str = "2024-04-18";

/// The comparison with a previous run: the definitions the same, one input
/// file grown, two gates warned and 30 restated values of which 25 are
/// listed; `poison` adds non-finite values.
pub(crate) fn compared_with_previous(facts: &RunFacts, poison: bool) -> SincePrevious {
    let run = |item, previous, current: String| {
        compared_text("run", item, Some(previous), &current, "changed")
    };
    let mut comparison = vec![
        run("run_id", PREVIOUS_RUN_ID, facts.run_id.clone()),
        run("as_of", PREVIOUS_AS_OF, facts.as_of.to_string()),
        ComparedFigure {
            current_text: None,
            ..compared_text("definitions", "definitions", None, "", "same")
        },
        compared_row("rows", "rows_read", Some(271_900.0), Some(272_503.0)),
        compared_row("rows", "rows_rejected", Some(1_234.0), Some(1_234.0)),
        compared_row("totals", "customers", Some(64_100.0), Some(64_180.0)),
        compared_row("totals", "revenue", Some(1_234_567.89), Some(1_240_112.35)),
        compared_row("clv_model", "holdout_mae", Some(0.41), Some(0.4242)),
        compared_text("clv_model", "chosen", Some("bg_nbd"), "bg_nbd", "same"),
        restated_per_table("kpis_monthly.restated_values", 18.0),
        restated_per_table("kpis_monthly.revenue_share", 0.0042),
        restated_per_table("cohort_retention.restated_values", 12.0),
        restated_per_table("tier_migration.restated_values", 0.0),
    ];
    // The 2023 file grew since the previous run; the others are the same.
    comparison.extend(facts.inputs.iter().map(|(path, bytes)| {
        let grown = if path.ends_with("2023.csv.gz") {
            250_000.0
        } else {
            0.0
        };
        let now = *bytes as f64;
        compared_row("input", path, Some(now - grown), Some(now))
    }));
    SincePrevious {
        comparison,
        gates: compared_gates(poison),
        restatements: restated_rows(poison),
        accepted_changes: false,
    }
}

/// A `restated` row of `run_comparison`: a table's restated values or
/// share of revenue, `same` when 0.
fn restated_per_table(item: &str, current: f64) -> ComparedFigure {
    ComparedFigure {
        status: if current == 0.0 { "same" } else { "changed" }.to_string(),
        ..compared_row("restated", item, None, Some(current))
    }
}

/// The gates of a run compared with the previous one: two warned.
fn compared_gates(poison: bool) -> Vec<GateRow> {
    vec![
        gate(
            "rows_read_drop",
            "fail",
            0.01,
            Some(-0.0022),
            "passed",
            "rows read 271900 → 272503",
        ),
        gate(
            "restated_revenue_share",
            "warn",
            0.001,
            Some(0.0042),
            "warned",
            "Σ |restated revenue| 5185.19 of 1234567.89 in months complete in both runs",
        ),
        gate(
            "restated_counts",
            "warn",
            0.0,
            Some(30.0),
            "warned",
            "30 count values restated in complete periods",
        ),
        gate(
            "stale_input_days",
            "warn",
            3.0,
            Some(1.0),
            "passed",
            "latest order 2024-04-18 is 1 days before as_of 2024-04-19",
        ),
        gate(
            "reject_ratio_rise",
            "warn",
            2.0,
            Some(1.0),
            "passed",
            "reject ratio 0.004538 → 0.004528",
        ),
        gate(
            "clv_parameter_shift",
            "warn",
            3.0,
            Some(if poison { f64::INFINITY } else { 0.84 }),
            "passed",
            "bg_nbd.a 0.7932 → 0.8667 (standard error 0.0874)",
        ),
        gate(
            "holdout_error_rise",
            "off",
            0.25,
            None,
            "skipped",
            "switched off",
        ),
    ]
}

/// 25 restated values, the largest relative change first, and the totals
/// per table and column, which count 5 unlisted revenue values too.
fn restated_rows(poison: bool) -> Vec<RestatedRow> {
    let mut values: Vec<RestatedRow> = (0..25)
        .map(|i| {
            let (table, key, column) = if i % 2 == 0 {
                (
                    "kpis_monthly",
                    format!("month=2023-{:02}-01", 1 + i / 2 % 12),
                    "revenue",
                )
            } else {
                (
                    "cohort_retention",
                    format!("cohort_month=2022-{:02}-01, period={i}", 1 + i % 12),
                    "active_customers",
                )
            };
            let previous = 1_000.0 + 37.0 * i as f64;
            let current = previous + 3.0 * (25 - i) as f64;
            RestatedRow {
                row_kind: "value".to_string(),
                table: table.to_string(),
                row_key: Some(key),
                column: column.to_string(),
                previous: Some(previous),
                current: Some(current),
                change: Some(current - previous),
                relative_change: Some((current - previous) / previous),
                restated_values: 1,
            }
        })
        .collect();
    if poison {
        values[1].relative_change = Some(f64::NAN);
    }
    let total = |table: &str, column: &str, unlisted: i64| {
        let mine: Vec<&RestatedRow> = values.iter().filter(|v| v.table == table).collect();
        let sum =
            |f: fn(&RestatedRow) -> Option<f64>| mine.iter().filter_map(|v| f(v)).sum::<f64>();
        RestatedRow {
            row_kind: "total".to_string(),
            table: table.to_string(),
            column: column.to_string(),
            previous: Some(sum(|v| v.previous)),
            current: Some(sum(|v| v.current)),
            change: Some(sum(|v| v.change)),
            restated_values: mine.len() as i64 + unlisted,
            ..RestatedRow::default()
        }
    };
    let totals = [
        total("cohort_retention", "active_customers", 0),
        total("kpis_monthly", "revenue", 5),
    ];
    values.extend(totals);
    values
}

/// The comparison of the first run of an output directory: this run's
/// figures, no previous ones; only the staleness gate evaluated.
pub(crate) fn first_run(facts: &RunFacts) -> SincePrevious {
    let mut comparison = vec![
        compared_text("run", "run_id", None, &facts.run_id, "none"),
        compared_text("run", "as_of", None, &facts.as_of.to_string(), "none"),
        compared_row("rows", "rows_read", None, Some(facts.rows_read as f64)),
        compared_row("totals", "customers", None, Some(facts.customers as f64)),
    ];
    for (path, bytes) in &facts.inputs {
        comparison.push(compared_row("input", path, None, Some(*bytes as f64)));
    }
    let skipped = |name: &str| gate(name, "warn", 1.0, None, "skipped", "no previous run");
    SincePrevious {
        comparison,
        gates: vec![
            skipped("rows_read_drop"),
            gate(
                "stale_input_days",
                "warn",
                3.0,
                Some(0.0),
                "passed",
                "latest order is as_of",
            ),
            skipped("restated_counts"),
        ],
        restatements: Vec::new(),
        accepted_changes: false,
    }
}

/// Three loyalty tiers over `months` months from `start` (the last one in
/// progress): every month's new customers join Bronze, and fixed shares
/// move up and down.
pub(crate) fn tier_history(start: NaiveDate, months: usize) -> TierSection {
    const TIERS: [&str; 3] = ["Bronze", "Silver", "Gold"];
    let mut sizes = [0i64; 3];
    let mut migration = Vec::new();
    for m in 0..months {
        let share = |n: i64, s: f64| (n as f64 * s).round() as i64;
        // moves[from][to] for the three tiers.
        let mut moves = [[0i64; 3]; 3];
        moves[0][1] = share(sizes[0], 0.012);
        moves[0][2] = share(sizes[0], 0.001);
        moves[1][0] = share(sizes[1], 0.03);
        moves[1][2] = share(sizes[1], 0.02);
        moves[2][1] = share(sizes[2], 0.04);
        moves[2][0] = share(sizes[2], 0.005);
        for f in 0..3 {
            moves[f][f] = sizes[f] - moves[f].iter().sum::<i64>();
        }
        let new = cohort_size(m);
        let row = |from: &str, to: usize, movement: &str, customers: i64| TierMove {
            month: plus_months(start, m),
            from_tier: from.to_string(),
            to_tier: TIERS[to].to_string(),
            movement: movement.to_string(),
            customers,
            month_complete: m + 1 < months,
        };
        for t in 0..3 {
            migration.push(row("(new)", t, "new", if t == 0 { new } else { 0 }));
        }
        for (f, from) in moves.iter().enumerate() {
            for (t, customers) in from.iter().enumerate() {
                let movement = match t.cmp(&f) {
                    std::cmp::Ordering::Greater => "up",
                    std::cmp::Ordering::Less => "down",
                    std::cmp::Ordering::Equal => "same",
                };
                migration.push(row(TIERS[f], t, movement, *customers));
            }
        }
        // Each tier's customers at the month's end: those who moved into
        // it, and the month's new customers in the lowest tier.
        sizes = std::array::from_fn(|t| (0..3).map(|f| moves[f][t]).sum::<i64>());
        sizes[0] += new;
    }
    TierSection {
        sizes: TIERS
            .iter()
            .zip(sizes)
            .map(|(t, n)| (t.to_string(), n))
            .collect(),
        migration,
    }
}

/// A target list of `customers` customers whose top ten have values
/// falling from `top`.
fn target_list(name: &str, customers: usize, action: &str, by_clv: bool, top: f64) -> TargetList {
    TargetList {
        name: name.to_string(),
        customers,
        actions: vec![action.to_string()],
        typical_gap_days: None,
        by_clv,
        top: (0..customers.min(10))
            .map(|i| TargetCustomer {
                customer_id: format!("C{:06}", 100 + 7 * i),
                clv: by_clv.then_some(top * (1.0 - 0.05 * i as f64)),
                revenue: Some(if by_clv { 0.6 } else { 1.0 } * top * (1.0 - 0.05 * i as f64)),
            })
            .collect(),
    }
}

/// The four target lists of a run with CLV and tiers.
pub(crate) fn target_lists() -> TargetSection {
    let mut reengage = target_list(
        "reengage_new",
        1_234,
        "second-order incentive: one-time buyer past the usual second-order gap",
        false,
        150.88,
    );
    reengage.typical_gap_days = Some(47.0);
    TargetSection {
        lists: vec![
            target_list(
                "win_back",
                4_321,
                "win-back offer: invite the lapsed customer back",
                false,
                3_774.46,
            ),
            target_list(
                "at_risk_high_value",
                57,
                "retention offer: valuable customer overdue for their next order",
                true,
                2_345.67,
            ),
            reengage,
            target_list(
                "vip",
                890,
                "VIP treatment: early access and thanks",
                true,
                5_432.1,
            ),
        ],
        high_clv_quantile: Some(0.8),
        p_alive_below: Some(0.5),
        reengage_after_days: None,
        vip_clv_quantile: Some(0.9),
    }
}

/// Response counts with their NPS.
fn nps_counts(responses: i64, promoter_share: f64, detractor_share: f64) -> NpsCounts {
    let promoters = (responses as f64 * promoter_share).round() as i64;
    let detractors = (responses as f64 * detractor_share).round() as i64;
    NpsCounts {
        responses,
        promoters,
        passives: responses - promoters - detractors,
        detractors,
        nps: (responses > 0).then(|| 100.0 * (promoters - detractors) as f64 / responses as f64),
    }
}

/// NPS survey results over `months` months from `start`: no response in
/// the first three months, the last month in progress; `poison` adds a NaN.
pub(crate) fn nps_history(start: NaiveDate, months: usize, poison: bool) -> NpsSection {
    let mut monthly: Vec<NpsMonth> = (0..months)
        .map(|m| {
            let responses = if m < 3 { 0 } else { 40 + (m as i64 * 7) % 25 };
            let wave = 0.05 * (m as f64 / 5.0).sin();
            NpsMonth {
                month: plus_months(start, m),
                counts: nps_counts(responses, 0.45 + wave, 0.22 - wave / 2.0),
                month_complete: m + 1 < months,
            }
        })
        .collect();
    if poison {
        monthly[10].counts.nps = Some(f64::NAN);
    }
    let by_cohort = (0..months)
        .map(|c| {
            let size = cohort_size(c);
            let respondents = size / 5;
            NpsCohort {
                cohort_month: plus_months(start, c),
                cohort_size: size,
                respondents,
                counts: nps_counts(respondents + (c as i64 % 5), 0.4 + 0.002 * c as f64, 0.25),
            }
        })
        .collect();
    let by_tier = [
        ("Bronze", 800, 0.38, 0.28),
        ("Silver", 240, 0.52, 0.15),
        ("Gold", 61, 0.7, 0.05),
    ]
    .into_iter()
    .map(|(tier, respondents, p, d)| NpsTier {
        tier: tier.to_string(),
        respondents,
        counts: nps_counts(respondents + respondents / 10, p, d),
    })
    .collect();
    NpsSection {
        monthly,
        by_cohort,
        by_tier: Some(by_tier),
        retention: nps_retention(),
    }
}

/// `nps_retention`: promoters order most often; the detractors' month 12
/// has no complete month yet (no respondents, no rate).
fn nps_retention() -> Vec<NpsRetention> {
    let mut rows = Vec::new();
    for (category, base, floor) in [
        ("detractor", 300, 0.06),
        ("passive", 500, 0.10),
        ("promoter", 700, 0.14),
    ] {
        for k in 1..=12u32 {
            let respondents = if category == "detractor" && k == 12 {
                0
            } else {
                base - 15 * k as i64
            };
            let rate = floor + 0.2 * (-(k as f64 - 1.0) / 4.0).exp();
            let ordered = (respondents as f64 * rate).round() as i64;
            rows.push(NpsRetention {
                category: category.to_string(),
                months_after: k,
                respondents,
                ordered,
                retention_rate: (respondents > 0).then(|| ordered as f64 / respondents as f64),
            });
        }
    }
    rows
}
