//! One module per subcommand, each with a `run` function.

pub mod cluster;
pub mod diff;
pub mod generate;
pub mod report;
pub mod run;
pub mod validate;

/// Sizes the thread pools (Polars' and rayon's) before either starts.
pub fn set_threads(threads: Option<usize>) {
    if let Some(n) = threads.filter(|&n| n > 0) {
        // Polars reads this once, when its pool first starts.
        std::env::set_var("POLARS_MAX_THREADS", n.to_string());
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
}
