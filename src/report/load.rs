//! Filling a [`ReportData`] from a run: its manifest and its tables, either
//! the frames a run just computed or the Parquet files of a published run
//! directory. The only part of the report that knows Polars.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;

use crate::error::{Error, Result};
use crate::io::runs::{each_chunk_of_table, read_manifest, read_table};
use crate::manifest::{Manifest, REPORT_STEP};
use crate::report::data::{
    ClvSection, CohortCell, CohortPeriod, ComparedFigure, CurvePoint, ForecastMonth, GateRow,
    KpiMonth, ModelParameter, NpsCohort, NpsCounts, NpsMonth, NpsRetention, NpsSection, NpsTier,
    ReportData, RestatedRow, RunFacts, SegmentRow, SincePrevious, TargetSection, TierMove,
    TierSection, ValidationBucket,
};
use crate::tables::schema::clv::{CLV_FORECAST, CLV_MODEL, CLV_VALIDATION};
use crate::tables::schema::cohorts::{COHORT_RETENTION, RETENTION_CURVE};
use crate::tables::schema::compare::{GATES, RESTATEMENTS, RUN_COMPARISON};
use crate::tables::schema::customers::SEGMENTS;
use crate::tables::schema::kpis::KPIS_MONTHLY;
use crate::tables::schema::nps::{NPS_BY_COHORT, NPS_BY_TIER, NPS_MONTHLY, NPS_RETENTION};
use crate::tables::schema::targets::{AT_RISK_HIGH_VALUE, REENGAGE_NEW, VIP, WIN_BACK};
use crate::tables::schema::tiers::TIER_MIGRATION;
use crate::tables::schema::{cohort_column, period_of_cohort_column};
use crate::tables::schema::{col, TableSchema};
use crate::time::date_of;

mod tallies;

fn ints(frame: &DataFrame, name: &str) -> Result<Vec<i64>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect())
}

fn floats(frame: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .map(|v| v.filter(|x| x.is_finite()))
        .collect())
}

/// A float column that runs written before it existed lack: all `None`.
fn optional_floats(frame: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    if frame.column(name).is_ok() {
        floats(frame, name)
    } else {
        Ok(vec![None; frame.height()])
    }
}

fn dates(frame: &DataFrame, name: &str) -> Result<Vec<NaiveDate>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::Int32)?
        .i32()?
        .iter()
        .map(|d| date_of(d.unwrap_or(0)))
        .collect())
}

fn bools(frame: &DataFrame, name: &str) -> Result<Vec<bool>> {
    Ok(frame
        .column(name)?
        .bool()?
        .iter()
        .map(|b| b.unwrap_or(false))
        .collect())
}

fn texts(frame: &DataFrame, name: &str) -> Result<Vec<String>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::String)?
        .str()?
        .iter()
        .map(|s| s.unwrap_or_default().to_string())
        .collect())
}

/// The `(all)` slice of a table sliced by dimensions (the report shows the
/// whole shop); a table without those columns as it is.
fn all_slice(frame: DataFrame, dimensions: &[String]) -> Result<DataFrame> {
    let mut frame = frame;
    for name in dimensions {
        if let Ok(column) = frame.column(name) {
            let mask = column.str()?.equal(crate::stages::dimensions::ALL);
            frame = frame.filter(&mask)?;
        }
    }
    Ok(frame)
}

/// A run's tables as the report reads them: the small ones whole, those
/// with a row per customer (`customers`, the target lists) a run of rows
/// at a time ([`tallies`]), so the report never holds one of them whole.
pub trait ReportTables {
    /// Table `name`, all of its columns or only those named; `None` when
    /// the run has no such table.
    fn whole(&self, name: &str, columns: Option<&[&str]>) -> Result<Option<DataFrame>>;

    /// Calls `each` with the named columns of table `name`, a run of rows
    /// at a time in row order; `false` when the run has no such table.
    fn each_chunk(
        &self,
        name: &str,
        columns: &[&str],
        each: &mut dyn FnMut(&DataFrame) -> Result<()>,
    ) -> Result<bool>;
}

/// Builds the report's data from a manifest and the run's tables.
pub fn report_data(manifest: &Manifest, tables: &dyn ReportTables) -> Result<ReportData> {
    let need = |schema: &TableSchema| -> Result<DataFrame> {
        let name = schema.name;
        let frame = tables.whole(name, None)?.ok_or_else(|| {
            Error::output(
                Path::new(name),
                format!("table `{name}` is missing from run {}", manifest.run_id),
            )
        })?;
        all_slice(frame, &manifest.dimensions)
    };
    let facts = run_facts(manifest);
    let cohort_frame = need(&COHORT_RETENTION)?;
    let cohort_period = cohort_period_of(&cohort_frame, &manifest.run_id)?;
    Ok(ReportData {
        facts,
        cohort_period,
        cohorts: cohort_cells(&cohort_frame, cohort_period)?,
        curve: curve_points(&need(&RETENTION_CURVE)?)?,
        kpis: kpi_months(&need(&KPIS_MONTHLY)?)?,
        segments: segment_rows(&need(&SEGMENTS)?)?,
        clv: clv_section(tables)?,
        since_previous: since_previous(manifest, tables)?,
        tiers: tier_section(tables)?,
        targets: target_section(manifest, tables)?,
        nps: nps_section(tables)?,
    })
}

/// The facts of the run, from its manifest.
fn run_facts(manifest: &Manifest) -> RunFacts {
    RunFacts {
        run_id: manifest.run_id.clone(),
        pipeline: manifest.pipeline_path.clone(),
        as_of: NaiveDate::parse_from_str(&manifest.as_of, "%Y-%m-%d").unwrap_or_default(),
        time_zone: manifest.time_zone.clone(),
        activity_window_days: manifest.activity_window_days,
        inputs: manifest
            .inputs
            .iter()
            .map(|i| (i.path.clone(), i.size_bytes))
            .collect(),
        rows_read: manifest.rows.read,
        accepted: manifest.rows.accepted,
        rejected: manifest.rows.rejected,
        excluded: manifest.rows.excluded,
        duplicates: manifest.rows.duplicates,
        customers: manifest.customers,
        reject_reasons: manifest.rejects_by_reason.clone(),
        checks: manifest
            .checks
            .iter()
            .map(|c| (c.check.clone(), c.expected, c.actual, c.passed))
            .collect(),
        // The page is made during the report's own step: its stage table
        // ends with publishing, whether made then or rebuilt later.
        stages: manifest
            .stages
            .iter()
            .filter(|s| s.stage != REPORT_STEP)
            .map(|s| (s.stage.clone(), s.seconds, s.peak_rss_bytes))
            .collect(),
        whole_run_seconds: manifest.seconds_to_published(),
    }
}

/// The cohort unit of `cohort_retention`: its cohort column names it
/// (`cohort_month`, `cohort_week`, `cohort_quarter`).
fn cohort_period_of(c: &DataFrame, run_id: &str) -> Result<CohortPeriod> {
    c.get_column_names()
        .iter()
        .find_map(|name| period_of_cohort_column(name.as_str()))
        .ok_or_else(|| {
            let name = COHORT_RETENTION.name;
            Error::output(
                Path::new(name),
                format!(
                    "table `{name}` of run {run_id} has no cohort column: expected `{}`, `{}` \
                     or `{}`",
                    col::COHORT_MONTH,
                    col::COHORT_WEEK,
                    col::COHORT_QUARTER
                ),
            )
        })
}

/// The cells of `cohort_retention`.
fn cohort_cells(c: &DataFrame, unit: CohortPeriod) -> Result<Vec<CohortCell>> {
    let (months, periods, sizes, active) = (
        dates(c, cohort_column(unit))?,
        ints(c, col::PERIOD)?,
        ints(c, col::COHORT_SIZE)?,
        ints(c, col::ACTIVE_CUSTOMERS)?,
    );
    let (rate, per_customer, cumulative, complete) = (
        floats(c, col::RETENTION_RATE)?,
        floats(c, col::REVENUE_PER_CUSTOMER)?,
        floats(c, col::CUMULATIVE_REVENUE_PER_CUSTOMER)?,
        bools(c, col::PERIOD_COMPLETE)?,
    );
    let unbounded_rate = optional_floats(c, col::UNBOUNDED_RETENTION_RATE)?;
    Ok((0..c.height())
        .map(|i| CohortCell {
            cohort_start: months[i],
            period: periods[i] as u32,
            cohort_size: sizes[i],
            active_customers: active[i],
            retention_rate: rate[i],
            unbounded_retention_rate: unbounded_rate[i],
            revenue_per_customer: per_customer[i],
            cumulative_revenue_per_customer: cumulative[i],
            period_complete: complete[i],
        })
        .collect())
}

/// The points of `retention_curve`.
fn curve_points(r: &DataFrame) -> Result<Vec<CurvePoint>> {
    let (periods, n_cohorts, customers, retained, rate) = (
        ints(r, col::PERIOD)?,
        ints(r, col::COHORTS)?,
        ints(r, col::CUSTOMERS)?,
        ints(r, col::RETAINED)?,
        floats(r, col::RETENTION_RATE)?,
    );
    // Runs written before the unbounded columns existed lack them.
    let unbounded_retained = if r.column(col::UNBOUNDED_RETAINED).is_ok() {
        ints(r, col::UNBOUNDED_RETAINED)?
    } else {
        vec![0; r.height()]
    };
    let unbounded_rate = optional_floats(r, col::UNBOUNDED_RETENTION_RATE)?;
    Ok((0..r.height())
        .map(|i| CurvePoint {
            period: periods[i] as u32,
            cohorts: n_cohorts[i],
            customers: customers[i],
            retained: retained[i],
            retention_rate: rate[i],
            unbounded_retained: unbounded_retained[i],
            unbounded_retention_rate: unbounded_rate[i],
        })
        .collect())
}

/// The months of `kpis_monthly`.
fn kpi_months(k: &DataFrame) -> Result<Vec<KpiMonth>> {
    let month = dates(k, col::MONTH)?;
    let i64s = |name: &str| ints(k, name);
    let (s, e, n, ret, churned, react, purchasing, orders) = (
        i64s(col::CUSTOMERS_START)?,
        i64s(col::CUSTOMERS_END)?,
        i64s(col::NEW_CUSTOMERS)?,
        i64s(col::RETAINED)?,
        i64s(col::CHURNED)?,
        i64s(col::REACTIVATED)?,
        i64s(col::PURCHASING_CUSTOMERS)?,
        i64s(col::ORDERS)?,
    );
    let (crr, churn, revenue, aov, repeat, complete) = (
        floats(k, col::CRR)?,
        floats(k, col::CHURN_RATE)?,
        floats(k, col::REVENUE)?,
        floats(k, col::AOV)?,
        floats(k, col::REPEAT_CUSTOMER_RATE)?,
        bools(k, col::MONTH_COMPLETE)?,
    );
    Ok((0..k.height())
        .map(|i| KpiMonth {
            month: month[i],
            customers_start: s[i],
            customers_end: e[i],
            new_customers: n[i],
            retained: ret[i],
            churned: churned[i],
            reactivated: react[i],
            crr: crr[i],
            churn_rate: churn[i],
            purchasing_customers: purchasing[i],
            orders: orders[i],
            revenue: revenue[i].unwrap_or(0.0),
            aov: aov[i],
            repeat_customer_rate: repeat[i],
            month_complete: complete[i],
        })
        .collect())
}

/// The rows of `segments`.
fn segment_rows(g: &DataFrame) -> Result<Vec<SegmentRow>> {
    let (names, customers, revenue, share, avg_clv, avg_alive) = (
        texts(g, col::RFM_SEGMENT)?,
        ints(g, col::CUSTOMERS)?,
        floats(g, col::REVENUE)?,
        floats(g, col::SHARE_OF_REVENUE)?,
        floats(g, col::AVG_CLV)?,
        floats(g, col::AVG_P_ALIVE)?,
    );
    Ok((0..g.height())
        .map(|i| SegmentRow {
            rfm_segment: names[i].clone(),
            customers: customers[i],
            revenue: revenue[i].unwrap_or(0.0),
            share_of_revenue: share[i],
            avg_clv: avg_clv[i],
            avg_p_alive: avg_alive[i],
        })
        .collect())
}

/// The CLV section, when the run has the CLV tables.
fn clv_section(tables: &dyn ReportTables) -> Result<Option<ClvSection>> {
    let (Some(model), Some(validation)) = (
        tables.whole(CLV_MODEL.name, None)?,
        tables.whole(CLV_VALIDATION.name, None)?,
    ) else {
        return Ok(None);
    };
    let Some((distribution, uncomputable)) = tallies::clv_distribution(tables)? else {
        return Ok(None);
    };
    let parameters = model_parameters(&model)?;
    let chosen_model = parameters
        .iter()
        .find(|p| p.chosen && p.model != "gamma_gamma")
        .map(|p| p.model.clone());
    let forecast = match tables.whole(CLV_FORECAST.name, None)? {
        Some(frame) => forecast_months(&frame)?,
        None => Vec::new(),
    };
    Ok(Some(ClvSection {
        uncomputable,
        distribution: Some(distribution),
        validation: validation_buckets(&validation, chosen_model.as_deref())?,
        parameters,
        chosen_model,
        forecast,
    }))
}

/// The rows of `clv_forecast`; their intervals `None` where null or, in
/// runs before schema version 5, absent.
fn forecast_months(forecast: &DataFrame) -> Result<Vec<ForecastMonth>> {
    let bounds = |low: &str, high: &str| -> Result<Vec<Option<(f64, f64)>>> {
        if forecast.column(low).is_err() {
            return Ok(vec![None; forecast.height()]);
        }
        let (low, high) = (floats(forecast, low)?, floats(forecast, high)?);
        Ok(low.iter().zip(&high).map(|(l, h)| l.zip(*h)).collect())
    };
    let (months, orders, revenue) = (
        ints(forecast, col::HORIZON_MONTH)?,
        floats(forecast, col::EXPECTED_ORDERS)?,
        floats(forecast, col::EXPECTED_REVENUE)?,
    );
    let orders_interval = bounds(col::EXPECTED_ORDERS_LOW, col::EXPECTED_ORDERS_HIGH)?;
    let revenue_interval = bounds(col::EXPECTED_REVENUE_LOW, col::EXPECTED_REVENUE_HIGH)?;
    Ok((0..forecast.height())
        .map(|i| ForecastMonth {
            month: months[i],
            orders: orders[i],
            orders_interval: orders_interval[i],
            revenue: revenue[i],
            revenue_interval: revenue_interval[i],
        })
        .collect())
}

/// A text column that runs written before it existed lack: `None`.
fn optional_texts(frame: &DataFrame, name: &str) -> Result<Option<Vec<String>>> {
    if frame.column(name).is_ok() {
        texts(frame, name).map(Some)
    } else {
        Ok(None)
    }
}

/// The rows of `clv_model`.
fn model_parameters(model: &DataFrame) -> Result<Vec<ModelParameter>> {
    let (models, parameters, values, errors, lls, converged) = (
        texts(model, col::MODEL)?,
        texts(model, col::PARAMETER)?,
        floats(model, col::VALUE)?,
        floats(model, col::STD_ERROR)?,
        floats(model, col::LOG_LIKELIHOOD)?,
        bools(model, col::CONVERGED)?,
    );
    // Older runs: the flag stands for the status, and their one purchase
    // model and Gamma-Gamma both scored.
    let status = optional_texts(model, col::FIT_STATUS)?.unwrap_or_else(|| {
        converged
            .iter()
            .map(|&c| if c { "converged" } else { "not_converged" }.to_string())
            .collect()
    });
    let chosen = if model.column(col::CHOSEN).is_ok() {
        bools(model, col::CHOSEN)?
    } else {
        vec![true; model.height()]
    };
    Ok((0..model.height())
        .map(|i| ModelParameter {
            model: models[i].clone(),
            parameter: parameters[i].clone(),
            value: values[i].unwrap_or(f64::NAN),
            std_error: errors[i],
            log_likelihood: lls[i].unwrap_or(f64::NAN),
            fit_status: status[i].clone(),
            chosen: chosen[i],
        })
        .collect())
}

/// The rows of `clv_validation` of the `chosen` purchase model (every row
/// of a run before schema version 4, which validated one model).
fn validation_buckets(
    validation: &DataFrame,
    chosen: Option<&str>,
) -> Result<Vec<ValidationBucket>> {
    let models = optional_texts(validation, col::MODEL)?;
    let keep = |i: usize| match (&models, chosen) {
        (Some(models), Some(chosen)) => models[i] == chosen,
        _ => true,
    };
    let (buckets, counts, actual, predicted, mae, rmse, bias) = (
        texts(validation, col::BUCKET)?,
        ints(validation, col::CUSTOMERS)?,
        floats(validation, col::ACTUAL_ORDERS)?,
        floats(validation, col::PREDICTED_ORDERS)?,
        floats(validation, col::MAE)?,
        floats(validation, col::RMSE)?,
        floats(validation, col::RELATIVE_BIAS)?,
    );
    Ok((0..validation.height())
        .filter(|&i| keep(i))
        .map(|i| ValidationBucket {
            bucket: buckets[i].clone(),
            customers: counts[i],
            actual_orders: actual[i].unwrap_or(0.0),
            predicted_orders: predicted[i].unwrap_or(0.0),
            mae: mae[i],
            rmse: rmse[i],
            relative_bias: bias[i],
        })
        .collect())
}

/// A text column whose nulls stay `None`.
fn nullable_texts(frame: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::String)?
        .str()?
        .iter()
        .map(|s| s.map(str::to_string))
        .collect())
}

/// What the run found when it compared itself with the previous run; `None`
/// for a run written before schema version 6, which lacks the tables.
fn since_previous(manifest: &Manifest, tables: &dyn ReportTables) -> Result<Option<SincePrevious>> {
    let (Some(comparison), Some(gates), Some(restatements)) = (
        tables.whole(RUN_COMPARISON.name, None)?,
        tables.whole(GATES.name, None)?,
        tables.whole(RESTATEMENTS.name, None)?,
    ) else {
        return Ok(None);
    };
    Ok(Some(SincePrevious {
        comparison: compared_figures(&comparison)?,
        gates: gate_rows(&gates)?,
        restatements: restated_rows(&restatements)?,
        accepted_changes: manifest.accepted_changes,
    }))
}

/// The rows of `run_comparison`.
fn compared_figures(c: &DataFrame) -> Result<Vec<ComparedFigure>> {
    let (sections, items, statuses) = (
        texts(c, col::SECTION)?,
        texts(c, col::ITEM)?,
        texts(c, col::STATUS)?,
    );
    let (previous, current, change, relative) = (
        floats(c, col::PREVIOUS)?,
        floats(c, col::CURRENT)?,
        floats(c, col::CHANGE)?,
        floats(c, col::RELATIVE_CHANGE)?,
    );
    let (previous_text, current_text) = (
        nullable_texts(c, col::PREVIOUS_TEXT)?,
        nullable_texts(c, col::CURRENT_TEXT)?,
    );
    Ok((0..c.height())
        .map(|i| ComparedFigure {
            section: sections[i].clone(),
            item: items[i].clone(),
            previous: previous[i],
            current: current[i],
            change: change[i],
            relative_change: relative[i],
            previous_text: previous_text[i].clone(),
            current_text: current_text[i].clone(),
            status: statuses[i].clone(),
        })
        .collect())
}

/// The rows of `gates`.
fn gate_rows(g: &DataFrame) -> Result<Vec<GateRow>> {
    let (gates, actions, outcomes, details) = (
        texts(g, col::GATE)?,
        texts(g, col::ACTION)?,
        texts(g, col::OUTCOME)?,
        texts(g, col::DETAIL)?,
    );
    let (thresholds, measured) = (floats(g, col::THRESHOLD)?, floats(g, col::MEASURED)?);
    Ok((0..g.height())
        .map(|i| GateRow {
            gate: gates[i].clone(),
            action: actions[i].clone(),
            threshold: thresholds[i],
            measured: measured[i],
            outcome: outcomes[i].clone(),
            detail: details[i].clone(),
        })
        .collect())
}

/// The rows of `restatements` (at most 1,000 values and their totals).
fn restated_rows(r: &DataFrame) -> Result<Vec<RestatedRow>> {
    let (kinds, tables, keys, columns) = (
        texts(r, col::ROW_KIND)?,
        texts(r, col::TABLE_NAME)?,
        nullable_texts(r, col::ROW_KEY)?,
        texts(r, col::COLUMN_NAME)?,
    );
    let (previous, current, change, relative) = (
        floats(r, col::PREVIOUS)?,
        floats(r, col::CURRENT)?,
        floats(r, col::CHANGE)?,
        floats(r, col::RELATIVE_CHANGE)?,
    );
    let counts = ints(r, col::RESTATED_VALUES)?;
    Ok((0..r.height())
        .map(|i| RestatedRow {
            row_kind: kinds[i].clone(),
            table: tables[i].clone(),
            row_key: keys[i].clone(),
            column: columns[i].clone(),
            previous: previous[i],
            current: current[i],
            change: change[i],
            relative_change: relative[i],
            restated_values: counts[i],
        })
        .collect())
}

/// The loyalty tiers, when the run has `tier_migration`: its rows, and the
/// customers per tier at as_of from the `tier` column of `customers`.
fn tier_section(tables: &dyn ReportTables) -> Result<Option<TierSection>> {
    let Some(migration) = tables.whole(TIER_MIGRATION.name, None)? else {
        return Ok(None);
    };
    let migration = tier_moves(&migration)?;
    let sizes = match tallies::tier_counts(tables)? {
        Some(counts) => tier_sizes(counts, &migration),
        None => Vec::new(),
    };
    Ok(Some(TierSection { sizes, migration }))
}

/// The rows of `tier_migration`.
fn tier_moves(t: &DataFrame) -> Result<Vec<TierMove>> {
    let (months, from, to, movement) = (
        dates(t, col::MONTH)?,
        texts(t, col::FROM_TIER)?,
        texts(t, col::TO_TIER)?,
        texts(t, col::MOVEMENT)?,
    );
    let (customers, complete) = (ints(t, col::CUSTOMERS)?, bools(t, col::MONTH_COMPLETE)?);
    Ok((0..t.height())
        .map(|i| TierMove {
            month: months[i],
            from_tier: from[i].clone(),
            to_tier: to[i].clone(),
            movement: movement[i].clone(),
            customers: customers[i],
            month_complete: complete[i],
        })
        .collect())
}

/// Customers per tier, lowest tier first: the tiers in the order
/// `tier_migration` lists its to-tiers (lowest to highest), with a tier no
/// customer is in at 0; a tier only `customers` names comes last.
fn tier_sizes(counts: BTreeMap<String, i64>, migration: &[TierMove]) -> Vec<(String, i64)> {
    let mut sizes: Vec<(String, i64)> = Vec::new();
    for m in migration {
        if !sizes.iter().any(|(t, _)| *t == m.to_tier) {
            sizes.push((m.to_tier.clone(), 0));
        }
    }
    for (tier, n) in counts {
        match sizes.iter_mut().find(|(t, _)| *t == tier) {
            Some(size) => size.1 = n,
            None => sizes.push((tier, n)),
        }
    }
    sizes
}

/// The manifest's definitions of the target lists' settings.
const HIGH_CLV_QUANTILE: &str = "targets.high_clv_quantile";
const P_ALIVE_BELOW: &str = "targets.p_alive_below";
const REENGAGE_AFTER_DAYS: &str = "targets.reengage_after_days";
const VIP_CLV_QUANTILE: &str = "targets.vip_clv_quantile";

/// The target lists the run published, in precedence order, and the
/// settings of their rules.
fn target_section(manifest: &Manifest, tables: &dyn ReportTables) -> Result<TargetSection> {
    let mut lists = Vec::new();
    for schema in [&WIN_BACK, &AT_RISK_HIGH_VALUE, &REENGAGE_NEW, &VIP] {
        lists.extend(tallies::target_list(tables, schema)?);
    }
    // Settings are JSON values; `null` (not set) reads as `None`.
    let setting = |key: &str| -> Option<f64> {
        let value = manifest.definitions.as_ref()?.get(key)?;
        serde_json::from_str::<f64>(value)
            .ok()
            .filter(|v| v.is_finite())
    };
    Ok(TargetSection {
        lists,
        high_clv_quantile: setting(HIGH_CLV_QUANTILE),
        p_alive_below: setting(P_ALIVE_BELOW),
        reengage_after_days: setting(REENGAGE_AFTER_DAYS),
        vip_clv_quantile: setting(VIP_CLV_QUANTILE),
    })
}

/// The NPS tables, when the run has `nps_monthly`.
fn nps_section(tables: &dyn ReportTables) -> Result<Option<NpsSection>> {
    let Some(monthly) = tables.whole(NPS_MONTHLY.name, None)? else {
        return Ok(None);
    };
    let by_cohort = match tables.whole(NPS_BY_COHORT.name, None)? {
        Some(frame) => nps_cohorts(&frame)?,
        None => Vec::new(),
    };
    let by_tier = match tables.whole(NPS_BY_TIER.name, None)? {
        Some(frame) => Some(nps_tiers(&frame)?),
        None => None,
    };
    let retention = match tables.whole(NPS_RETENTION.name, None)? {
        Some(frame) => nps_retention(&frame)?,
        None => Vec::new(),
    };
    Ok(Some(NpsSection {
        monthly: nps_months(&monthly)?,
        by_cohort,
        by_tier,
        retention,
    }))
}

/// The response counts and NPS of every row of an NPS table.
fn nps_counts(frame: &DataFrame) -> Result<Vec<NpsCounts>> {
    let (responses, promoters, passives, detractors, nps) = (
        ints(frame, col::RESPONSES)?,
        ints(frame, col::PROMOTERS)?,
        ints(frame, col::PASSIVES)?,
        ints(frame, col::DETRACTORS)?,
        floats(frame, col::NPS)?,
    );
    Ok((0..frame.height())
        .map(|i| NpsCounts {
            responses: responses[i],
            promoters: promoters[i],
            passives: passives[i],
            detractors: detractors[i],
            nps: nps[i],
        })
        .collect())
}

/// The rows of `nps_monthly`.
fn nps_months(m: &DataFrame) -> Result<Vec<NpsMonth>> {
    let (months, complete) = (dates(m, col::MONTH)?, bools(m, col::MONTH_COMPLETE)?);
    Ok(nps_counts(m)?
        .into_iter()
        .enumerate()
        .map(|(i, counts)| NpsMonth {
            month: months[i],
            counts,
            month_complete: complete[i],
        })
        .collect())
}

/// The rows of `nps_by_cohort`.
fn nps_cohorts(c: &DataFrame) -> Result<Vec<NpsCohort>> {
    let (months, sizes, respondents) = (
        dates(c, col::COHORT_MONTH)?,
        ints(c, col::COHORT_SIZE)?,
        ints(c, col::RESPONDENTS)?,
    );
    Ok(nps_counts(c)?
        .into_iter()
        .enumerate()
        .map(|(i, counts)| NpsCohort {
            cohort_month: months[i],
            cohort_size: sizes[i],
            respondents: respondents[i],
            counts,
        })
        .collect())
}

/// The rows of `nps_by_tier`.
fn nps_tiers(t: &DataFrame) -> Result<Vec<NpsTier>> {
    let (tiers, respondents) = (texts(t, col::TIER)?, ints(t, col::RESPONDENTS)?);
    Ok(nps_counts(t)?
        .into_iter()
        .enumerate()
        .map(|(i, counts)| NpsTier {
            tier: tiers[i].clone(),
            respondents: respondents[i],
            counts,
        })
        .collect())
}

/// The rows of `nps_retention`.
fn nps_retention(r: &DataFrame) -> Result<Vec<NpsRetention>> {
    let (categories, months, respondents, ordered, rate) = (
        texts(r, col::NPS_CATEGORY)?,
        ints(r, col::MONTHS_AFTER)?,
        ints(r, col::RESPONDENTS)?,
        ints(r, col::ORDERED)?,
        floats(r, col::RETENTION_RATE)?,
    );
    Ok((0..r.height())
        .map(|i| NpsRetention {
            category: categories[i].clone(),
            months_after: months[i].max(0) as u32,
            respondents: respondents[i],
            ordered: ordered[i],
            retention_rate: rate[i],
        })
        .collect())
}

/// The report data of a published run directory, read from its files.
pub fn report_data_from_dir(run_dir: &Path) -> Result<ReportData> {
    let manifest = read_manifest(run_dir)?;
    report_data(&manifest, &RunDirTables(run_dir))
}

/// The tables of a published run directory, read from their Parquet files.
struct RunDirTables<'a>(&'a Path);

impl ReportTables for RunDirTables<'_> {
    fn whole(&self, name: &str, columns: Option<&[&str]>) -> Result<Option<DataFrame>> {
        read_table(self.0, name, columns)
    }

    fn each_chunk(
        &self,
        name: &str,
        columns: &[&str],
        each: &mut dyn FnMut(&DataFrame) -> Result<()>,
    ) -> Result<bool> {
        each_chunk_of_table(self.0, name, columns, each)
    }
}
