//! Fault injection for the crash-consistency tests, compiled in only with
//! the `failpoints` feature (the `fail` crate): `FAILPOINTS=NAME=return`
//! makes the process SIGKILL itself at crash point NAME; `FAILPOINTS=NAME=return` on an I/O point makes that write
//! fail with "no space left on device"; `FAILPOINTS=NAME=return(N)` on a
//! value point gives it the number N. Without the feature every point
//! compiles to nothing.

/// Kills the process here with SIGKILL when the point is armed: no
/// destructors, no cleanup, exactly what `kill -9` or the OOM killer does.
pub fn crash_point(name: &str) {
    let _ = name; // unused when the feature is off
    fail::fail_point!(name, |_| kill_self());
}

#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
fn kill_self() -> ! {
    // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // Not reached: SIGKILL cannot be caught.
    std::process::abort()
}

/// An injected "disk full" for a write (or a read: any I/O error will
/// do there), when the point is armed.
pub fn io_point(name: &str) -> std::io::Result<()> {
    let _ = name; // unused when the feature is off
    fail::fail_point!(name, |_| Err(std::io::Error::from_raw_os_error(28)));
    Ok(())
}

/// A number set by the tests (`FAILPOINTS=NAME=return(42)`), when the
/// point is armed: the chaos tests use it to shrink the memory budget
/// below what the command line accepts, so a small input spills.
pub fn value_point(name: &str) -> Option<u64> {
    let _ = name; // unused when the feature is off
    fail::fail_point!(name, |value| value.and_then(|v| v.parse().ok()));
    None
}

/// Reads `FAILPOINTS` (only with the feature); keep the guard alive for
/// the whole process.
pub fn setup() -> impl Drop {
    fail::FailScenario::setup()
}
