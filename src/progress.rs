//! Progress on long runs: on a terminal, one bar per stage with the rows
//! (or files) done; elsewhere (cron, CI, a pipe) nothing at all, and the
//! plain log lines of `tracing` tell the story instead.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether bars are drawn: stderr is a terminal and the user did not ask
/// for quiet output.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Bars when stderr is a terminal, unless `quiet`.
    pub fn for_terminal(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// No bars (tests, library use).
    pub fn hidden() -> Progress {
        Progress { enabled: false }
    }

    /// A bar for one stage; `total` units (rows, files) when known.
    pub fn stage(&self, name: &str, total: Option<u64>, unit: &str) -> StageBar {
        if !self.enabled {
            return StageBar {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let template = if total.is_some() {
            format!("{{prefix:>10}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{elapsed}})")
        } else {
            "{prefix:>10} {spinner} {elapsed}".to_string()
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        StageBar { bar }
    }
}

/// One stage's bar; cleared when finished.
pub struct StageBar {
    bar: ProgressBar,
}

impl StageBar {
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
