//! The command line's answer to the common mistakes, as insta snapshots:
//! each case runs the real binary (`-q`, so stderr holds the error alone)
//! and snapshots its exit code and stderr, with the temporary directory
//! masked as `[DIR]`. A changed message shows up as a snapshot diff
//! (`cargo insta review`); the exit codes are the README's (1 the run
//! failed, 2 bad usage or an invalid pipeline file).

use std::path::Path;

use crate::support::{retention, stderr, PipelineFile};

/// Three orders of two customers, every column the test pipelines map.
const ORDERS: &str = "order_id,customer_id,order_ts,amount\n\
                      A1,c1,2024-01-05,10.00\n\
                      A2,c2,2024-02-05,20.00\n\
                      A3,c1,2024-03-05,15.50\n";

/// A work directory with `orders.csv` ([`ORDERS`]).
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orders.csv"), ORDERS).unwrap();
    dir
}

/// The binary's answer to `args` run quietly in `dir`: its exit code, then
/// its stderr with `dir` masked.
fn answer(dir: &Path, args: &[&str]) -> String {
    let mut quiet = vec!["-q"];
    quiet.extend_from_slice(args);
    let o = retention(&quiet, dir);
    let code = o.status.code().map_or("none".into(), |c| c.to_string());
    let shown = stderr(&o).replace(&dir.display().to_string(), "[DIR]");
    format!("exit code: {code}\n{}", mask_run_ids(&shown))
}

/// `text` with every run id (`20261128T130053.823Z-7049`: UTC time to the
/// millisecond, then the process id) replaced by `[RUN_ID]`.
fn mask_run_ids(text: &str) -> String {
    let shape = "ddddddddTddddddXdddZ-";
    let fits = |s: &[u8]| {
        s.len() > shape.len()
            && shape.bytes().zip(s).all(|(want, got)| match want {
                b'd' => got.is_ascii_digit(),
                b'X' => *got == b'.',
                _ => want == *got,
            })
            && s[shape.len()].is_ascii_digit()
    };
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if fits(&bytes[i..]) {
            let mut end = i + shape.len();
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            out.push_str("[RUN_ID]");
            i = end;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[test]
fn run_ids_are_masked() {
    let text = "run 20261128T130053.823Z-7049 failed; see runs/20261128T130053.823Z-7049/";
    assert_eq!(
        mask_run_ids(text),
        "run [RUN_ID] failed; see runs/[RUN_ID]/"
    );
}

/// [`answer`] for `retention run pipeline.toml` with `pipeline` written to
/// `pipeline.toml` in a fresh [`workdir`].
fn run_answer(pipeline: &PipelineFile) -> String {
    let dir = workdir();
    pipeline.write(dir.path());
    answer(dir.path(), &["run", "pipeline.toml"])
}

#[test]
fn missing_pipeline_file() {
    let dir = workdir();
    insta::assert_snapshot!(answer(dir.path(), &["run", "nope.toml"]));
    insta::assert_snapshot!(
        "missing_pipeline_file_validate",
        answer(dir.path(), &["validate", "nope.toml"])
    );
}

#[test]
fn invalid_toml() {
    let dir = workdir();
    std::fs::write(dir.path().join("pipeline.toml"), "[input\npath = \"x\"\n").unwrap();
    insta::assert_snapshot!(answer(dir.path(), &["run", "pipeline.toml"]));
}

#[test]
fn unknown_key() {
    let pipeline = PipelineFile::over("orders.csv").business("activity_windows_days = 90");
    insta::assert_snapshot!(run_answer(&pipeline));
}

#[test]
fn out_of_range_values_in_one_message() {
    let pipeline = PipelineFile::over("orders.csv")
        .business("activity_window_days = 10\ncohort_period = \"month\"")
        .rest("[rejects]\nmax_reject_ratio = 2\n\n[clv]\nhorizon_months = 0\ndiscount_rate_monthly = 1.0\n\n[targets]\nhigh_clv_quantile = -0.1");
    insta::assert_snapshot!(run_answer(&pipeline));
}

#[test]
fn wrong_value_type() {
    let pipeline = PipelineFile::over("orders.csv").rest("[clv]\nhorizon_months = nan");
    insta::assert_snapshot!(run_answer(&pipeline));
}

#[test]
fn unknown_time_zone() {
    let pipeline = PipelineFile::over("orders.csv").business("time_zone = \"Europe/Atlantis\"");
    insta::assert_snapshot!(run_answer(&pipeline));
}

#[test]
fn mapped_column_missing_from_the_input() {
    let pipeline = PipelineFile::over("orders.csv").columns("dimensions = [\"channel\"]\n");
    insta::assert_snapshot!(run_answer(&pipeline));
}

#[test]
fn input_file_not_found() {
    insta::assert_snapshot!(run_answer(&PipelineFile::over("missing.csv")));
}

#[test]
fn glob_matching_nothing() {
    insta::assert_snapshot!(run_answer(&PipelineFile::over("exports/*.csv")));
}

#[test]
fn locked_output_dir() {
    let dir = workdir();
    let d = dir.path();
    PipelineFile::over("orders.csv").write(d);
    std::fs::create_dir_all(d.join("out")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(d.join("out/.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(
        d.join("out/.lock"),
        "pid 4242 started 2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    insta::assert_snapshot!(answer(d, &["run", "pipeline.toml"]));
    drop(lock);
}

#[test]
fn malformed_as_of() {
    let dir = workdir();
    PipelineFile::over("orders.csv").write(dir.path());
    let args = ["run", "pipeline.toml", "--as-of"];
    insta::assert_snapshot!(
        "malformed_as_of_word",
        answer(dir.path(), &[&args[..], &["yesterday"]].concat())
    );
    insta::assert_snapshot!(
        "malformed_as_of_month_13",
        answer(dir.path(), &[&args[..], &["2024-13-01"]].concat())
    );
    insta::assert_snapshot!(
        "malformed_as_of_out_of_range",
        answer(dir.path(), &[&args[..], &["2201-01-01"]].concat())
    );
}

#[test]
fn out_of_range_flags() {
    let dir = workdir();
    PipelineFile::over("orders.csv").write(dir.path());
    insta::assert_snapshot!(
        "out_of_range_threads",
        answer(dir.path(), &["run", "pipeline.toml", "--threads", "0"])
    );
    insta::assert_snapshot!(
        "out_of_range_customers",
        answer(
            dir.path(),
            &["generate", "--customers", "0", "--out", "x.csv"]
        )
    );
}

#[test]
fn unknown_subcommand() {
    let dir = workdir();
    insta::assert_snapshot!(answer(dir.path(), &["frobnicate"]));
}

#[test]
fn too_many_rejects() {
    let dir = workdir();
    let orders = "order_id,customer_id,order_ts,amount\n\
                  A1,c1,2024-01-05,10.00\n\
                  A2,,2024-02-05,20.00\n\
                  A3,c1,2024-03-05,abc\n";
    std::fs::write(dir.path().join("bad.csv"), orders).unwrap();
    PipelineFile::over("bad.csv").write(dir.path());
    insta::assert_snapshot!(answer(dir.path(), &["run", "pipeline.toml"]));
}

#[test]
fn calendar_too_long() {
    let dir = workdir();
    let orders = "order_id,customer_id,order_ts,amount\n\
                  A1,c1,1900-01-05,10.00\n\
                  A2,c2,2024-02-05,20.00\n";
    std::fs::write(dir.path().join("old.csv"), orders).unwrap();
    PipelineFile::over("old.csv").write(dir.path());
    insta::assert_snapshot!(answer(dir.path(), &["run", "pipeline.toml"]));
}

#[test]
fn report_and_show_without_a_run() {
    let dir = workdir();
    insta::assert_snapshot!(
        "report_without_a_run",
        answer(dir.path(), &["report", "nowhere"])
    );
    insta::assert_snapshot!(
        "show_without_a_run",
        answer(dir.path(), &["show", "nowhere"])
    );
}
