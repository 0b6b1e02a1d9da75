//! emulator: local AWS on one loopback port, so that `AWS_ENDPOINT_URL` is the
//! only switch between AWS and local runs.
//!
//! Modules:
//! - `edge`: the one listener; routes Lambda by path, Logs and Secrets
//!   Manager by `X-Amz-Target`, everything else to S3.
//! - [`lambda`]: control plane, execution environments, Runtime API.
//! - [`logs`]: the CloudWatch Logs store and its query API.
//! - `s3`, `secrets`: S3 (through `s3s`) and Secrets Manager.
//! - [`template`]: function definitions from a SAM template.
//!
//! What each service answers besides Lambda:
//! - S3 (via `s3s` + `s3s-fs`): buckets, Put/Get/Head/Delete/CopyObject,
//!   ListObjects(V2), multipart uploads, ranges; path-style, or
//!   virtual-hosted under `bucket.localhost`; AWS's NoSuchBucket,
//!   NoSuchUpload, EntityTooSmall; optional injected 500/503 faults.
//!   S3's consistency promises hold: PUT, CopyObject and
//!   CompleteMultipartUpload replace an object atomically, a GET streams one
//!   version whole, ETags and checksums (CRC32, CRC32C, CRC64NVME, SHA1,
//!   SHA256; full-object or composite for multipart; CRC64NVME when the
//!   client sends none; returned with `x-amz-checksum-mode: ENABLED`) always
//!   match the bytes served, a completed write or delete is seen by the next
//!   GET, HEAD and ListObjectsV2, and conditional writes (`If-None-Match: *`,
//!   `If-Match`) are atomic: 412 PreconditionFailed, 404 NoSuchKey for
//!   `If-Match` on a missing key, 409 ConditionalRequestConflict when the key
//!   was deleted during the write (for multipart: since the upload began).
//! - CloudWatch Logs: FilterLogEvents (term, phrase, `?`, `-`, JSON and
//!   space-delimited patterns), GetLogEvents, DescribeLogStreams,
//!   DescribeLogGroups, Create/DeleteLogGroup, Create/DeleteLogStream,
//!   PutLogEvents, Put/DeleteRetentionPolicy; optional visibility delay.
//! - Secrets Manager: Create/Describe/Update/Delete/RestoreSecret,
//!   Get/PutSecretValue, ListSecrets, ListSecretVersionIds, in memory.
//!
//! Local credentials: S3 requests must be SigV4-signed with the secret key
//! `test` (any access key id); the JSON services do not check signatures.
//!
//! ```no_run
//! # async fn demo() -> Result<(), emulator::Error> {
//! use emulator::lambda::FunctionSpec;
//! use emulator::{Emulator, EmulatorConfig};
//!
//! let emu = Emulator::start(EmulatorConfig {
//!     functions: vec![FunctionSpec::new("noop", "/path/to/bootstrap")],
//!     ..EmulatorConfig::default()
//! })
//! .await?;
//! // Point the AWS SDK (or CLI) here: AWS_ENDPOINT_URL=<url>, credentials
//! // test/test, region us-east-1, S3 path-style.
//! let url = emu.endpoint_url();
//! # let _ = url;
//! emu.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod access;
mod awsjson;
mod edge;
mod error;
pub mod lambda;
mod limits;
pub mod logs;
mod net;
mod s3;
mod secrets;
mod sqs;
pub mod template;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use access::Credentials;
pub use error::Error;

/// The region every ARN and endpoint of the emulator names.
pub const REGION: &str = "us-east-1";
/// The account id every ARN of the emulator names.
pub const ACCOUNT_ID: &str = "123456789012";

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Listen address; loopback only. Port 0 picks a free port.
    pub addr: SocketAddr,
    /// The Lambda functions to serve.
    pub functions: Vec<lambda::FunctionSpec>,
    /// Where S3 keeps buckets and objects; `None` uses a temporary directory
    /// removed at shutdown.
    pub state_dir: Option<PathBuf>,
    /// CloudWatch Logs events become visible to readers this long after they
    /// are written (CloudWatch's eventual consistency).
    pub log_delay_ms: u64,
    /// The most bytes of events one log group keeps (messages plus 26 bytes
    /// each); past it the oldest events are dropped.
    pub log_group_cap_bytes: usize,
    /// Fraction (0..=1) of S3 requests answered with 500 InternalError or
    /// 503 SlowDown.
    pub s3_fault_rate: f64,
    /// How long an UpdateFunctionConfiguration stays `InProgress`.
    pub update_delay_ms: u64,
    /// Idle execution environments are reclaimed after this long.
    pub idle_timeout: Duration,
    /// Concurrent environments per function without reserved concurrency.
    pub default_concurrency_cap: u32,
    /// CPU proportional to memory as on Lambda (1 vCPU at 1,769 MB, up to
    /// 6 at 10,240 MB), through a cgroup per execution environment. Needs
    /// a writable cgroup cpu controller (root); off by default.
    pub cpu_scaling: bool,
    /// When set, every request must be SigV4-signed with this key pair
    /// (S3, Lambda, CloudWatch Logs, Secrets Manager); when `None`, the JSON
    /// APIs take unsigned requests and S3 any key id with the secret `test`.
    pub credentials: Option<Credentials>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        let lambda = lambda::LambdaSettings::default();
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            functions: Vec::new(),
            state_dir: None,
            log_delay_ms: 0,
            log_group_cap_bytes: logs::DEFAULT_GROUP_CAP_BYTES,
            s3_fault_rate: 0.0,
            update_delay_ms: lambda.update_delay_ms,
            idle_timeout: lambda.idle_timeout,
            default_concurrency_cap: lambda.default_concurrency_cap,
            cpu_scaling: lambda.cpu_scaling,
            credentials: None,
        }
    }
}

/// Entry point: starts the emulator.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Binds the edge port and starts every service.
    ///
    /// # Errors
    /// A non-loopback address, a port that cannot be bound, an unusable
    /// state directory, or CPU scaling asked for without a usable cgroup
    /// cpu controller.
    pub async fn start(cfg: EmulatorConfig) -> Result<EmulatorHandle, Error> {
        if !cfg.addr.ip().is_loopback() {
            return Err(Error::NotLoopback(cfg.addr));
        }
        validate_functions(&cfg.functions)?;
        // Before anything else starts: a failure here leaves nothing behind.
        let cpu = if cfg.cpu_scaling {
            Some(Arc::new(
                lambda::cpu::CpuCgroups::create().map_err(Error::CpuScaling)?,
            ))
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind(cfg.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: cfg.addr,
                source,
            })?;
        let local = listener.local_addr().map_err(|source| Error::Bind {
            addr: cfg.addr,
            source,
        })?;
        let endpoint_url = format!("http://{local}");

        let (s3_root, temp_dir) = match &cfg.state_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("emulator-s3-")
                    .tempdir()
                    .map_err(|e| Error::StateDir {
                        path: std::env::temp_dir(),
                        message: e.to_string(),
                    })?;
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        let logs = logs::LogStore::new(cfg.log_delay_ms).with_group_cap(cfg.log_group_cap_bytes);
        let settings = lambda::LambdaSettings {
            update_delay_ms: cfg.update_delay_ms,
            idle_timeout: cfg.idle_timeout,
            default_concurrency_cap: cfg.default_concurrency_cap,
            cpu_scaling: cfg.cpu_scaling,
        };
        let queues = sqs::Queues::new(endpoint_url.clone());
        let lambda = lambda::LambdaService::start(
            cfg.functions,
            settings,
            logs.clone(),
            endpoint_url.clone(),
            cfg.credentials.as_ref(),
            Ok(cpu),
            queues.clone(),
        );
        let router = edge::Router {
            s3: Arc::new(s3::S3Frontend::new(
                &s3_root,
                cfg.s3_fault_rate,
                cfg.credentials.as_ref(),
            )?),
            secrets: secrets::SecretsService::default(),
            logs: logs.clone(),
            lambda: lambda.clone(),
            sqs: queues,
            verifier: cfg.credentials.map(access::Verifier::new),
        };
        let edge = edge::Edge::serve(listener, router);
        Ok(EmulatorHandle {
            endpoint_url,
            logs,
            lambda,
            edge,
            _temp_dir: temp_dir,
        })
    }
}

/// Names as Lambda accepts them (1-64 of letters, digits, `-`, `_`), each
/// once: the control plane addresses functions by name.
fn validate_functions(functions: &[lambda::FunctionSpec]) -> Result<(), Error> {
    let mut seen = std::collections::BTreeSet::new();
    for f in functions {
        let fail = |message: &str| Error::Function {
            name: f.name.clone(),
            message: message.to_string(),
        };
        let valid = !f.name.is_empty()
            && f.name.len() <= 64
            && f.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(fail(
                "a function name is 1-64 letters, digits, hyphens or underscores",
            ));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(fail("defined twice"));
        }
        if !(128..=10_240).contains(&f.memory_mb) {
            return Err(fail("MemorySize must be between 128 and 10240 MB"));
        }
        if !(1..=900).contains(&f.timeout_s) {
            return Err(fail("Timeout must be between 1 and 900 seconds"));
        }
    }
    Ok(())
}

/// A running emulator.
pub struct EmulatorHandle {
    endpoint_url: String,
    logs: logs::LogStore,
    lambda: lambda::LambdaService,
    edge: edge::Edge,
    /// Dropped (and so removed) at shutdown.
    _temp_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self) -> String {
        self.endpoint_url.clone()
    }

    /// The CloudWatch Logs store behind the Logs API (tests append to it
    /// directly).
    pub fn logs(&self) -> logs::LogStore {
        self.logs.clone()
    }

    /// Stops serving, kills every function process and removes the temporary
    /// S3 directory.
    pub async fn shutdown(self) {
        self.edge.stop().await;
        self.lambda.shutdown().await;
    }

    /// The Lambda service (tests inspect its execution environments).
    pub fn lambda(&self) -> &lambda::LambdaService {
        &self.lambda
    }
}
