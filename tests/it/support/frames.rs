//! A frame's column as plain values. Readers named "must be" check the
//! column's type as they read (no cast); the others cast first.

use chrono::NaiveDate;
use polars::prelude::*;

pub fn column<'a>(frame: &'a DataFrame, name: &str) -> &'a Column {
    frame
        .column(name)
        .unwrap_or_else(|_| panic!("column `{name}` missing"))
}

/// A numeric column cast to f64 (nulls fail the test).
pub fn numbers(frame: &DataFrame, name: &str) -> Vec<f64> {
    column(frame, name)
        .cast(&DataType::Float64)
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

/// A column that must be f64, without nulls.
pub fn doubles(frame: &DataFrame, name: &str) -> Vec<f64> {
    column(frame, name)
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

/// A column that must be f64, nulls as `None`.
pub fn floats(frame: &DataFrame, name: &str) -> Vec<Option<f64>> {
    column(frame, name).f64().unwrap().iter().collect()
}

/// An integer column cast to i64 (nulls fail the test).
pub fn ints(frame: &DataFrame, name: &str) -> Vec<i64> {
    column(frame, name)
        .cast(&DataType::Int64)
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

/// A column that must be text, without nulls.
/// A boolean column without nulls.
pub fn flags(frame: &DataFrame, name: &str) -> Vec<bool> {
    let values = column(frame, name).bool().unwrap();
    values.iter().map(|v| v.expect("no nulls")).collect()
}

pub fn texts(frame: &DataFrame, name: &str) -> Vec<String> {
    column(frame, name)
        .str()
        .unwrap()
        .iter()
        .map(|v| v.expect("no nulls").to_string())
        .collect()
}

/// A column that must be text, nulls as `None`.
pub fn optional_texts(frame: &DataFrame, name: &str) -> Vec<Option<String>> {
    column(frame, name)
        .str()
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

/// Any column cast to text, nulls as empty strings.
pub fn rendered_texts(frame: &DataFrame, name: &str) -> Vec<String> {
    column(frame, name)
        .cast(&DataType::String)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect()
}

/// A date column as days since 1970-01-01 (nulls fail the test).
pub fn day_numbers(frame: &DataFrame, name: &str) -> Vec<i32> {
    column(frame, name)
        .cast(&DataType::Int32)
        .unwrap()
        .i32()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

/// A date column as dates (nulls fail the test).
pub fn dates(frame: &DataFrame, name: &str) -> Vec<NaiveDate> {
    day_numbers(frame, name)
        .into_iter()
        .map(retention::time::date_of)
        .collect()
}
