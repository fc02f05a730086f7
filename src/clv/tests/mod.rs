//! Tests of the CLV module: spot values against independently computed
//! numbers, edge cases, optimizer behaviour, parameter recovery on simulated
//! data, parity with the `lifetimes` package, and (ignored) timings.

mod batches;
mod boundary;
mod edge_cases;
mod fitting;
mod intervals;
mod models;
mod parity;
mod sim;
mod spot_values;
mod timing;

/// Folder of the golden files, relative to `CARGO_MANIFEST_DIR`: the main
/// repo keeps them in `tests/golden/clv/`, the scratch crate this module was
/// developed in kept them in `golden/`. The first that exists is used, so the
/// module can be copied verbatim between the two.
pub(crate) fn golden_dir() -> std::path::PathBuf {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    root.join("tests/golden/clv")
}

/// |got − want| ≤ rel·|want| + abs.
#[track_caller]
pub(crate) fn assert_close(got: f64, want: f64, rel: f64, abs: f64, what: &str) {
    assert!(
        got.is_finite() && (got - want).abs() <= rel * want.abs() + abs,
        "{what}: got {got:e}, want {want:e} (rel diff {:e})",
        (got - want).abs() / want.abs().max(f64::MIN_POSITIVE)
    );
}
