//! A real S3-compatible server for the object-storage tests: moto's server
//! process (`moto_server`, installed by `make test` into `.venv-test/`
//! from `tests/python/requirements.txt`), on a free loopback port, one per
//! test, stopped when the test's handle is dropped. The tests read and
//! write it with `object_store`'s own S3 client, configured here, not
//! through the crate's code under test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// The Python environment `make test` prepares (or `RETENTION_TEST_VENV`).
pub fn test_venv() -> PathBuf {
    std::env::var_os("RETENTION_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-test"))
}

/// A running server with one bucket.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    pub bucket: String,
    client: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
}

impl S3Server {
    /// Starts the server and creates `bucket`.
    pub fn start(bucket: &str) -> S3Server {
        let binary = test_venv().join("bin").join("moto_server");
        assert!(
            binary.is_file(),
            "{} is missing: `make test` installs it (tests/python/requirements.txt)",
            binary.display()
        );
        let port = free_port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut server = S3Server {
            child,
            client: client(&endpoint, bucket),
            endpoint,
            bucket: bucket.to_string(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        };
        server.wait_until_listening(port);
        server.create_bucket(port);
        server
    }

    fn wait_until_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto_server exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `PUT /bucket` (moto does not check signatures; object_store has no
    /// bucket creation).
    fn create_bucket(&self, port: u16) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let request = format!(
            "PUT /{} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.bucket
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }

    /// The environment the binary needs to reach this server, and nothing
    /// from the machine's own AWS setup.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
            ("AWS_CONFIG_FILE", "/nonexistent".into()),
        ]
    }

    /// `s3://BUCKET/key`.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        self.runtime
            .block_on(self.client.put(&ObjectPath::from(key), bytes.into()))
            .unwrap();
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let read = self.runtime.block_on(async {
            let got = self.client.get(&ObjectPath::from(key)).await?;
            got.bytes().await
        });
        match read {
            Ok(bytes) => Some(bytes),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("{key}: {e}"),
        }
    }

    /// Every key below `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self.runtime.block_on(async {
            let prefix = ObjectPath::from(prefix);
            let mut listed = self.client.list(Some(&prefix));
            let mut keys = Vec::new();
            while let Some(meta) = listed.next().await {
                keys.push(meta.unwrap().location.to_string());
            }
            keys
        });
        keys.sort();
        keys
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(endpoint: &str, bucket: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap(),
    )
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
