//! Inputs in object storage: a configured `s3://bucket/orders/*.csv` is
//! listed, matched against its glob (`*` and `?` within one path segment,
//! as for local files) and each object fetched once per process to a
//! local work directory, where the usual readers read it. Fetching first
//! keeps one reader for every source and lets rejects be read again; it
//! needs local disk for a copy of the input.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use object_store::ObjectMeta;

use super::{Store, WorkDir};
use crate::error::{Error, Result};
use crate::location::StoreUrl;

/// An input object, fetched.
#[derive(Debug, Clone)]
pub struct FetchedObject {
    /// Its URL, as the manifest and the rejects name it.
    pub url: String,
    /// The local copy.
    pub local: PathBuf,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// Objects fetched by this process, by URL and version, so an input that
/// is resolved twice (the run key, then the stage) is fetched once.
struct FetchCache {
    dir: WorkDir,
    fetched: HashMap<(String, Option<String>, u64), PathBuf>,
}

static FETCHED: Mutex<Option<FetchCache>> = Mutex::new(None);

/// The objects `pattern` (an object-store URL, maybe with a glob in its
/// key) names, fetched, in key order.
pub fn resolve(pattern: &StoreUrl) -> Result<Vec<FetchedObject>> {
    let store = Store::connect(pattern).map_err(|e| Error::input(pattern.to_string(), e))?;
    let objects = matching_objects(&store, pattern)?;
    if objects.is_empty() {
        return Err(Error::input(
            pattern.to_string(),
            "matches no object (is the bucket or the key right?)",
        ));
    }
    objects.iter().map(|meta| fetch(&store, meta)).collect()
}

/// The objects whose key is the pattern's key or matches its glob.
fn matching_objects(store: &Store, pattern: &StoreUrl) -> Result<Vec<ObjectMeta>> {
    let key = &pattern.key;
    let glob_at = key.find(['*', '?', '[']);
    // List from the directory above the first glob character (or the key's
    // own directory), so the listing stays small.
    let literal = &key[..glob_at.unwrap_or(key.len())];
    let directory = literal.rsplit_once('/').map_or("", |(dir, _)| dir);
    let listed = store.list(directory).map_err(as_input)?;
    let Some(_) = glob_at else {
        return Ok(listed
            .into_iter()
            .filter(|m| m.location.as_ref() == key)
            .collect());
    };
    let glob = glob::Pattern::new(key)
        .map_err(|e| Error::input(pattern.to_string(), format!("is not a valid glob: {e}")))?;
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..glob::MatchOptions::new()
    };
    Ok(listed
        .into_iter()
        .filter(|m| glob.matches_with(m.location.as_ref(), options))
        .collect())
}

/// A store error while reading an input is the input's (the store's
/// calls name what failed as an output by default).
fn as_input(e: Error) -> Error {
    match e {
        Error::Output { path, message } => Error::Input { path, message },
        other => other,
    }
}

/// One object, fetched to this process's work directory (once).
fn fetch(store: &Store, meta: &ObjectMeta) -> Result<FetchedObject> {
    let key = meta.location.as_ref();
    let url = store.url_of(key);
    let cache_key = (url.clone(), meta.e_tag.clone(), meta.size);
    let mut cache = FETCHED.lock().unwrap_or_else(|p| p.into_inner());
    if cache.is_none() {
        *cache = Some(FetchCache {
            dir: WorkDir::create()?,
            fetched: HashMap::new(),
        });
    }
    let cache = cache.as_mut().expect("created above");
    let local = match cache.fetched.get(&cache_key) {
        Some(local) => local.clone(),
        None => {
            // The object's own name last, so the extension tells the format.
            let name = key.rsplit('/').next().unwrap_or(key);
            let local = cache
                .dir
                .path()
                .join(format!("{:05}-{name}", cache.fetched.len()));
            let size = store.download(key, &local)?;
            if size != meta.size {
                return Err(Error::input(
                    &url,
                    format!(
                        "changed while it was fetched ({} bytes listed, {size} read)",
                        meta.size
                    ),
                ));
            }
            cache.fetched.insert(cache_key, local.clone());
            local
        }
    };
    Ok(FetchedObject {
        url,
        local,
        size: meta.size,
        modified: Some(meta.last_modified.into()),
    })
}

/// Removes the fetched copies (at the end of the process; a killed
/// process's copies are removed by the next run's sweep).
pub fn remove_fetched() {
    let mut cache = FETCHED.lock().unwrap_or_else(|p| p.into_inner());
    *cache = None;
}
