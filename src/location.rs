//! Where a configured path points: a local path, or an object in a cloud
//! store (`s3://bucket/key`, `gs://…`, `az://…`). Only the text is looked
//! at here; `io::remote` talks to the stores. `config` needs the
//! distinction too (a URL is not resolved against the pipeline file's
//! directory), and config may not import `io`.

use std::path::Path;

/// The URL schemes `io::remote` reads and writes, as `object_store` names
/// them: Amazon S3 and S3-compatible servers, Google Cloud Storage, Azure
/// Blob Storage and Data Lake.
const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "azure", "abfs", "abfss"];

/// An object-store URL split into the store (`scheme://bucket`) and the
/// key inside it (no leading `/`; empty for the bucket's root; may hold a
/// glob for an input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    pub scheme: String,
    pub bucket: String,
    pub key: String,
}

impl StoreUrl {
    /// `Some` when `text` starts with one of the store schemes and names a
    /// bucket; a local path (or any other text) is `None`.
    pub fn parse(text: &str) -> Option<StoreUrl> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if !SCHEMES.contains(&scheme.as_str()) {
            return None;
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(StoreUrl {
            scheme,
            bucket: bucket.to_string(),
            key: key.trim_matches('/').to_string(),
        })
    }

    /// A path that holds an object-store URL (`--out s3://…` arrives as a
    /// path), as a `StoreUrl`.
    pub fn of_path(path: &Path) -> Option<StoreUrl> {
        StoreUrl::parse(path.to_str()?)
    }

    /// `scheme://bucket`: what the store client is built from.
    pub fn root(&self) -> String {
        format!("{}://{}", self.scheme, self.bucket)
    }

    /// The key `relative` below this one (`a/b` + `c/d` = `a/b/c/d`).
    pub fn key_of(&self, relative: &str) -> String {
        match (self.key.is_empty(), relative.is_empty()) {
            (true, _) => relative.to_string(),
            (false, true) => self.key.clone(),
            (false, false) => format!("{}/{relative}", self.key),
        }
    }

    /// The full URL of a key of this store.
    pub fn url_of(&self, key: &str) -> String {
        format!("{}/{key}", self.root())
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url_of(&self.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_split_into_bucket_and_key_and_paths_are_not_urls() {
        let url = StoreUrl::parse("s3://shop-data/retention/out/").unwrap();
        assert_eq!(url.root(), "s3://shop-data");
        assert_eq!(url.key, "retention/out");
        assert_eq!(url.key_of("runs/x"), "retention/out/runs/x");
        assert_eq!(url.to_string(), "s3://shop-data/retention/out");
        let bare = StoreUrl::parse("GS://bucket").unwrap();
        assert_eq!((bare.scheme.as_str(), bare.key.as_str()), ("gs", ""));
        assert_eq!(bare.key_of("current.json"), "current.json");
        for local in [
            "out",
            "/data/s3://x",
            "file:///tmp/x",
            "http://host/x",
            "s3://",
            "s3:///key",
            "C:\\data",
        ] {
            assert_eq!(StoreUrl::parse(local), None, "{local}");
        }
        assert!(StoreUrl::of_path(Path::new("az://container/orders/*.csv")).is_some());
    }
}
