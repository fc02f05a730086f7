//! One writer at a time on a remote output: the lease object
//! `OUT/_lease.json`, the object-store counterpart of a local output's
//! `flock`ed `.lock` file.
//!
//! A run creates the object with a create-only put (S3 `If-None-Match: *`,
//! GCS generation 0, Azure `If-None-Match: *`): of two writers exactly one
//! succeeds, the other is refused naming the holder. The holder renews it
//! every [`RENEW_EVERY`] with a put conditional on the version it wrote
//! last, so a taken-over lease is noticed, and deletes it when done. A
//! lease that was not renewed for [`LEASE_SECONDS`] (its writer was
//! killed, or lost the network) may be taken over with a put conditional
//! on the stale version; so may one held by a process of this host that
//! no longer exists, at once. Expiry compares wall clocks of different
//! machines: they must agree to well within [`LEASE_SECONDS`].

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::{PutMode, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::{Put, Store};
use crate::error::{Error, Result};
use crate::location::StoreUrl;

/// The lease object, in the output's root.
pub const LEASE_OBJECT: &str = "_lease.json";

/// How long a lease stays valid without renewal.
const LEASE_SECONDS: i64 = 120;

/// How often the holder renews it.
const RENEW_EVERY: Duration = Duration::from_secs(30);

/// What the lease object says: who holds it and until when.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseRecord {
    host: String,
    pid: u32,
    acquired: DateTime<Utc>,
    expires: DateTime<Utc>,
}

impl LeaseRecord {
    fn describe(&self) -> String {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        format!(
            "pid {} on {} since {}, held until {}",
            self.pid,
            self.host,
            time(&self.acquired),
            time(&self.expires)
        )
    }

    fn is_same_holder(&self, other: &LeaseRecord) -> bool {
        (&self.host, self.pid, self.acquired) == (&other.host, other.pid, other.acquired)
    }

    /// Expired, or held by a process of this host that is gone.
    fn is_stale(&self, now: DateTime<Utc>) -> bool {
        self.expires < now
            || (self.host == host_name()
                && i32::try_from(self.pid).is_ok_and(|pid| !process_alive(pid)))
    }
}

/// The holder's view of its lease, shared with the renewing thread.
struct Held {
    version: UpdateVersion,
    /// Another writer replaced the lease: this run must not publish.
    lost: bool,
    stop: bool,
}

/// A held lease, renewed in the background until released or dropped.
pub struct Lease {
    url: StoreUrl,
    key: String,
    record: LeaseRecord,
    held: Arc<(Mutex<Held>, Condvar)>,
    renewer: Option<JoinHandle<()>>,
}

/// Takes the lease of the output at `url`, or fails naming the process
/// that holds it (exit 1, nothing touched).
pub fn acquire(store: &Store, url: &StoreUrl) -> Result<Lease> {
    let key = url.key_of(LEASE_OBJECT);
    let record = LeaseRecord {
        host: host_name(),
        pid: std::process::id(),
        acquired: Utc::now(),
        expires: Utc::now() + chrono::Duration::seconds(LEASE_SECONDS),
    };
    let refused = |holder: String| Error::Locked {
        path: store.url_of(&key).into(),
        holder,
    };
    let mut mode = PutMode::Create;
    for _attempt in 0..3 {
        if let Put::Written(version) = store.put(&key, encode(&record)?, mode.clone())? {
            return Lease::start(url, key, record, version);
        }
        let Some(existing) = store.get(&key)? else {
            // Released between the put and the read: try again.
            mode = PutMode::Create;
            continue;
        };
        match serde_json::from_slice::<LeaseRecord>(&existing.bytes) {
            // Our own put, applied although its reply was lost.
            Ok(other) if other.is_same_holder(&record) => {
                return Lease::start(url, key, record, existing.version);
            }
            Ok(other) if other.is_stale(Utc::now()) => {
                tracing::warn!("taking over a stale lease: {}", other.describe());
                mode = PutMode::Update(existing.version);
            }
            Ok(other) => return Err(refused(other.describe())),
            Err(_) => {
                return Err(refused(
                    "an unreadable lease object; remove it if no run is writing".to_string(),
                ))
            }
        }
    }
    Err(refused(
        "another writer took it while this run tried".to_string(),
    ))
}

fn encode(record: &LeaseRecord) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(record)
        .map_err(|e| Error::output(LEASE_OBJECT, format!("cannot encode the lease: {e}")))
}

impl Lease {
    fn start(
        url: &StoreUrl,
        key: String,
        record: LeaseRecord,
        version: UpdateVersion,
    ) -> Result<Lease> {
        let held = Arc::new((
            Mutex::new(Held {
                version,
                lost: false,
                stop: false,
            }),
            Condvar::new(),
        ));
        let renewer = {
            let (url, key, held) = (url.clone(), key.clone(), held.clone());
            let record = record.clone();
            std::thread::Builder::new()
                .name("lease".into())
                .spawn(move || renew_until_stopped(&url, &key, record, &held))
                .map_err(|e| Error::io("cannot start the lease renewal", e))?
        };
        Ok(Lease {
            url: url.clone(),
            key,
            record,
            held,
            renewer: Some(renewer),
        })
    }

    /// Renews the lease now; an error when it was lost or cannot be
    /// renewed, so the caller does not publish. After `Ok`, this run holds
    /// the output for at least [`LEASE_SECONDS`] more.
    pub fn confirm(&mut self, store: &Store) -> Result<()> {
        let (lock, _) = &*self.held;
        let mut held = lock.lock().unwrap_or_else(|p| p.into_inner());
        renew(store, &self.key, &mut self.record, &mut held)?;
        if held.lost {
            return Err(Error::Locked {
                path: store.url_of(&self.key).into(),
                holder: "another writer took over this run's lease; nothing was published".into(),
            });
        }
        Ok(())
    }

    /// Stops renewing and deletes the lease object, unless another writer
    /// holds it now.
    pub fn release(mut self, store: &Store) {
        let lost = self.stop_renewing();
        if !lost {
            let still_ours = store.get(&self.key).ok().flatten().is_some_and(|f| {
                serde_json::from_slice::<LeaseRecord>(&f.bytes)
                    .is_ok_and(|r| r.is_same_holder(&self.record))
            });
            if still_ours {
                if let Err(e) = store.delete(&self.key) {
                    tracing::warn!("the lease could not be released (it expires by itself): {e}");
                }
            }
        }
    }

    /// Stops the renewing thread; whether the lease was lost.
    fn stop_renewing(&mut self) -> bool {
        let (lock, wake) = &*self.held;
        let lost = {
            let mut held = lock.lock().unwrap_or_else(|p| p.into_inner());
            held.stop = true;
            held.lost
        };
        wake.notify_all();
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
        lost
    }

    /// The URL of the output this lease is on.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Not released (an error path): stop renewing, so the lease
        // expires; the next run of this host takes it over at once.
        self.stop_renewing();
    }
}

/// The renewing thread: one renewal every [`RENEW_EVERY`] until stopped or
/// the lease is lost. It has its own client (a store's runtime is driven
/// by one thread at a time).
fn renew_until_stopped(
    url: &StoreUrl,
    key: &str,
    mut record: LeaseRecord,
    held: &(Mutex<Held>, Condvar),
) {
    let store = match Store::connect(url) {
        Ok(store) => store,
        Err(e) => {
            tracing::warn!("the lease cannot be renewed (it expires by itself): {e}");
            return;
        }
    };
    let (lock, wake) = held;
    let mut guard = lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let (next, _) = wake
            .wait_timeout_while(guard, RENEW_EVERY, |h| !h.stop)
            .unwrap_or_else(|p| p.into_inner());
        guard = next;
        if guard.stop || guard.lost {
            return;
        }
        if let Err(e) = renew(&store, key, &mut record, &mut guard) {
            tracing::warn!("the lease could not be renewed (retrying): {e}");
        }
    }
}

/// One renewal: a put conditional on the version written last.
fn renew(store: &Store, key: &str, record: &mut LeaseRecord, held: &mut Held) -> Result<()> {
    if held.lost {
        return Ok(());
    }
    record.expires = Utc::now() + chrono::Duration::seconds(LEASE_SECONDS);
    match store.put(key, encode(record)?, PutMode::Update(held.version.clone()))? {
        Put::Written(version) => held.version = version,
        Put::Conflict => held.lost = true,
    }
    Ok(())
}

/// This machine's host name (for the lease record and the same-host check).
pub fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return "unknown".to_string();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// Whether a process with this pid exists (on this host).
pub fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    let status = unsafe { libc::kill(pid, 0) };
    status == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_stale_when_expired_or_its_process_on_this_host_is_gone() {
        let now = Utc::now();
        let record = |host: String, pid: u32, seconds: i64| LeaseRecord {
            host,
            pid,
            acquired: now,
            expires: now + chrono::Duration::seconds(seconds),
        };
        let me = std::process::id();
        assert!(!record(host_name(), me, 60).is_stale(now));
        assert!(record(host_name(), me, -1).is_stale(now));
        // A pid above the kernel's maximum never exists.
        assert!(record(host_name(), 1 << 30, 60).is_stale(now));
        // Another host's process cannot be checked: only expiry counts.
        assert!(!record("elsewhere".into(), 1 << 30, 60).is_stale(now));
    }
}
