//! The `retention` binary: parse the command line, set up logging, run the
//! command, map errors to exit codes (0 ok, 1 run failed, 2 bad usage).

use std::io::{IsTerminal, Write};

use clap::Parser;
use tracing_subscriber::EnvFilter;

use retention::cli::{Cli, Command};
use retention::commands;
use retention::error::{log_text, terminal_text};
use retention::progress::Progress;

// mimalloc rather than the system allocator: the partitions are built on
// every thread and freed on others, which glibc's per-thread arenas keep
// as unusable free space (the peak grew by a third at 10 M orders);
// mimalloc reuses it, and allocates faster besides.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    retention::allocator::use_huge_pages(false);
    let cli = parse_command_line();
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
        .with_writer(|| TerminalSafeStderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();

    // A panic is a bug, but a nightly job must still end with a clear
    // message and exit code 1, never an abort with a half-written output
    // (nothing is published before the last step, so nothing is).
    let _faults = retention::faults::setup();
    let progress = Progress::for_terminal(cli.quiet);
    let outcome = std::panic::catch_unwind(|| dispatch(cli.command, progress));
    // Local copies of object-store inputs go with the process.
    retention::io::remote::inputs::remove_fetched();
    let result = match outcome {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            eprintln!(
                "error: internal error (a bug; please report it): {}",
                terminal_text(&message)
            );
            std::process::exit(1);
        }
    };
    if let Err(error) = result {
        // The one place errors are printed: made safe for the terminal here.
        eprintln!("error: {}", terminal_text(&error.to_string()));
        std::process::exit(error.exit_code());
    }
}

/// The parsed command line. A usage error quotes what was typed (an
/// argument may hold escape sequences), so it is printed plain and made
/// safe for the terminal; help and version go out as clap writes them.
fn parse_command_line() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            eprint!("{}", terminal_text(&error.render().to_string()));
            std::process::exit(error.exit_code());
        }
    }
}

fn dispatch(command: Command, progress: Progress) -> retention::error::Result<()> {
    match command {
        Command::Run(args) => commands::run::run(args, progress),
        Command::Cluster { role } => commands::cluster::run(role),
        Command::Validate { pipeline, set } => commands::validate::run(pipeline, &set),
        Command::Report { out } => commands::report::report(out),
        Command::Show { out } => commands::report::show(out),
        Command::Diff {
            previous,
            current,
            out,
            json,
        } => commands::diff::diff(commands::diff::DiffRequest {
            previous,
            current,
            out,
            json,
        }),
        Command::Generate(args) => commands::generate::run(args),
    }
}

/// Stderr for log records, each made safe for the terminal ([`log_text`]);
/// the formatter writes a record in one piece.
struct TerminalSafeStderr;

impl Write for TerminalSafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(log_text(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
