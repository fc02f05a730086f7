//! Value conversions shared by the stages' table builders: how an amount
//! and a ratio are published. In their own module so that no stage imports
//! another stage just for them.

/// Cents as currency units for publishing.
pub fn money(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// `numerator / denominator`, null when the denominator is 0 (SPEC §4).
pub fn ratio(numerator: f64, denominator: i64) -> Option<f64> {
    (denominator != 0).then(|| numerator / denominator as f64)
}
