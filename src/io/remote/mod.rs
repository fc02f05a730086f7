//! Object storage (`s3://`, `gs://`, `az://`) through the `object_store`
//! crate: a blocking [`Store`] over its async client, for the order and
//! survey inputs ([`inputs`]: listed, matched against the glob and fetched
//! to a local directory before reading) and for the output ([`output`]:
//! the run is published locally in a work directory, uploaded, verified,
//! and made current by replacing one pointer object; [`lease`] keeps a
//! second writer out).
//!
//! Credentials and endpoints come from the environment the way each
//! store's own tools read them (`AWS_*`, `GOOGLE_*`, `AZURE_*`, and for S3
//! also the shared `~/.aws/credentials` and `~/.aws/config` files), never
//! from the pipeline file.

pub mod aws_files;
pub mod inputs;
pub mod lease;
pub mod output;

use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};

use crate::error::{Error, Result};
use crate::location::StoreUrl;

/// Objects up to this size are uploaded in one request; larger ones in
/// parts of this size (S3's minimum part is 5 MiB).
const SINGLE_PUT_BYTES: usize = 16 << 20;

/// One bucket of an object store, used from synchronous code: every call
/// blocks on a small runtime of its own.
pub struct Store {
    client: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    root: StoreUrl,
}

/// An object read whole, with the version a conditional put must match.
pub struct Fetched {
    pub bytes: Bytes,
    pub version: UpdateVersion,
}

/// How a conditional put ended: written (with the new version), or refused
/// because the object was not the version the put was conditional on.
pub enum Put {
    Written(UpdateVersion),
    Conflict,
}

impl Store {
    /// A client for the bucket of `url`, configured from the environment;
    /// the error says why there is none (the caller knows whether `url` is
    /// an input or the output).
    pub fn connect(url: &StoreUrl) -> std::result::Result<Store, String> {
        let root = StoreUrl {
            key: String::new(),
            ..url.clone()
        };
        let client =
            build_client(&root).map_err(|e| format!("cannot set up the store client: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the store client: {e}"))?;
        Ok(Store {
            client,
            runtime,
            root,
        })
    }

    /// The URL of `key` in this store, for messages and the manifest.
    pub fn url_of(&self, key: &str) -> String {
        self.root.url_of(key)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn fail(&self, key: &str, what: &str, e: object_store::Error) -> Error {
        Error::output(self.url_of(key), format!("cannot {what}: {e}"))
    }

    /// The object at `key`, or `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<Fetched>> {
        let location = ObjectPath::from(key);
        let read = self.block_on(async {
            let got = self.client.get(&location).await?;
            let version = UpdateVersion {
                e_tag: got.meta.e_tag.clone(),
                version: got.meta.version.clone(),
            };
            Ok::<_, object_store::Error>((got.bytes().await?, version))
        });
        match read {
            Ok((bytes, version)) => Ok(Some(Fetched { bytes, version })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(key, "read", e)),
        }
    }

    /// Writes `bytes` at `key` under `mode`; a create over an existing
    /// object or an update of a changed one is a [`Put::Conflict`].
    pub fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Put> {
        let location = ObjectPath::from(key);
        let options = PutOptions::from(mode);
        let put = self.block_on(self.client.put_opts(&location, bytes.into(), options));
        match put {
            Ok(result) => Ok(Put::Written(result.into())),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(Put::Conflict),
            Err(e) => Err(self.fail(key, "write", e)),
        }
    }

    /// Uploads the local file `path` to `key` (in parts when it is large).
    pub fn upload(&self, path: &Path, key: &str) -> Result<()> {
        let mut file = std::fs::File::open(path)
            .map_err(|e| Error::output(path, format!("cannot open for upload: {e}")))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0) as usize;
        let location = ObjectPath::from(key);
        // Tests lower the threshold to upload small files in parts.
        let part_bytes = crate::faults::value_point("remote::single_put_bytes")
            .map_or(SINGLE_PUT_BYTES, |n| n as usize);
        let mut chunk = vec![0u8; part_bytes.min(size.max(1))];
        if size <= part_bytes {
            file.read_exact(&mut chunk[..size])
                .map_err(|e| Error::output(path, format!("cannot read for upload: {e}")))?;
            chunk.truncate(size);
            return self
                .block_on(self.client.put(&location, chunk.into()))
                .map(|_| ())
                .map_err(|e| self.fail(key, "upload", e));
        }
        self.block_on(async {
            let upload = self.client.put_multipart(&location).await?;
            let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, part_bytes);
            let written = write_parts(&mut writer, &mut file, &mut chunk).await;
            match written {
                Ok(()) => writer.finish().await.map(|_| ()),
                Err(e) => {
                    // An unfinished multipart upload is billed until aborted.
                    let _ = writer.abort().await;
                    Err(e)
                }
            }
        })
        .map_err(|e| self.fail(key, "upload", e))
    }

    /// Downloads `key` into the new local file `path`; returns its size.
    pub fn download(&self, key: &str, path: &Path) -> Result<u64> {
        let location = ObjectPath::from(key);
        let mut file = std::fs::File::create(path)
            .map_err(|e| Error::input(path, format!("cannot create: {e}")))?;
        let written = self.block_on(async {
            let mut stream = self.client.get(&location).await?.into_stream();
            let mut written = 0u64;
            while let Some(bytes) = stream.next().await {
                let bytes = bytes?;
                file.write_all(&bytes)
                    .map_err(|e| object_store::Error::Generic {
                        store: "local file",
                        source: Box::new(e),
                    })?;
                written += bytes.len() as u64;
            }
            Ok::<_, object_store::Error>(written)
        });
        written.map_err(|e| Error::input(self.url_of(key), format!("cannot download: {e}")))
    }

    /// Every object whose key starts with the directory `prefix` (all of
    /// the bucket for an empty prefix), in key order.
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let location = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let listed: object_store::Result<Vec<ObjectMeta>> = self.block_on(async {
            let mut stream = self.client.list(location.as_ref());
            let mut found = Vec::new();
            while let Some(meta) = stream.next().await {
                found.push(meta?);
            }
            Ok(found)
        });
        let mut listed = listed.map_err(|e| self.fail(prefix, "list", e))?;
        listed.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(listed)
    }

    /// Removes the object at `key` (no error when it is already gone).
    pub fn delete(&self, key: &str) -> Result<()> {
        match self.block_on(self.client.delete(&ObjectPath::from(key))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail(key, "delete", e)),
        }
    }
}

/// Writes the rest of `file` into a multipart upload, a chunk at a time,
/// with at most four parts in flight.
async fn write_parts(
    writer: &mut object_store::WriteMultipart,
    file: &mut std::fs::File,
    chunk: &mut [u8],
) -> object_store::Result<()> {
    loop {
        let n = file.read(chunk).map_err(|e| object_store::Error::Generic {
            store: "local file",
            source: Box::new(e),
        })?;
        if n == 0 {
            return Ok(());
        }
        writer.wait_for_capacity(4).await?;
        writer.write(&chunk[..n]);
    }
}

/// The store client for a `scheme://bucket` URL: each store's builder,
/// reading the environment (and, for S3, the shared AWS files).
fn build_client(root: &StoreUrl) -> object_store::Result<Arc<dyn ObjectStore>> {
    let url = root.root();
    Ok(match root.scheme.as_str() {
        "s3" | "s3a" => {
            let mut builder = AmazonS3Builder::from_env();
            for (key, value) in aws_files::settings_not_in_env() {
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.with_url(url).build()?)
        }
        "gs" => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .build()?,
        ),
        _ => Arc::new(MicrosoftAzureBuilder::from_env().with_url(url).build()?),
    })
}

/// A process's own local directory for what it fetches from or stages
/// for object storage (`TMPDIR/retention-work-PID-NANOS`), removed when
/// dropped; a killed process's directory is removed by the next run
/// ([`sweep_work_dirs`]).
pub struct WorkDir {
    path: PathBuf,
}

/// Names of work directories: `retention-work-PID-NANOS`, so a later run can tell
/// whether the process that made one is still alive.
const WORK_DIR_PREFIX: &str = "retention-work-";

impl WorkDir {
    pub fn create() -> Result<WorkDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!("{WORK_DIR_PREFIX}{}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(name);
        // Not create_dir_all: in a shared temporary directory the
        // directory must be new, so it is ours.
        std::fs::create_dir(&path)
            .map_err(|e| Error::output(&path, format!("cannot create a work directory: {e}")))?;
        Ok(WorkDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes the work directories of processes that are gone (killed runs).
pub fn sweep_work_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(WORK_DIR_PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, nanos)| nanos.bytes().all(|b| b.is_ascii_digit()).then_some(pid))
            .and_then(|pid| pid.parse::<i32>().ok());
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if let Some(pid) = pid.filter(|&pid| is_dir && !lease::process_alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
            tracing::debug!(pid, "removed a killed run's work directory");
        }
    }
}
