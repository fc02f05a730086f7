//! Fault injection for the crash-consistency tests, compiled in only with
//! the `failpoints` feature (the `fail` crate): `FAILPOINTS=NAME=return`
//! makes the process abort at crash point NAME, exactly as if it were
//! killed there; `FAILPOINTS=NAME=return` on an I/O point makes that write
//! fail with "no space left on device". Without the feature every point
//! compiles to nothing.

/// Aborts the process here when the point is armed (a simulated kill: no
/// destructors, no cleanup).
pub fn crash_point(name: &str) {
    let _ = name; // unused when the feature is off
    fail::fail_point!(name, |_| std::process::abort());
}

/// An injected "disk full" for a write, when the point is armed.
pub fn io_point(name: &str) -> std::io::Result<()> {
    let _ = name; // unused when the feature is off
    fail::fail_point!(name, |_| Err(std::io::Error::from_raw_os_error(28)));
    Ok(())
}

/// Reads `FAILPOINTS` (only with the feature); keep the guard alive for
/// the whole process.
pub fn setup() -> impl Drop {
    fail::FailScenario::setup()
}
