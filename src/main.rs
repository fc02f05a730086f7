//! The `retention` binary: parse the command line, set up logging, run the
//! command, map errors to exit codes (0 ok, 1 run failed, 2 bad usage).

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use retention::cli::{Cli, Command};
use retention::commands;
use retention::progress::Progress;

fn main() {
    let cli = Cli::parse();
    let default_level = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("retention={default_level},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();

    // A panic is a bug, but a nightly job must still end with a clear
    // message and exit code 1, never an abort with a half-written output
    // (nothing is published before the last step, so nothing is).
    let _faults = retention::faults::setup();
    let progress = Progress::for_terminal(cli.quiet);
    let outcome = std::panic::catch_unwind(|| dispatch(cli.command, progress));
    let result = match outcome {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            eprintln!("error: internal error (a bug; please report it): {message}");
            std::process::exit(1);
        }
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
}

fn dispatch(command: Command, progress: Progress) -> retention::error::Result<()> {
    match command {
        Command::Run {
            pipeline,
            as_of,
            out,
            threads,
            force,
            timings,
        } => commands::run::run(pipeline, as_of, out, threads, force, timings, progress),
        Command::Validate { pipeline } => commands::validate::run(pipeline),
        Command::Report { run_dir } => commands::report::report(run_dir),
        Command::Show { out } => commands::report::show(out),
        Command::Generate {
            customers,
            seed,
            start,
            months,
            out,
            surveys,
            threads,
        } => commands::generate::run(customers, seed, start, months, out, surveys, threads),
    }
}
