//! Inputs and outputs in object storage, against a real S3-compatible
//! server process on loopback (support::s3): a pipeline reading
//! `s3://…` inputs and publishing to `s3://…` equals the same pipeline run
//! locally, object for object; a second writer is refused while the lease
//! is held; a run killed mid-upload leaves `current.json` alone and its
//! leftovers are swept by the next run; a pointer replaced behind a run's
//! back stops it from publishing.

use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use arrow::array::ArrayRef;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cli::ABOUT_THE_RUN;
use crate::readers::{assert_readers_agree, manifest_rows, python_read};
use crate::support::binary::{read_table, retention_command, stderr, stdout, Generate};
use crate::support::pipelines::write_pipeline;
use crate::support::s3::S3Server;

const AS_OF: &str = "2024-03-31";

/// A history of two files in `dir` (the second with one line whose amount
/// is not a number, so there is a reject to name its source), also
/// uploaded to `in/` of the server.
fn inputs(dir: &Path, server: &S3Server) {
    Generate::new(300, 11, 14)
        .start("2023-02-01")
        .write(dir, "orders-1.csv");
    let first = std::fs::read_to_string(dir.join("orders-1.csv")).unwrap();
    let header = first.lines().next().unwrap();
    let second = format!("{header}\nBAD-1,C000001,2024-01-05T10:00:00Z,twelve,organic,DE\n");
    std::fs::write(dir.join("orders-2.csv"), &second).unwrap();
    server.put("in/orders-1.csv", first.into_bytes());
    server.put("in/orders-2.csv", second.into_bytes());
}

/// A server with the two-file history under `in/`, and a pipeline over
/// it (in the returned directory, which must outlive the test's runs).
fn s3_pipeline() -> (S3Server, tempfile::TempDir, PathBuf) {
    let server = S3Server::start("shop");
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path(), &server);
    let pipeline = write_pipeline(dir.path(), &server.url("in/orders-*.csv"), "");
    (server, dir, pipeline)
}

/// The run `out/current.json` names.
fn current_run_id(server: &S3Server) -> String {
    let pointer = json(server.get("out/current.json"), "current.json");
    pointer["run_id"].as_str().unwrap().to_string()
}

/// `retention run` with the server's environment and `args`, waited for.
fn run(server: &S3Server, pipeline: &Path, args: &[&str], failpoints: &str) -> Output {
    spawn(server, pipeline, args, failpoints)
        .wait_with_output()
        .unwrap()
}

fn spawn(server: &S3Server, pipeline: &Path, args: &[&str], failpoints: &str) -> Child {
    let as_of: &[&str] = match args.contains(&"--as-of") {
        true => &[],
        false => &["--as-of", AS_OF],
    };
    retention_command()
        .arg("run")
        .arg(pipeline)
        .args(as_of)
        .args(args)
        .envs(server.env())
        .env("FAILPOINTS", failpoints)
        .current_dir(pipeline.parent().unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{}\n{}", stdout(o), stderr(o));
}

fn json(bytes: Option<Bytes>, what: &str) -> Value {
    serde_json::from_slice(&bytes.unwrap_or_else(|| panic!("{what} is missing"))).unwrap()
}

/// Run ids with objects under `out/runs/`.
fn runs_in_store(server: &S3Server) -> Vec<String> {
    let mut ids: Vec<String> = server
        .keys("out/runs")
        .iter()
        .map(|k| k.split('/').nth(2).unwrap().to_string())
        .collect();
    ids.dedup();
    ids
}

/// A Parquet file's columns, read with the `parquet` crate's Arrow reader
/// (not Polars, not the crate's own reading code).
fn parquet_columns(bytes: Bytes) -> Vec<ArrayRef> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let schema = builder.schema().clone();
    let batches: Vec<_> = builder.build().unwrap().map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&schema, &batches)
        .unwrap()
        .columns()
        .to_vec()
}

#[test]
fn an_s3_pipeline_publishes_what_the_same_local_run_publishes_and_keeps_history() {
    let server = S3Server::start("shop");
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path(), &server);
    let local = write_pipeline(dir.path(), "orders-*.csv", "");
    assert_ok(&run(&server, &local, &[], ""));
    let remote_input = server.url("in/orders-*.csv");
    let sets = [
        format!("--set=input.path={remote_input}"),
        format!("--set=output.dir={}", server.url("out")),
        "--set=output.keep_runs=2".to_string(),
        "--set=output.history=[\"kpis_monthly\"]".to_string(),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let first = run(&server, &local, &sets, "");
    assert_ok(&first);
    let run_url = |id: &str| server.url(&format!("out/runs/{id}"));

    let pointer = json(server.get("out/current.json"), "current.json");
    let run_id = pointer["run_id"].as_str().unwrap().to_string();
    assert_eq!(pointer["path"], format!("runs/{run_id}"));
    assert_eq!(pointer["url"], run_url(&run_id));
    assert_eq!(pointer["runs"], serde_json::json!([run_id]));
    assert!(
        stdout(&first).contains(&run_url(&run_id)),
        "{}",
        stdout(&first)
    );
    assert!(
        server.get("out/_lease.json").is_none(),
        "the lease is released"
    );

    // Every object the manifest lists is the bytes it records, and holds
    // the local run's values (the rejects name their source by URL).
    let manifest = json(
        server.get(&format!("out/runs/{run_id}/_manifest.json")),
        "manifest",
    );
    let inputs: Vec<&str> = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        inputs,
        [server.url("in/orders-1.csv"), server.url("in/orders-2.csv")]
    );
    let outputs = manifest["outputs"].as_array().unwrap();
    assert!(outputs.len() >= 19, "{outputs:?}");
    for output in outputs {
        let file = output["file"].as_str().unwrap();
        let table = output["table"].as_str().unwrap();
        let bytes = server.get(&format!("out/runs/{run_id}/{file}")).unwrap();
        assert_eq!(
            hex(&Sha256::digest(&bytes)),
            output["sha256"].as_str().unwrap(),
            "{file}"
        );
        if ABOUT_THE_RUN.contains(&table) {
            continue;
        }
        let mine = std::fs::read(dir.path().join("out/current").join(file)).unwrap();
        let (remote, local) = (parquet_columns(bytes), parquet_columns(mine.into()));
        if table == "rejects" {
            let source = remote[0]
                .as_any()
                .downcast_ref::<arrow::array::StringArray>();
            let source = source.map(|s| s.value(0).to_string());
            assert_eq!(
                source.as_deref(),
                Some(server.url("in/orders-2.csv").as_str())
            );
            assert_eq!(remote[1..], local[1..], "{file}");
        } else {
            assert_eq!(remote, local, "{file}");
        }
    }
    // pyarrow's own S3 client reads each table by its prefix.
    let rows = manifest_rows(&manifest);
    let prefix = format!("shop/out/runs/{run_id}");
    let reader_args: Vec<&str> = ["--s3", server.endpoint.as_str(), prefix.as_str()]
        .into_iter()
        .chain(rows.keys().map(String::as_str))
        .collect();
    let seen = python_read(&reader_args);
    let local_out = dir.path().join("out");
    assert_readers_agree(&seen, &rows, |table| {
        read_table(&local_out, table)
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect()
    });
    let views = String::from_utf8(server.get("out/views.sql").unwrap().to_vec()).unwrap();
    assert!(
        views.contains(&format!("'{}/customers/*.parquet'", run_url(&run_id))),
        "{views}"
    );

    // `show` and `report` take the output's URL.
    let show = retention_command()
        .args(["show", &server.url("out")])
        .envs(server.env())
        .output()
        .unwrap();
    assert_ok(&show);
    assert!(stdout(&show).contains(&run_id), "{}", stdout(&show));
    let report_key = format!("out/runs/{run_id}/report.html");
    server.put(&report_key, b"stale".to_vec());
    let report = retention_command()
        .args(["report", &server.url("out")])
        .envs(server.env())
        .output()
        .unwrap();
    assert_ok(&report);
    assert_eq!(stdout(&report).trim(), server.url(&report_key));
    let page = server.get(&report_key).unwrap();
    assert!(
        page.starts_with(b"<!DOCTYPE html>"),
        "the report is rebuilt"
    );

    // Unchanged inputs: nothing to do. Then two more runs: keep_runs = 2.
    let again = run(&server, &local, &sets, "");
    assert_ok(&again);
    assert!(
        stdout(&again).contains("already published"),
        "{}",
        stdout(&again)
    );
    let mut ids = vec![run_id];
    for as_of in ["2024-02-29", AS_OF] {
        let o = run(
            &server,
            &local,
            &[&sets[..], &["--force", "--as-of", as_of]].concat(),
            "",
        );
        assert_ok(&o);
        ids.push(current_run_id(&server));
    }
    let pointer = json(server.get("out/current.json"), "current.json");
    assert_eq!(pointer["runs"], serde_json::json!([ids[2], ids[1]]));
    assert_eq!(runs_in_store(&server), ids[1..].to_vec());
    assert_eq!(
        server.keys("out/history/kpis_monthly"),
        [
            "out/history/kpis_monthly/as_of=2024-02-29/part-00000.parquet",
            "out/history/kpis_monthly/as_of=2024-03-31/part-00000.parquet",
        ]
    );
    // The republished as_of holds the last run's table.
    let snapshot = server
        .get("out/history/kpis_monthly/as_of=2024-03-31/part-00000.parquet")
        .unwrap();
    let current = server
        .get(&format!(
            "out/runs/{}/kpis_monthly/part-00000.parquet",
            ids[2]
        ))
        .unwrap();
    assert_eq!(snapshot, current);
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_lease() {
    let (server, _dir, pipeline) = s3_pipeline();
    let out = server.url("out");
    let first = spawn(
        &server,
        &pipeline,
        &["--out", &out],
        "remote::leased=sleep(8000)",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get("out/_lease.json").is_none() {
        assert!(
            Instant::now() < deadline,
            "the first run never took the lease"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = run(&server, &pipeline, &["--out", &out], "");
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    let message = stderr(&second);
    assert!(message.contains("locked by another run"), "{message}");
    assert!(
        message.contains(&format!("pid {}", first.id())),
        "{message}"
    );
    let first = first.wait_with_output().unwrap();
    assert_ok(&first);
    assert_eq!(runs_in_store(&server), [current_run_id(&server)]);
    assert!(server.get("out/_lease.json").is_none());
}

#[test]
fn a_run_killed_while_uploading_leaves_current_alone_and_is_swept_by_the_next() {
    let (server, _dir, pipeline) = s3_pipeline();
    let out = server.url("out");
    let args = ["--out", out.as_str(), "--force"];
    assert_ok(&run(&server, &pipeline, &args, ""));
    let published = server.get("out/current.json").unwrap();
    let first = current_run_id(&server);
    for point in ["remote::uploading", "remote::uploaded"] {
        let killed = run(&server, &pipeline, &args, &format!("{point}=return"));
        assert_eq!(killed.status.code(), None, "{point}: killed by SIGKILL");
        assert_eq!(
            server.get("out/current.json").unwrap(),
            published,
            "{point}"
        );
        assert!(
            runs_in_store(&server).len() > 1,
            "{point}: a partial upload is left"
        );
        assert!(
            server.get("out/_lease.json").is_some(),
            "{point}: and the lease"
        );
    }
    // The dead writer's lease is taken over at once (same host, its
    // process is gone); both leftovers are removed.
    let next = run(&server, &pipeline, &args, "");
    assert_ok(&next);
    let last = current_run_id(&server);
    assert_eq!(runs_in_store(&server), [first, last]);
}

#[test]
fn a_pointer_replaced_during_the_upload_stops_the_run_from_publishing() {
    let (server, _dir, pipeline) = s3_pipeline();
    let out = server.url("out");
    let args = ["--out", out.as_str(), "--force"];
    assert_ok(&run(&server, &pipeline, &args, ""));
    let before = runs_in_store(&server);
    let writer = spawn(&server, &pipeline, &args, "remote::uploaded=sleep(8000)");
    // Its manifest is the last object uploaded before the pointer.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server
        .keys("out/runs")
        .iter()
        .any(|k| k.ends_with("_manifest.json") && !k.contains(&before[0]))
    {
        assert!(
            Instant::now() < deadline,
            "the run never finished uploading"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let intruder = b"{\"run_id\": \"someone else\"}\n".to_vec();
    server.put("out/current.json", intruder.clone());
    let refused = writer.wait_with_output().unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("replaced by another writer"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(server.get("out/current.json").unwrap().to_vec(), intruder);
    assert_eq!(runs_in_store(&server), before, "its upload is removed");
}

/// A table larger than one request is uploaded in parts (the threshold
/// lowered to S3's minimum part size) and read back whole; an input glob
/// that matches nothing fails naming the URL.
#[test]
fn a_large_table_is_uploaded_in_parts_and_a_glob_matching_nothing_is_an_error() {
    let server = S3Server::start("shop");
    let dir = tempfile::tempdir().unwrap();
    Generate::new(100_000, 12, 6)
        .start("2023-06-01")
        .write(dir.path(), "orders.csv");
    server.put(
        "in/orders.csv",
        std::fs::read(dir.path().join("orders.csv")).unwrap(),
    );
    // One model: the customers table's size above one part was measured
    // with BG/NBD's scores.
    let one_model = "\n[clv]\nmodel = \"bg_nbd\"\n";
    let pipeline = write_pipeline(dir.path(), &server.url("in/orders.csv"), one_model);
    let out = server.url("out");
    let part_bytes = 5 << 20;
    let failpoints = format!("remote::single_put_bytes=return({part_bytes})");
    let o = run(&server, &pipeline, &["--out", &out], &failpoints);
    assert_ok(&o);
    let run_id = current_run_id(&server);
    let manifest = json(
        server.get(&format!("out/runs/{run_id}/_manifest.json")),
        "manifest",
    );
    let customers = &manifest["outputs"][0];
    assert_eq!(customers["table"], "customers");
    assert!(
        customers["bytes"].as_u64().unwrap() > part_bytes,
        "{customers}"
    );
    let bytes = server
        .get(&format!("out/runs/{run_id}/customers/part-00000.parquet"))
        .unwrap();
    assert_eq!(
        hex(&Sha256::digest(&bytes)),
        customers["sha256"].as_str().unwrap()
    );
    assert_eq!(parquet_columns(bytes)[0].len(), 100_000);

    let missing = server.url("in/nothing-*.csv");
    let o = run(
        &server,
        &pipeline,
        &[
            "--out",
            &out,
            "--force",
            &format!("--set=input.path={missing}"),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&missing) && stderr(&o).contains("matches no object"),
        "{}",
        stderr(&o)
    );
    assert!(
        server.get("out/_lease.json").is_none(),
        "the lease is released on failure"
    );
    // A bucket that does not exist is the input's error.
    let no_bucket = "--set=input.path=s3://no-such-bucket/orders.csv";
    let o = run(
        &server,
        &pipeline,
        &["--out", &out, "--force", no_bucket],
        "",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("input `s3://no-such-bucket"),
        "{}",
        stderr(&o)
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
