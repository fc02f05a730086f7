//! The comparison of a run with the one before it (README "Running
//! unattended"): what the previous run called final and this one changed
//! (restatements, [`restatements`]), the headline figures side by side,
//! the input files, the CLV fit; and the gates that decide whether such
//! changes may be published ([`gates`]).
//!
//! Pure: each side is a run's figures ([`RunFigures`], from a manifest or
//! from the run being computed) and a way to read its tables
//! ([`RunTables`]); `run` and `retention diff` do the reading.

pub mod gates;
pub mod restatements;

use std::collections::BTreeMap;

use polars::prelude::{DataFrame, DataType};

use crate::error::Result;
use crate::stages::dimensions::ALL as ALL_SLICES;
use crate::tables::schema::compare::{item, section, status};
use crate::tables::schema::{self, col};
use crate::time::CohortPeriod;

pub use restatements::{Restated, Restatement, TableRestated};

/// A run's tables, read a few columns at a time.
pub trait RunTables {
    /// The columns `columns` of table `name`; `None` when the run did not
    /// publish it.
    fn table(&self, name: &str, columns: &[&str]) -> Result<Option<DataFrame>>;
}

/// What the comparison needs of a run besides its tables.
#[derive(Debug, Clone)]
pub struct RunFigures {
    pub run_id: String,
    pub as_of: String,
    pub tool_version: String,
    pub schema_version: u32,
    /// The settings that define the values (`Pipeline::definitions`);
    /// `None` for a run published before they were recorded.
    pub definitions: Option<BTreeMap<String, String>>,
    /// The dimension columns of the sliced tables.
    pub dimensions: Vec<String>,
    pub rows: RowFigures,
    pub customers: u64,
    pub inputs: Vec<InputFigure>,
}

/// How a run's input rows were accounted for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowFigures {
    pub read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub excluded: u64,
    pub duplicates: u64,
}

impl RowFigures {
    /// Rejected rows per row read (0 without rows).
    pub fn reject_ratio(&self) -> f64 {
        match self.read {
            0 => 0.0,
            read => self.rejected as f64 / read as f64,
        }
    }

    fn named(&self) -> [(&'static str, u64); 5] {
        [
            (item::ROWS_READ, self.read),
            ("rows_accepted", self.accepted),
            ("rows_rejected", self.rejected),
            ("rows_excluded", self.excluded),
            ("duplicates", self.duplicates),
        ]
    }
}

/// One input file as a manifest records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFigure {
    pub path: String,
    pub size_bytes: u64,
    pub modified: Option<String>,
}

/// A number in both runs (`None` where a run does not have it).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub section: &'static str,
    pub item: String,
    pub previous: Option<f64>,
    pub current: Option<f64>,
}

impl Figure {
    pub fn change(&self) -> Option<f64> {
        change(self.previous, self.current)
    }

    pub fn relative_change(&self) -> Option<f64> {
        relative_change(self.previous, self.current)
    }
}

/// current − previous; `None` when either is missing.
pub fn change(previous: Option<f64>, current: Option<f64>) -> Option<f64> {
    Some(current? - previous?)
}

/// change / |previous|; `None` when previous is 0 or missing.
pub fn relative_change(previous: Option<f64>, current: Option<f64>) -> Option<f64> {
    let base = previous.filter(|p| *p != 0.0)?;
    Some(change(previous, current)? / base.abs())
}

/// A text value in both runs, with whether it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct TextFigure {
    pub section: &'static str,
    pub item: String,
    pub previous: Option<String>,
    pub current: Option<String>,
}

/// How an input file differs between the runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChange {
    Added,
    Removed,
    Changed,
    Same,
}

impl FileChange {
    pub fn label(self) -> &'static str {
        match self {
            FileChange::Added => status::ADDED,
            FileChange::Removed => status::REMOVED,
            FileChange::Changed => status::CHANGED,
            FileChange::Same => status::SAME,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InputChange {
    pub path: String,
    pub change: FileChange,
    pub previous_bytes: Option<u64>,
    pub current_bytes: Option<u64>,
}

/// A CLV parameter in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterShift {
    pub model: String,
    pub parameter: String,
    pub previous: f64,
    pub current: f64,
    /// The previous run's standard error (null when it had none).
    pub previous_std_error: Option<f64>,
}

impl ParameterShift {
    /// |current − previous| in the previous run's standard errors.
    pub fn standard_errors(&self) -> Option<f64> {
        let se = self.previous_std_error.filter(|se| *se > 0.0)?;
        Some((self.current - self.previous).abs() / se)
    }
}

/// Whether the two runs define their values the same way.
#[derive(Debug, Clone, PartialEq)]
pub enum Definitions {
    Same,
    /// What differs: a setting (`business.time_zone`), `tool_version` or
    /// `schema_version`, with the previous and current values.
    Changed(Vec<(String, Option<String>, Option<String>)>),
    /// The previous run did not record its definitions.
    Unknown,
}

impl Definitions {
    pub fn same(&self) -> bool {
        matches!(self, Definitions::Same)
    }
}

/// This run against the previous one.
#[derive(Debug, Clone)]
pub struct Against {
    pub previous_run_id: String,
    pub previous_as_of: String,
    pub definitions: Definitions,
    /// `None` when the definitions differ: values are not comparable.
    pub restated: Option<Restated>,
    pub inputs: Vec<InputChange>,
    pub parameters: Vec<ParameterShift>,
    pub previous_reject_ratio: f64,
}

/// The comparison of a run with the previous one, if any.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub current_run_id: String,
    pub current_as_of: String,
    pub against: Option<Against>,
    /// The headline numbers (rows, totals, the holdout error), previous
    /// null without a previous run.
    pub figures: Vec<Figure>,
    /// The chosen CLV model, and other text values side by side.
    pub texts: Vec<TextFigure>,
    pub current_reject_ratio: f64,
}

impl Comparison {
    /// The headline figure `item`, if compared.
    pub fn figure(&self, item: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.item == item)
    }
}

/// The previous run's tables a comparison reads (besides its manifest):
/// the restatable ones, the monthly KPIs and the CLV model's two tables.
/// A previous run kept in object storage is fetched only this far.
pub fn tables_read() -> Vec<&'static str> {
    let restatable = schema::ALL
        .iter()
        .copied()
        .filter(|t| t.restatable.is_some());
    let other = [
        &schema::kpis::KPIS_MONTHLY,
        &schema::clv::CLV_MODEL_SELECTION,
        &schema::clv::CLV_MODEL,
    ];
    let mut names: Vec<&'static str> = restatable.chain(other).map(|t| t.name).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Compares `current` with `previous` (absent for a first run).
pub fn compare(
    previous: Option<(&RunFigures, &dyn RunTables)>,
    current: (&RunFigures, &dyn RunTables),
) -> Result<Comparison> {
    let (cur, cur_tables) = current;
    let cur_headline = Headline::of(cur, cur_tables)?;
    let mut comparison = Comparison {
        current_run_id: cur.run_id.clone(),
        current_as_of: cur.as_of.clone(),
        against: None,
        figures: cur_headline.figures(None),
        texts: cur_headline.texts(None),
        current_reject_ratio: cur.rows.reject_ratio(),
    };
    let Some((prev, prev_tables)) = previous else {
        return Ok(comparison);
    };
    let prev_headline = Headline::of(prev, prev_tables)?;
    comparison.figures = cur_headline.figures(Some(&prev_headline));
    comparison.texts = cur_headline.texts(Some(&prev_headline));
    let definitions = definitions(prev, cur);
    let restated = match definitions.same() {
        true => Some(restatements::restated(
            (&cur.dimensions, cohort_period(cur)?),
            prev_tables,
            cur_tables,
        )?),
        false => None,
    };
    comparison.against = Some(Against {
        previous_run_id: prev.run_id.clone(),
        previous_as_of: prev.as_of.clone(),
        definitions,
        restated,
        inputs: input_changes(&prev.inputs, &cur.inputs),
        parameters: parameter_shifts(&prev_headline.parameters, &cur_headline.parameters),
        previous_reject_ratio: prev.rows.reject_ratio(),
    });
    Ok(comparison)
}

/// The settings, tool and schema version that differ.
/// The definitions' key of the cohort unit (`[business] cohort_period`).
const COHORT_PERIOD_DEFINITION: &str = "business.cohort_period";

/// The cohort unit of a run, from its definitions: monthly when they do
/// not name one (a run from before the setting).
fn cohort_period(run: &RunFigures) -> Result<CohortPeriod> {
    let named = run
        .definitions
        .as_ref()
        .and_then(|d| d.get(COHORT_PERIOD_DEFINITION));
    let Some(text) = named else {
        return Ok(CohortPeriod::default());
    };
    serde_json::from_str(text).map_err(|e| {
        let why = format!(
            "its definitions' `{COHORT_PERIOD_DEFINITION}` is {text}, not a cohort unit: {e}"
        );
        crate::error::Error::input(format!("run {}", run.run_id), why)
    })
}

fn definitions(prev: &RunFigures, cur: &RunFigures) -> Definitions {
    let (Some(before), Some(now)) = (&prev.definitions, &cur.definitions) else {
        return Definitions::Unknown;
    };
    let mut changed: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    let versions = [
        ("tool_version", &prev.tool_version, &cur.tool_version),
        (
            "schema_version",
            &prev.schema_version.to_string(),
            &cur.schema_version.to_string(),
        ),
    ];
    for (name, a, b) in versions {
        if a != b {
            changed.push((name.to_string(), Some(a.clone()), Some(b.clone())));
        }
    }
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    for key in keys {
        let (a, b) = (before.get(key), now.get(key));
        if a != b {
            changed.push((key.clone(), a.cloned(), b.cloned()));
        }
    }
    match changed.is_empty() {
        true => Definitions::Same,
        false => Definitions::Changed(changed),
    }
}

/// Each input path of either run, in path order, with how it changed
/// (size or modification time).
fn input_changes(prev: &[InputFigure], cur: &[InputFigure]) -> Vec<InputChange> {
    let before: BTreeMap<&str, &InputFigure> = prev.iter().map(|f| (f.path.as_str(), f)).collect();
    let now: BTreeMap<&str, &InputFigure> = cur.iter().map(|f| (f.path.as_str(), f)).collect();
    let paths: std::collections::BTreeSet<&str> =
        before.keys().chain(now.keys()).copied().collect();
    paths
        .into_iter()
        .map(|path| {
            let (a, b) = (before.get(path), now.get(path));
            let change = match (a, b) {
                (None, _) => FileChange::Added,
                (_, None) => FileChange::Removed,
                (Some(a), Some(b)) if a == b => FileChange::Same,
                _ => FileChange::Changed,
            };
            InputChange {
                path: path.to_string(),
                change,
                previous_bytes: a.map(|f| f.size_bytes),
                current_bytes: b.map(|f| f.size_bytes),
            }
        })
        .collect()
}

/// The parameters both runs fitted (same model and name).
fn parameter_shifts(prev: &[FittedParameter], cur: &[FittedParameter]) -> Vec<ParameterShift> {
    cur.iter()
        .filter_map(|c| {
            let p = prev
                .iter()
                .find(|p| p.model == c.model && p.parameter == c.parameter)?;
            Some(ParameterShift {
                model: c.model.clone(),
                parameter: c.parameter.clone(),
                previous: p.value?,
                current: c.value?,
                previous_std_error: p.std_error,
            })
        })
        .collect()
}

/// One row of `clv_model`.
#[derive(Debug, Clone)]
struct FittedParameter {
    model: String,
    parameter: String,
    value: Option<f64>,
    std_error: Option<f64>,
}

/// One run's headline numbers.
struct Headline {
    rows: RowFigures,
    customers: u64,
    /// Σ orders and Σ revenue of `kpis_monthly`'s (all) slice.
    orders: Option<f64>,
    revenue: Option<f64>,
    chosen_model: Option<String>,
    holdout_mae: Option<f64>,
    parameters: Vec<FittedParameter>,
}

impl Headline {
    fn of(run: &RunFigures, tables: &dyn RunTables) -> Result<Headline> {
        let (orders, revenue) = order_totals(run, tables)?;
        let (chosen_model, holdout_mae) = chosen_model(tables)?;
        Ok(Headline {
            rows: run.rows,
            customers: run.customers,
            orders,
            revenue,
            chosen_model,
            holdout_mae,
            parameters: fitted_parameters(tables)?,
        })
    }

    fn numbers(&self) -> Vec<(&'static str, String, Option<f64>)> {
        let mut out: Vec<(&'static str, String, Option<f64>)> = self
            .rows
            .named()
            .into_iter()
            .map(|(name, n)| (section::ROWS, name.to_string(), Some(n as f64)))
            .collect();
        let totals = [
            (col::CUSTOMERS, Some(self.customers as f64)),
            (col::ORDERS, self.orders),
            (col::REVENUE, self.revenue),
        ];
        out.extend(totals.map(|(name, v)| (section::TOTALS, name.to_string(), v)));
        if self.chosen_model.is_some() {
            let mae = (
                section::CLV_MODEL,
                item::HOLDOUT_MAE.into(),
                self.holdout_mae,
            );
            out.push(mae);
        }
        out
    }

    fn figures(&self, previous: Option<&Headline>) -> Vec<Figure> {
        let before = previous.map(|p| p.numbers());
        self.numbers()
            .into_iter()
            .map(|(section, item, current)| Figure {
                previous: before
                    .as_ref()
                    .and_then(|b| b.iter().find(|(_, i, _)| *i == item))
                    .and_then(|(_, _, v)| *v),
                section,
                item,
                current,
            })
            .collect()
    }

    fn texts(&self, previous: Option<&Headline>) -> Vec<TextFigure> {
        match (
            &self.chosen_model,
            previous.and_then(|p| p.chosen_model.clone()),
        ) {
            (None, None) => Vec::new(),
            (current, previous) => vec![TextFigure {
                section: section::CLV_MODEL,
                item: item::CHOSEN.into(),
                previous,
                current: current.clone(),
            }],
        }
    }
}

/// Σ orders and Σ revenue over `kpis_monthly`'s months (its (all) slice).
fn order_totals(run: &RunFigures, tables: &dyn RunTables) -> Result<(Option<f64>, Option<f64>)> {
    let mut columns: Vec<&str> = run.dimensions.iter().map(String::as_str).collect();
    columns.extend([col::ORDERS, col::REVENUE]);
    let Some(kpis) = tables.table(schema::kpis::KPIS_MONTHLY.name, &columns)? else {
        return Ok((None, None));
    };
    let kpis = whole_run_rows(&kpis, &run.dimensions)?;
    let sum = |name: &str| -> Result<Option<f64>> {
        let values = kpis.column(name)?.cast(&DataType::Float64)?;
        let values = values.as_materialized_series().f64()?;
        Ok((values.null_count() < values.len()).then(|| values.iter().flatten().sum()))
    };
    Ok((sum(col::ORDERS)?, sum(col::REVENUE)?))
}

/// The rows of a sliced table's (all) slice (all of them when unsliced).
fn whole_run_rows(frame: &DataFrame, dimensions: &[String]) -> Result<DataFrame> {
    let keep = whole_run_mask(frame, dimensions)?;
    let mask: polars::prelude::BooleanChunked = keep.into_iter().collect();
    Ok(frame.filter(&mask)?)
}

/// Which rows of a sliced table are its (all) slice.
fn whole_run_mask(frame: &DataFrame, dimensions: &[String]) -> Result<Vec<bool>> {
    let mut keep = vec![true; frame.height()];
    for dimension in dimensions {
        let labels = frame
            .column(dimension)?
            .as_materialized_series()
            .str()?
            .clone();
        for (k, label) in keep.iter_mut().zip(labels.iter()) {
            *k &= label == Some(ALL_SLICES);
        }
    }
    Ok(keep)
}

/// The chosen model and its holdout MAE (`clv_model_selection`).
fn chosen_model(tables: &dyn RunTables) -> Result<(Option<String>, Option<f64>)> {
    let columns = [col::MODEL, col::CHOSEN, col::HOLDOUT_MAE];
    let Some(selection) = tables.table(schema::clv::CLV_MODEL_SELECTION.name, &columns)? else {
        return Ok((None, None));
    };
    let models = selection
        .column(col::MODEL)?
        .as_materialized_series()
        .str()?
        .clone();
    let chosen = selection
        .column(col::CHOSEN)?
        .as_materialized_series()
        .bool()?
        .clone();
    let mae = selection
        .column(col::HOLDOUT_MAE)?
        .as_materialized_series()
        .f64()?
        .clone();
    for i in 0..selection.height() {
        if chosen.get(i) == Some(true) {
            return Ok((models.get(i).map(str::to_string), mae.get(i)));
        }
    }
    Ok((None, None))
}

/// Every row of `clv_model`.
fn fitted_parameters(tables: &dyn RunTables) -> Result<Vec<FittedParameter>> {
    let columns = [col::MODEL, col::PARAMETER, col::VALUE, col::STD_ERROR];
    let Some(model) = tables.table(schema::clv::CLV_MODEL.name, &columns)? else {
        return Ok(Vec::new());
    };
    let text = |name: &str| -> Result<Vec<Option<String>>> {
        let values = model.column(name)?.as_materialized_series().str()?.clone();
        Ok(values.iter().map(|v| v.map(str::to_string)).collect())
    };
    let number = |name: &str| -> Result<Vec<Option<f64>>> {
        let values = model.column(name)?.cast(&DataType::Float64)?;
        Ok(values.as_materialized_series().f64()?.iter().collect())
    };
    let (models, parameters) = (text(col::MODEL)?, text(col::PARAMETER)?);
    let (values, errors) = (number(col::VALUE)?, number(col::STD_ERROR)?);
    Ok((0..model.height())
        .map(|i| FittedParameter {
            model: models[i].clone().unwrap_or_default(),
            parameter: parameters[i].clone().unwrap_or_default(),
            value: values[i],
            std_error: errors[i],
        })
        .collect())
}
