//! Publishing to object storage, with the guarantees of a local output:
//!
//! - **one writer**: the [`lease`](super::lease) is taken before anything
//!   is read or computed, and confirmed before the pointer is replaced;
//! - **all or nothing**: the run is published in a local work directory
//!   as usual (every table written, read back and compared), then each
//!   file is uploaded to `OUT/runs/RUN_ID/…` and read back, its SHA-256
//!   compared with the local file's, the manifest last; only then is the
//!   pointer object `OUT/current.json` replaced, by a put conditional on
//!   the version read when the run started (create-only when there was
//!   none). Readers that follow `current.json` see the old run or the new
//!   one, never a mix;
//! - **crash leftovers swept**: `current.json` lists the published runs it
//!   keeps (`runs`, newest first); any other `OUT/runs/RUN_ID/` prefix is a
//!   killed or refused upload, removed by the next run that holds the
//!   lease, as are runs beyond `keep_runs`.
//!
//! The run directory's layout is the local one, so a reader of
//! `OUT/runs/RUN_ID/customers/*.parquet` reads the same files.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use object_store::PutMode;
use serde::{Deserialize, Serialize};

use super::lease::{self, Lease};
use super::{Put, Store};
use crate::error::{Error, Result};
use crate::io::history::{is_expired, partition_name, HistoryPlan, HISTORY_DIR};
use crate::io::publish::{sha256_file, CURRENT_JSON, MANIFEST_FILE};
use crate::io::views::{table_dirs, views_sql, VIEWS_FILE};
use crate::location::StoreUrl;

/// `OUT/current.json` in object storage: the current run and the runs
/// kept, newest first (the current one among them).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pointer {
    run_id: String,
    /// The run's prefix, relative to OUT (as in a local `current.json`).
    path: String,
    /// The run's full URL.
    #[serde(default)]
    url: String,
    #[serde(default)]
    runs: Vec<String>,
}

/// A remote output held by this process: its store, its lease, and the
/// pointer as it was when the lease was taken.
pub struct RemoteOutput {
    store: Store,
    url: StoreUrl,
    lease: Lease,
    pointer: Option<(Pointer, object_store::UpdateVersion)>,
}

/// A run published to object storage.
pub struct RemotePublished {
    pub url: String,
    pub warnings: Vec<String>,
    pub removed: Vec<String>,
}

impl RemoteOutput {
    /// Connects, takes the lease (or fails naming its holder) and reads
    /// the pointer.
    pub fn open(url: &StoreUrl) -> Result<RemoteOutput> {
        let store = Store::connect(url).map_err(|e| Error::output(url.to_string(), e))?;
        let lease = lease::acquire(&store, url)?;
        crate::faults::crash_point("remote::leased");
        let pointer_key = url.key_of(CURRENT_JSON);
        let pointer = match store.get(&pointer_key)? {
            None => None,
            Some(fetched) => {
                let pointer = serde_json::from_slice(&fetched.bytes).map_err(|e| {
                    Error::output(store.url_of(&pointer_key), format!("does not parse: {e}"))
                })?;
                Some((pointer, fetched.version))
            }
        };
        Ok(RemoteOutput {
            store,
            url: url.clone(),
            lease,
            pointer,
        })
    }

    /// The run current.json points at, if any.
    pub fn current_run_id(&self) -> Option<&str> {
        self.pointer.as_ref().map(|(p, _)| p.run_id.as_str())
    }

    /// Makes `local_out` look like a local output whose current run is the
    /// remote one, as far as the next run reads it: its manifest and the
    /// named tables (the ones the comparison reads), under
    /// `runs/RUN_ID/`, and the `current` link.
    pub fn stage_current(&self, local_out: &Path, tables: &[&str]) -> Result<()> {
        let Some((pointer, _)) = &self.pointer else {
            return Ok(());
        };
        let run_key = self.url.key_of(&pointer.path);
        let local_run = local_out.join("runs").join(&pointer.run_id);
        create_dir(&local_run)?;
        self.store.download(
            &format!("{run_key}/{MANIFEST_FILE}"),
            &local_run.join(MANIFEST_FILE),
        )?;
        for table in tables {
            let prefix = format!("{run_key}/{table}");
            for object in self.store.list(&prefix)? {
                let key = object.location.as_ref();
                let relative = key.strip_prefix(&format!("{run_key}/")).unwrap_or(key);
                let local = local_run.join(relative);
                create_dir(local.parent().unwrap_or(&local_run))?;
                self.store.download(key, &local)?;
            }
        }
        let link = local_out.join("current");
        std::os::unix::fs::symlink(Path::new("runs").join(&pointer.run_id), &link)
            .map_err(|e| Error::output(&link, format!("cannot create link: {e}")))
    }

    /// Uploads the locally published run `run_dir`, verifies every object,
    /// and makes it current. An error means `current.json` was not
    /// replaced; what was uploaded is removed (or swept by the next run).
    pub fn publish(
        mut self,
        run_dir: &Path,
        run_id: &str,
        keep_runs: usize,
        history: (&HistoryPlan, NaiveDate),
    ) -> Result<RemotePublished> {
        let run_path = format!("runs/{run_id}");
        let run_key = self.url.key_of(&run_path);
        let uploaded = self.upload_run(run_dir, &run_key).and_then(|()| {
            crate::faults::crash_point("remote::uploaded");
            self.lease.confirm(&self.store)?;
            self.replace_pointer(run_id, &run_path, keep_runs)
        });
        let pointer = match uploaded {
            Ok(pointer) => pointer,
            Err(e) => {
                // Never the run the pointer names, whatever failed.
                if !self.pointer_names(run_id) {
                    self.remove_prefix(&run_key);
                }
                self.lease.release(&self.store);
                return Err(e);
            }
        };
        let mut published = RemotePublished {
            url: self.store.url_of(&run_key),
            warnings: Vec::new(),
            removed: Vec::new(),
        };
        // Published: from here on problems are warnings.
        self.after_publishing(run_dir, &pointer, &mut published);
        let (plan, as_of) = history;
        self.append_history(run_dir, plan, as_of, &mut published);
        self.lease.release(&self.store);
        Ok(published)
    }

    /// Releases the lease without publishing (the run was already
    /// published, or failed).
    pub fn release(self) {
        self.lease.release(&self.store);
    }

    /// Every file of the run directory, each read back and compared; the
    /// manifest (which marks a run complete) last.
    fn upload_run(&self, run_dir: &Path, run_key: &str) -> Result<()> {
        let mut files = files_below(run_dir)?;
        files.sort_by_key(|relative| relative == MANIFEST_FILE);
        for (index, relative) in files.iter().enumerate() {
            let local = run_dir.join(relative);
            let key = format!("{run_key}/{relative}");
            self.store.upload(&local, &key)?;
            self.verify(&local, &key)?;
            if index == 0 {
                crate::faults::crash_point("remote::uploading");
            }
        }
        Ok(())
    }

    /// The object at `key` has exactly the bytes of `local`.
    fn verify(&self, local: &Path, key: &str) -> Result<()> {
        use sha2::{Digest, Sha256};
        let fetched = self.store.get(key)?.ok_or_else(|| {
            Error::output(
                self.store.url_of(key),
                "uploaded but not found when read back",
            )
        })?;
        let remote = crate::io::publish::hex(&Sha256::digest(&fetched.bytes));
        if remote != sha256_file(local)? {
            return Err(Error::output(
                self.store.url_of(key),
                "read back with other bytes than were uploaded: the run is not published",
            ));
        }
        Ok(())
    }

    /// Replaces `current.json` if it is still the version read at the
    /// start (creates it if there was none); the new pointer.
    fn replace_pointer(&self, run_id: &str, run_path: &str, keep_runs: usize) -> Result<Pointer> {
        let mut runs = vec![run_id.to_string()];
        if let Some((previous, _)) = &self.pointer {
            // A pointer without a list (a local output copied to the
            // store) still keeps the run it names.
            let previous_runs = match previous.runs.is_empty() {
                true => std::slice::from_ref(&previous.run_id),
                false => previous.runs.as_slice(),
            };
            runs.extend(previous_runs.iter().filter(|r| *r != run_id).cloned());
        }
        runs.truncate(keep_runs.max(1));
        let pointer = Pointer {
            run_id: run_id.to_string(),
            path: run_path.to_string(),
            url: self.store.url_of(&self.url.key_of(run_path)),
            runs,
        };
        let mode = match &self.pointer {
            Some((_, version)) => PutMode::Update(version.clone()),
            None => PutMode::Create,
        };
        let key = self.url.key_of(CURRENT_JSON);
        let mut bytes = serde_json::to_vec_pretty(&pointer)
            .map_err(|e| Error::output(self.store.url_of(&key), format!("cannot encode: {e}")))?;
        bytes.push(b'\n');
        let put = self.store.put(&key, bytes, mode);
        if let Ok(Put::Written(_)) = put {
            return Ok(pointer);
        }
        // A put whose reply was lost can have been applied (and its retry
        // then refused): the pointer itself says whether this run is
        // published.
        if self.pointer_names(run_id) {
            return Ok(pointer);
        }
        put?;
        Err(Error::output(
            self.store.url_of(&key),
            "was replaced by another writer during this run: this run is not published",
        ))
    }

    /// Whether `current.json` names `run_id` now (false when it cannot be
    /// read: then the run counts as not published).
    fn pointer_names(&self, run_id: &str) -> bool {
        let key = self.url.key_of(CURRENT_JSON);
        let read = self.store.get(&key).ok().flatten();
        read.and_then(|f| serde_json::from_slice::<Pointer>(&f.bytes).ok())
            .is_some_and(|p| p.run_id == run_id)
    }

    /// After the pointer: the views script, and runs that are neither
    /// listed in the pointer nor being written (the lease is ours) removed.
    fn after_publishing(&self, run_dir: &Path, pointer: &Pointer, published: &mut RemotePublished) {
        crate::faults::crash_point("remote::published");
        if let Err(e) = self.upload_views(run_dir, pointer) {
            published.warnings.push(e.to_string());
        }
        match self.unlisted_runs(pointer) {
            Ok(unlisted) => {
                for run_id in unlisted {
                    let key = self.url.key_of(&format!("runs/{run_id}"));
                    match self.remove_objects(&key) {
                        Ok(()) => published.removed.push(run_id),
                        Err(e) => published
                            .warnings
                            .push(format!("cannot remove old run: {e}")),
                    }
                }
            }
            Err(e) => published
                .warnings
                .push(format!("cannot list old runs: {e}")),
        }
    }

    /// `[output] history` in object storage: each selected table's parts
    /// uploaded to `OUT/history/<table>/as_of=YYYY-MM-DD/` (and read back),
    /// then the parts an earlier snapshot of that as_of had beyond these
    /// removed, then partitions older than `history_keep_days`. A store
    /// has no atomic rename of a directory: while a republished as_of is
    /// replaced, a reader may see some parts new and some old (each part
    /// object is replaced atomically).
    fn append_history(
        &self,
        run_dir: &Path,
        plan: &HistoryPlan,
        as_of: NaiveDate,
        published: &mut RemotePublished,
    ) {
        for table in plan.tables {
            let table_key = self.url.key_of(&format!("{HISTORY_DIR}/{table}"));
            let snapshot = self
                .snapshot_table(&run_dir.join(table), &table_key, as_of)
                .and_then(|()| self.prune_history(&table_key, as_of, plan.keep_days));
            if let Err(e) = snapshot {
                published
                    .warnings
                    .push(format!("history of `{table}`: {e}"));
            }
        }
        crate::faults::crash_point("remote::history");
    }

    fn snapshot_table(&self, table_dir: &Path, table_key: &str, as_of: NaiveDate) -> Result<()> {
        let partition = format!("{table_key}/{}", partition_name(as_of));
        let parts = files_below(table_dir)?;
        for part in &parts {
            let (local, key) = (table_dir.join(part), format!("{partition}/{part}"));
            self.store.upload(&local, &key)?;
            self.verify(&local, &key)?;
        }
        for object in self.store.list(&partition)? {
            let key = object.location.as_ref();
            let part = key.strip_prefix(&format!("{partition}/")).unwrap_or(key);
            if !parts.iter().any(|p| p == part) {
                self.store.delete(key)?;
            }
        }
        Ok(())
    }

    fn prune_history(
        &self,
        table_key: &str,
        as_of: NaiveDate,
        keep_days: Option<u32>,
    ) -> Result<()> {
        let Some(days) = keep_days else {
            return Ok(());
        };
        for object in self.store.list(table_key)? {
            let key = object.location.as_ref();
            let partition = key
                .strip_prefix(&format!("{table_key}/"))
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default();
            if is_expired(partition, as_of, days) {
                self.store.delete(key)?;
            }
        }
        Ok(())
    }

    fn upload_views(&self, run_dir: &Path, pointer: &Pointer) -> Result<()> {
        let tables = table_dirs(run_dir)?;
        let mut sql = views_sql(&pointer.url, &tables, &pointer.run_id);
        sql.push_str(
            "-- In object storage: DuckDB needs its httpfs extension and credentials\n\
             -- (CREATE SECRET) to read these paths.\n",
        );
        let key = self.url.key_of(VIEWS_FILE);
        self.store
            .put(&key, sql.into_bytes(), PutMode::Overwrite)
            .map(|_| ())
    }

    /// Run ids with objects under `OUT/runs/` that the pointer does not list.
    fn unlisted_runs(&self, pointer: &Pointer) -> Result<Vec<String>> {
        let runs_key = self.url.key_of("runs");
        let mut ids: Vec<String> = self
            .store
            .list(&runs_key)?
            .iter()
            .filter_map(|object| {
                let relative = object
                    .location
                    .as_ref()
                    .strip_prefix(&format!("{runs_key}/"))?;
                Some(relative.split('/').next()?.to_string())
            })
            .filter(|id| crate::io::publish::is_run_id(id) && !pointer.runs.contains(id))
            .collect();
        ids.dedup();
        Ok(ids)
    }

    /// Removes every object below `prefix`.
    fn remove_objects(&self, prefix: &str) -> Result<()> {
        for object in self.store.list(prefix)? {
            self.store.delete(object.location.as_ref())?;
        }
        Ok(())
    }

    /// Best effort, on a failed publish: the next run sweeps what is left.
    fn remove_prefix(&self, prefix: &str) {
        if let Err(e) = self.remove_objects(prefix) {
            tracing::warn!("an unpublished upload is left for the next run to sweep: {e}");
        }
    }
}

/// A published run in object storage, fetched whole to a local directory
/// (for `retention show` and `retention report`).
pub struct FetchedRun {
    store: Store,
    run_key: String,
}

impl FetchedRun {
    /// Fetches the run `url` names: an output root's current run (by its
    /// `current.json`), or a run prefix (`OUT/runs/RUN_ID`), into `local`.
    pub fn fetch(url: &StoreUrl, local: &Path) -> Result<FetchedRun> {
        let store = Store::connect(url).map_err(|e| Error::input(url.to_string(), e))?;
        let run_key = match store.get(&url.key_of(CURRENT_JSON))? {
            Some(fetched) => {
                let pointer: Pointer = serde_json::from_slice(&fetched.bytes).map_err(|e| {
                    Error::input(
                        url.to_string(),
                        format!("{CURRENT_JSON} does not parse: {e}"),
                    )
                })?;
                url.key_of(&pointer.path)
            }
            None => url.key.clone(),
        };
        let objects = store.list(&run_key)?;
        let manifest = format!("{run_key}/{MANIFEST_FILE}");
        if !objects.iter().any(|o| o.location.as_ref() == manifest) {
            return Err(Error::input(
                url.to_string(),
                "no published run here: expected OUT/current.json or a run with _manifest.json",
            ));
        }
        for object in &objects {
            let key = object.location.as_ref();
            let relative = key.strip_prefix(&format!("{run_key}/")).unwrap_or(key);
            let path = local.join(relative);
            create_dir(path.parent().unwrap_or(local))?;
            store.download(key, &path)?;
        }
        Ok(FetchedRun { store, run_key })
    }

    /// The run's URL.
    pub fn url(&self) -> String {
        self.store.url_of(&self.run_key)
    }

    /// Replaces one file of the run (the rebuilt report); its URL.
    pub fn replace(&self, name: &str, bytes: Vec<u8>) -> Result<String> {
        let key = format!("{}/{name}", self.run_key);
        self.store.put(&key, bytes, PutMode::Overwrite)?;
        Ok(self.store.url_of(&key))
    }
}

/// The files below `dir`, as `/`-separated paths relative to it, sorted.
fn files_below(dir: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        let entries = std::fs::read_dir(&here)
            .map_err(|e| Error::output(&here, format!("cannot list: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::output(&here, format!("cannot list: {e}")))?;
            let path = relative.join(entry.file_name());
            let kind = entry
                .file_type()
                .map_err(|e| Error::output(entry.path(), format!("cannot inspect: {e}")))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                found.push(path.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    Ok(found)
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, format!("cannot create: {e}")))
}
