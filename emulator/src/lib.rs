//! emulator: local AWS on one loopback port, so that `AWS_ENDPOINT_URL` is the
//! only switch between AWS and local runs.
//!
//! Modules:
//! - [`affinity`]: which CPUs function processes (and the emulator) run on.
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
pub mod affinity;
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
    /// removed at shutdown, in memory when it can (`/dev/shm` when that is a
    /// tmpfs with 4 GiB free and `TMPDIR` is unset).
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
    /// When set, execution environments run only on these CPUs (their
    /// process and everything it starts). The emulator's own threads are not
    /// moved: an embedding process keeps them off with
    /// [`affinity::confine_process`].
    pub function_cpus: Option<affinity::CpuSet>,
    /// When set, every request must be SigV4-signed with this key pair
    /// (S3, Lambda, CloudWatch Logs, Secrets Manager); when `None`, the JSON
    /// APIs take unsigned requests and S3 any key id with the secret `test`.
    pub credentials: Option<Credentials>,
}

/// Free space a memory-backed file system must have before a temporary S3
/// store goes there.
const SCRATCH_MEMORY_FREE: u64 = 4 << 30;

/// Where a temporary S3 store (no `state_dir`) is made: `/dev/shm` when it is
/// a memory-backed file system (tmpfs) with at least [`SCRATCH_MEMORY_FREE`]
/// free and `TMPDIR` does not name another place, else the system's temporary
/// directory. Every PutObject creates two files and every overwrite deletes
/// two; on ext4 each new inode is found by skipping the ones deleted in the
/// last seconds, which under a steady stream of writes (a benchmark's
/// syncs) made a small PutObject cost milliseconds, doubled the durations
/// `perfharness --local` measured and let them drift with the disk's
/// history. The store is thrown away at shutdown, so memory loses nothing.
fn scratch_parent() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    if std::env::var_os("TMPDIR").is_none() && memory_backed_free(shm) >= SCRATCH_MEMORY_FREE {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

/// Bytes free on `dir` if it is a tmpfs, else 0.
fn memory_backed_free(dir: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: statfs writes into the zeroed struct it is given and reads the
    // NUL-terminated path; both live across the call.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut fs) } != 0 || fs.f_type as i64 != TMPFS_MAGIC {
        return 0;
    }
    (fs.f_bavail as u64).saturating_mul(fs.f_bsize as u64)
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
            function_cpus: None,
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
                let parent = scratch_parent();
                let dir = tempfile::Builder::new()
                    .prefix("emulator-s3-")
                    .tempdir_in(&parent)
                    .map_err(|e| Error::StateDir {
                        path: parent.clone(),
                        message: e.to_string(),
                    })?;
                tracing::debug!(dir = %dir.path().display(), "S3 state in a temporary directory");
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        let logs = logs::LogStore::new(cfg.log_delay_ms).with_group_cap(cfg.log_group_cap_bytes);
        let settings = lambda::LambdaSettings {
            update_delay_ms: cfg.update_delay_ms,
            idle_timeout: cfg.idle_timeout,
            default_concurrency_cap: cfg.default_concurrency_cap,
            cpu_scaling: cfg.cpu_scaling,
            function_cpus: cfg.function_cpus,
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

#[cfg(test)]
mod scratch_tests {
    use super::memory_backed_free;
    use std::path::Path;

    /// The file system type /proc/mounts gives the mount holding `path`.
    fn fs_type(path: &Path) -> String {
        let path = path.canonicalize().unwrap();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        mounts
            .lines()
            .filter_map(|l| {
                let mut f = l.split(' ');
                let (_, at, kind) = (f.next()?, f.next()?, f.next()?);
                path.starts_with(at).then(|| (at.len(), kind.to_string()))
            })
            .max()
            .map(|(_, kind)| kind)
            .unwrap_or_default()
    }

    #[test]
    fn only_a_tmpfs_counts_as_memory() {
        assert_eq!(memory_backed_free(Path::new("/no/such/dir")), 0);
        let temp = std::env::temp_dir();
        for dir in [
            Path::new("/proc"),
            Path::new("/dev/shm"),
            Path::new(env!("CARGO_MANIFEST_DIR")),
            temp.as_path(),
        ] {
            if !dir.exists() {
                continue;
            }
            let tmpfs = fs_type(dir) == "tmpfs";
            let free = memory_backed_free(dir);
            assert_eq!(
                free > 0,
                tmpfs,
                "{}: {free} bytes free, tmpfs: {tmpfs}",
                dir.display()
            );
        }
    }
}
