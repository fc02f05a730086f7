//! Filling a [`ReportData`] from a run: its manifest and its tables, either
//! the frames a run just computed or the Parquet files of a published run
//! directory. The only part of the report that knows Polars.

use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;

use crate::error::{Error, Result};
use crate::io::publish::MANIFEST_FILE;
use crate::manifest::Manifest;
use crate::report::data::{
    ClvSection, CohortCell, CurvePoint, KpiMonth, ModelParameter, ReportData, RunFacts, SegmentRow,
    ValidationBucket,
};
use crate::time::date_of;

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

/// Builds the report's data from a manifest and a way to get each table.
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

pub fn report_data<F>(manifest: &Manifest, table: F) -> Result<ReportData>
where
    F: Fn(&str) -> Result<Option<DataFrame>>,
{
    let need = |name: &str| -> Result<DataFrame> {
        let frame = table(name)?.ok_or_else(|| {
            Error::output(
                Path::new(name),
                format!("table `{name}` is missing from run {}", manifest.run_id),
            )
        })?;
        all_slice(frame, &manifest.dimensions)
    };
    let facts = RunFacts {
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
        stages: manifest
            .stages
            .iter()
            .map(|s| (s.stage.clone(), s.seconds, s.peak_rss_bytes))
            .collect(),
    };

    let c = need("cohort_retention")?;
    // The cohort column names the unit (`cohort_month`, `cohort_week`,
    // `cohort_quarter`).
    let cohort_period = c
        .get_column_names()
        .iter()
        .find_map(|name| crate::tables::schema::period_of_cohort_column(name.as_str()))
        .ok_or_else(|| {
            Error::output(
                Path::new("cohort_retention"),
                format!(
                    "table `cohort_retention` of run {} has no cohort column: expected \
                     `cohort_month`, `cohort_week` or `cohort_quarter`",
                    manifest.run_id
                ),
            )
        })?;
    let (months, periods, sizes, active) = (
        dates(&c, crate::tables::schema::cohort_column(cohort_period))?,
        ints(&c, "period")?,
        ints(&c, "cohort_size")?,
        ints(&c, "active_customers")?,
    );
    let (rate, per_customer, cumulative, complete) = (
        floats(&c, "retention_rate")?,
        floats(&c, "revenue_per_customer")?,
        floats(&c, "cumulative_revenue_per_customer")?,
        bools(&c, "period_complete")?,
    );
    let unbounded_rate = optional_floats(&c, "unbounded_retention_rate")?;
    let cohorts = (0..c.height())
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
        .collect();

    let r = need("retention_curve")?;
    let (periods, n_cohorts, customers, retained, rate) = (
        ints(&r, "period")?,
        ints(&r, "cohorts")?,
        ints(&r, "customers")?,
        ints(&r, "retained")?,
        floats(&r, "retention_rate")?,
    );
    let unbounded_retained = if r.column("unbounded_retained").is_ok() {
        ints(&r, "unbounded_retained")?
    } else {
        vec![0; r.height()]
    };
    let unbounded_rate = optional_floats(&r, "unbounded_retention_rate")?;
    let curve = (0..r.height())
        .map(|i| CurvePoint {
            period: periods[i] as u32,
            cohorts: n_cohorts[i],
            customers: customers[i],
            retained: retained[i],
            retention_rate: rate[i],
            unbounded_retained: unbounded_retained[i],
            unbounded_retention_rate: unbounded_rate[i],
        })
        .collect();

    let k = need("kpis_monthly")?;
    let month = dates(&k, "month")?;
    let i64s = |name: &str| ints(&k, name);
    let (s, e, n, ret, churned, react, purchasing, orders) = (
        i64s("customers_start")?,
        i64s("customers_end")?,
        i64s("new_customers")?,
        i64s("retained")?,
        i64s("churned")?,
        i64s("reactivated")?,
        i64s("purchasing_customers")?,
        i64s("orders")?,
    );
    let (crr, churn, revenue, aov, repeat, complete) = (
        floats(&k, "crr")?,
        floats(&k, "churn_rate")?,
        floats(&k, "revenue")?,
        floats(&k, "aov")?,
        floats(&k, "repeat_customer_rate")?,
        bools(&k, "month_complete")?,
    );
    let kpis = (0..k.height())
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
        .collect();

    let g = need("segments")?;
    let (names, seg_customers, seg_revenue, share, avg_clv, avg_alive) = (
        texts(&g, "rfm_segment")?,
        ints(&g, "customers")?,
        floats(&g, "revenue")?,
        floats(&g, "share_of_revenue")?,
        floats(&g, "avg_clv")?,
        floats(&g, "avg_p_alive")?,
    );
    let segments = (0..g.height())
        .map(|i| SegmentRow {
            rfm_segment: names[i].clone(),
            customers: seg_customers[i],
            revenue: seg_revenue[i].unwrap_or(0.0),
            share_of_revenue: share[i],
            avg_clv: avg_clv[i],
            avg_p_alive: avg_alive[i],
        })
        .collect();

    Ok(ReportData {
        facts,
        cohort_period,
        cohorts,
        curve,
        kpis,
        segments,
        clv: clv_section(&table)?,
    })
}

/// The CLV section, when the run has the CLV tables.
fn clv_section<F>(table: &F) -> Result<Option<ClvSection>>
where
    F: Fn(&str) -> Result<Option<DataFrame>>,
{
    let (Some(model), Some(validation), Some(customers)) = (
        table("clv_model")?,
        table("clv_validation")?,
        table("customers")?,
    ) else {
        return Ok(None);
    };
    let clv_values: Vec<f64> = floats(&customers, "clv")?.into_iter().flatten().collect();
    if clv_values.is_empty() {
        return Ok(None);
    }
    let (models, parameters, values, errors, lls, converged) = (
        texts(&model, "model")?,
        texts(&model, "parameter")?,
        floats(&model, "value")?,
        floats(&model, "std_error")?,
        floats(&model, "log_likelihood")?,
        bools(&model, "converged")?,
    );
    let parameters = (0..model.height())
        .map(|i| ModelParameter {
            model: models[i].clone(),
            parameter: parameters[i].clone(),
            value: values[i].unwrap_or(f64::NAN),
            std_error: errors[i],
            log_likelihood: lls[i].unwrap_or(f64::NAN),
            converged: converged[i],
        })
        .collect();
    let (buckets, counts, actual, predicted, mae, rmse, bias) = (
        texts(&validation, "bucket")?,
        ints(&validation, "customers")?,
        floats(&validation, "actual_orders")?,
        floats(&validation, "predicted_orders")?,
        floats(&validation, "mae")?,
        floats(&validation, "rmse")?,
        floats(&validation, "relative_bias")?,
    );
    let validation = (0..validation.height())
        .map(|i| ValidationBucket {
            bucket: buckets[i].clone(),
            customers: counts[i],
            actual_orders: actual[i].unwrap_or(0.0),
            predicted_orders: predicted[i].unwrap_or(0.0),
            mae: mae[i],
            rmse: rmse[i],
            relative_bias: bias[i],
        })
        .collect();
    Ok(Some(ClvSection {
        clv_values,
        parameters,
        validation,
    }))
}

/// Reads a published run directory's manifest.
pub fn read_manifest(run_dir: &Path) -> Result<Manifest> {
    let path = run_dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::input(
            &path,
            format!("cannot read the manifest (is this a complete run directory?): {e}"),
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::input(&path, format!("the manifest does not parse: {e}")))
}

/// The report data of a published run directory, read from its files.
pub fn report_data_from_dir(run_dir: &Path) -> Result<ReportData> {
    let manifest = read_manifest(run_dir)?;
    report_data(&manifest, |name| {
        let path = run_dir.join(format!("{name}.parquet"));
        if !path.is_file() {
            return Ok(None);
        }
        let file = std::fs::File::open(&path)
            .map_err(|e| Error::input(&path, format!("cannot open: {e}")))?;
        ParquetReader::new(file)
            .finish()
            .map(Some)
            .map_err(|e| Error::input(&path, format!("cannot read as Parquet: {e}")))
    })
}
