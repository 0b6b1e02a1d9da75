//! S3's consistency promises through the real aws-sdk-s3 client: atomic
//! overwrites (single PUT, CopyObject, multipart), checksums that match the
//! bytes served, read-after-write and list-after-write, and atomic
//! conditional writes (`If-None-Match: *`, `If-Match`).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    MetadataDirective,
};
use base64::Engine;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha256};

const MIB: usize = 1024 * 1024;
/// S3's minimum size of every part of a multipart upload but the last.
const PART: usize = 5 * MIB;

/// Counts the 500 and 503 answers the client saw, retried ones included.
#[derive(Debug, Clone, Default)]
struct FaultCounter(Arc<AtomicU64>);

impl aws_sdk_s3::config::Intercept for FaultCounter {
    fn name(&self) -> &'static str {
        "FaultCounter"
    }

    fn read_before_deserialization(
        &self,
        context: &aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _: &aws_sdk_s3::config::RuntimeComponents,
        _: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        if matches!(context.response().status().as_u16(), 500 | 503) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

async fn client(emu: &EmulatorHandle, max_attempts: u32) -> aws_sdk_s3::Client {
    client_counting(emu, max_attempts, FaultCounter::default()).await
}

async fn client_counting(
    emu: &EmulatorHandle,
    max_attempts: u32,
    faults: FaultCounter,
) -> aws_sdk_s3::Client {
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(5));
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .retry_config(retry)
        .load()
        .await;
    let conf = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .interceptor(faults)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::checksum(data))
}

/// S3's ETag of a multipart object: MD5 of the parts' MD5s, `-N`.
fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(&Md5::checksum(p));
    }
    format!("{}-{}", md5_hex(&all), parts.len())
}

fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_string()
}

/// A version's body: its id as 8 hex digits, repeated to `len` bytes, so any
/// mix of two versions or any cut is visible.
fn pattern(id: u32, len: usize) -> Vec<u8> {
    format!("{id:08x}")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

/// The id a body claims to be, if it is one whole version of `len` bytes.
fn whole_version(body: &[u8], len_of: impl Fn(u32) -> Option<usize>) -> Result<u32, String> {
    let head = body.get(..8).ok_or("body shorter than 8 bytes")?;
    let id = std::str::from_utf8(head)
        .ok()
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or("body does not start with a version id")?;
    let len = len_of(id).ok_or(format!("version {id:08x} was never written"))?;
    if body.len() != len {
        return Err(format!(
            "version {id:08x}: {} bytes, written {len}",
            body.len()
        ));
    }
    if body != pattern(id, len) {
        return Err(format!("version {id:08x}: bytes of another version inside"));
    }
    Ok(id)
}

/// Checks every checksum header a GET answered with against the bytes.
/// `Ok(n)`: n full-object checksums matched.
fn check_checksums(
    body: &[u8],
    crc32: Option<&str>,
    crc32c: Option<&str>,
    crc64: Option<&str>,
    sha256: Option<&str>,
) -> Result<usize, String> {
    let mut checked = 0;
    let mut one = |name: &str, got: Option<&str>, want: String| match got {
        Some(v) if v.contains('-') => Ok(()),
        Some(v) if v == want => {
            checked += 1;
            Ok(())
        }
        Some(v) => Err(format!("{name} {v} for bytes whose {name} is {want}")),
        None => Ok(()),
    };
    one("crc32", crc32, b64(&Crc32::checksum(body)))?;
    one("crc32c", crc32c, b64(&Crc32c::checksum(body)))?;
    one("crc64nvme", crc64, b64(&Crc64Nvme::checksum(body)))?;
    one("sha256", sha256, b64(Sha256::checksum(body).as_ref()))?;
    Ok(checked)
}

fn status_and_code<E: ProvideErrorMetadata>(
    err: &aws_sdk_s3::error::SdkError<E>,
) -> (Option<u16>, Option<String>) {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err
        .as_service_error()
        .and_then(|e| e.code())
        .map(str::to_string);
    (status, code)
}

// ---------------------------------------------------------------------------
// Torture: writers and readers on the same keys.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Put,
    Multipart,
    Copy,
}

#[derive(Debug)]
struct Op {
    key: String,
    kind: Kind,
    start: Instant,
    /// When the client had the answer; `None` while in flight.
    end: Option<Instant>,
    failed: bool,
}

/// What the test knows was written: versions (bodies) and write operations
/// (each tagged into the object's metadata as `op`).
#[derive(Default)]
struct World {
    /// Version id → (length, ETag). A version's id is the id of the PUT or
    /// multipart op that wrote it.
    versions: HashMap<u32, (usize, String)>,
    ops: HashMap<u32, Op>,
}

#[derive(Default)]
struct Tally {
    puts: AtomicU64,
    multiparts: AtomicU64,
    copies: AtomicU64,
    gets: AtomicU64,
    heads: AtomicU64,
    lists: AtomicU64,
    checksums_checked: AtomicU64,
    failed_after_retries: AtomicU64,
    /// 500/503 answers (injected faults) the client saw and retried.
    faults_seen: FaultCounter,
    violations: Mutex<Vec<String>>,
}

impl Tally {
    fn total(&self) -> u64 {
        [
            &self.puts,
            &self.multiparts,
            &self.copies,
            &self.gets,
            &self.heads,
            &self.lists,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }

    fn violation(&self, what: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 50 {
            v.push(what);
        }
    }
}

struct Torture {
    s3: aws_sdk_s3::Client,
    bucket: String,
    /// Keys written by PUT, multipart and copy.
    targets: Vec<String>,
    /// Keys written by PUT only; the copy sources.
    sources: Vec<String>,
    world: Mutex<World>,
    tally: Tally,
    next_id: AtomicU32,
    deadline: Instant,
    max_ops: u64,
}

impl Torture {
    fn done(&self) -> bool {
        Instant::now() >= self.deadline || self.tally.total() >= self.max_ops
    }

    fn begin(&self, key: &str, kind: Kind, version: Option<(usize, String)>) -> u32 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut w = self.world.lock().unwrap();
        if let Some(v) = version {
            w.versions.insert(id, v);
        }
        w.ops.insert(
            id,
            Op {
                key: key.to_string(),
                kind,
                start: Instant::now(),
                end: None,
                failed: false,
            },
        );
        id
    }

    fn end(&self, id: u32, ok: bool) {
        let mut w = self.world.lock().unwrap();
        let op = w.ops.get_mut(&id).expect("op registered");
        op.end = Some(Instant::now());
        op.failed = !ok;
        if !ok {
            self.tally
                .failed_after_retries
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Checks that what a read of `key` started at `start` saw — the op
    /// tagged in the metadata, the version in the body (or its length and
    /// ETag when there is no body) — is one written version, paired with its
    /// own op, and not older than the last write completed before the read.
    fn check_read(
        &self,
        key: &str,
        start: Instant,
        op_tag: Option<&str>,
        body: Option<&[u8]>,
        len: Option<i64>,
        etag: &str,
    ) -> Result<(), String> {
        let w = self.world.lock().unwrap();
        let op_id = op_tag
            .and_then(|t| t.parse::<u32>().ok())
            .ok_or(format!("no op tag in the metadata of {key}"))?;
        let op = w.ops.get(&op_id).ok_or(format!("unknown op {op_id}"))?;
        if op.key != key {
            return Err(format!("{key} shows op {op_id}, a write to {}", op.key));
        }
        if op.failed {
            return Err(format!("{key} shows op {op_id}, which failed"));
        }
        // The version the bytes (or length and ETag) are.
        let version = match body {
            Some(body) => whole_version(body, |id| w.versions.get(&id).map(|v| v.0))?,
            None => {
                let len = len.and_then(|l| usize::try_from(l).ok());
                match op.kind {
                    Kind::Put | Kind::Multipart => op_id,
                    Kind::Copy => {
                        *w.versions
                            .iter()
                            .find(|(_, v)| Some(v.0) == len && v.1 == etag)
                            .ok_or(format!(
                                "{key}: no version has length {len:?} and ETag {etag}"
                            ))?
                            .0
                    }
                }
            }
        };
        let (vlen, vetag) = &w.versions[&version];
        match op.kind {
            Kind::Put | Kind::Multipart if version != op_id => {
                return Err(format!(
                    "{key}: metadata of op {op_id} with the bytes of version {version}"
                ))
            }
            Kind::Put | Kind::Multipart => {
                if etag != vetag {
                    return Err(format!(
                        "{key}: ETag {etag} for a version whose ETag is {vetag}"
                    ));
                }
            }
            Kind::Copy => {
                // A copy's ETag is the MD5 of its bytes.
                let want = match body {
                    Some(b) => md5_hex(b),
                    None => vetag.clone(),
                };
                if etag != want || vetag.contains('-') {
                    return Err(format!("{key}: copy ETag {etag}, bytes' MD5 {want}"));
                }
                let source = &w.ops[&version];
                if !self.sources.contains(&source.key) {
                    return Err(format!(
                        "{key}: copy op {op_id} holds a version of {}",
                        source.key
                    ));
                }
                if op.end.is_some_and(|end| end < source.start) {
                    return Err(format!("{key}: copy op {op_id} holds a later version"));
                }
            }
        }
        if let Some(l) = len {
            if usize::try_from(l).ok() != Some(*vlen) {
                return Err(format!("{key}: Content-Length {l} for {vlen} bytes"));
            }
        }
        // Read-after-write: nothing older than the last write completed
        // before this read started.
        let last = w
            .ops
            .iter()
            .filter(|(_, o)| o.key == key && !o.failed && o.end.is_some_and(|e| e < start))
            .max_by_key(|(_, o)| o.end);
        if let Some((&last_id, last)) = last {
            let newer_or_same = last_id == op_id || op.end.is_none_or(|e| e > last.start);
            if !newer_or_same {
                return Err(format!(
                    "{key}: stale read of op {op_id} after op {last_id} had completed"
                ));
            }
        }
        Ok(())
    }

    async fn put(&self, key: &str, n: u32) {
        // Mostly small bodies, some of a few MiB as in the report.
        let len = match n % 10 {
            0 => 2 * MIB + 333,
            1 | 2 => 300 * 1024 + 7,
            _ => 8 * 1024 + (n as usize % 4096),
        };
        // The version is registered before it is sent, so a reader may
        // meet it as soon as the emulator commits it.
        let id = self.begin(key, Kind::Put, None);
        let body = pattern(id, len);
        self.world
            .lock()
            .unwrap()
            .versions
            .insert(id, (len, md5_hex(&body)));
        let mut req = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .metadata("op", id.to_string())
            .body(ByteStream::from(body));
        req = match n % 5 {
            0 => req,
            1 => req.checksum_algorithm(ChecksumAlgorithm::Crc32),
            2 => req.checksum_algorithm(ChecksumAlgorithm::Crc32C),
            3 => req.checksum_algorithm(ChecksumAlgorithm::Sha256),
            _ => req.checksum_algorithm(ChecksumAlgorithm::Crc64Nvme),
        };
        let ok = req.send().await.is_ok();
        self.end(id, ok);
        self.tally.puts.fetch_add(1, Ordering::Relaxed);
        if ok {
            self.head(key).await;
        }
    }

    async fn multipart(&self, key: &str, n: u32) {
        let id = self.begin(key, Kind::Multipart, None);
        let body = pattern(id, PART + 1 + (n as usize % 65536));
        let parts: [&[u8]; 2] = [&body[..PART], &body[PART..]];
        self.world
            .lock()
            .unwrap()
            .versions
            .insert(id, (body.len(), multipart_etag(&parts)));
        let ok = self.multipart_upload(key, id, &parts).await;
        self.end(id, ok);
        self.tally.multiparts.fetch_add(1, Ordering::Relaxed);
        if ok {
            self.head(key).await;
        }
    }

    async fn multipart_upload(&self, key: &str, id: u32, parts: &[&[u8]]) -> bool {
        let Ok(created) = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .metadata("op", id.to_string())
            .send()
            .await
        else {
            return false;
        };
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let mut completed = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let n = i32::try_from(i + 1).unwrap();
            match self
                .s3
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(n)
                .body(ByteStream::from(part.to_vec()))
                .send()
                .await
            {
                Ok(out) => completed.push(
                    CompletedPart::builder()
                        .part_number(n)
                        .e_tag(out.e_tag().unwrap_or_default())
                        .build(),
                ),
                Err(_) => {
                    let _ = self
                        .s3
                        .abort_multipart_upload()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(&upload_id)
                        .send()
                        .await;
                    return false;
                }
            }
        }
        self.s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .is_ok()
    }

    async fn copy(&self, from: &str, to: &str) {
        let id = self.begin(to, Kind::Copy, None);
        let ok = self
            .s3
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(format!("{}/{from}", self.bucket))
            .metadata_directive(MetadataDirective::Replace)
            .metadata("op", id.to_string())
            .send()
            .await
            .is_ok();
        self.end(id, ok);
        self.tally.copies.fetch_add(1, Ordering::Relaxed);
        if ok {
            self.head(to).await;
        }
    }

    async fn get(&self, key: &str) {
        let start = Instant::now();
        self.tally.gets.fetch_add(1, Ordering::Relaxed);
        let out = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(out) => out,
            Err(_) => {
                self.tally
                    .failed_after_retries
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let etag = unquote(out.e_tag());
        let op_tag = out.metadata().and_then(|m| m.get("op")).cloned();
        let len = out.content_length();
        let (crc32, crc32c, crc64, sha256) = (
            out.checksum_crc32().map(str::to_string),
            out.checksum_crc32_c().map(str::to_string),
            out.checksum_crc64_nvme().map(str::to_string),
            out.checksum_sha256().map(str::to_string),
        );
        // The SDK validates the body against the checksum header here.
        let body = match out.body.collect().await {
            Ok(b) => b.into_bytes(),
            Err(e) => {
                self.tally
                    .violation(format!("GET {key}: body refused by the SDK: {e}"));
                return;
            }
        };
        match check_checksums(
            &body,
            crc32.as_deref(),
            crc32c.as_deref(),
            crc64.as_deref(),
            sha256.as_deref(),
        ) {
            Ok(0) => self
                .tally
                .violation(format!("GET {key}: no full-object checksum")),
            Ok(n) => {
                self.tally
                    .checksums_checked
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => self.tally.violation(format!("GET {key}: {e}")),
        }
        if let Err(e) = self.check_read(key, start, op_tag.as_deref(), Some(&body), len, &etag) {
            self.tally.violation(format!("GET {e}"));
        }
    }

    async fn head(&self, key: &str) {
        let start = Instant::now();
        self.tally.heads.fetch_add(1, Ordering::Relaxed);
        let out = match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(_) => {
                self.tally
                    .failed_after_retries
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let etag = unquote(out.e_tag());
        let op_tag = out.metadata().and_then(|m| m.get("op")).cloned();
        if let Err(e) = self.check_read(
            key,
            start,
            op_tag.as_deref(),
            None,
            out.content_length(),
            &etag,
        ) {
            self.tally.violation(format!("HEAD {e}"));
        }
    }

    async fn list(&self) {
        self.tally.lists.fetch_add(1, Ordering::Relaxed);
        let out = match self.s3.list_objects_v2().bucket(&self.bucket).send().await {
            Ok(out) => out,
            Err(_) => {
                self.tally
                    .failed_after_retries
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let keys: BTreeSet<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
        let want: BTreeSet<&str> = self
            .targets
            .iter()
            .chain(&self.sources)
            .map(String::as_str)
            .collect();
        if keys != want {
            self.tally
                .violation(format!("LIST keys {keys:?}, written {want:?}"));
        }
        let w = self.world.lock().unwrap();
        for o in out.contents() {
            let etag = unquote(o.e_tag());
            let size = o.size().and_then(|s| usize::try_from(s).ok());
            let known = w
                .versions
                .values()
                .any(|(len, vetag)| Some(*len) == size && *vetag == etag);
            if !known {
                self.tally.violation(format!(
                    "LIST {:?}: size {size:?} and ETag {etag} are no written version",
                    o.key()
                ));
            }
        }
    }
}

async fn torture(fault_rate: f64, max_ops: u64) -> Arc<Torture> {
    let emu = Emulator::start(EmulatorConfig {
        s3_fault_rate: fault_rate,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let tally = Tally::default();
    let s3 = client_counting(&emu, 20, tally.faults_seen.clone()).await;
    let bucket = "torture".to_string();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let t = Arc::new(Torture {
        s3,
        bucket,
        targets: (0..3).map(|i| format!("t/{i}")).collect(),
        sources: (0..2).map(|i| format!("s/{i}")).collect(),
        world: Mutex::default(),
        tally,
        next_id: AtomicU32::new(1),
        deadline: Instant::now() + Duration::from_secs(10),
        max_ops,
    });
    // Every key exists before the readers start.
    for key in t.targets.iter().chain(&t.sources) {
        loop {
            let id = t.begin(key, Kind::Put, None);
            let body = pattern(id, 64);
            t.world
                .lock()
                .unwrap()
                .versions
                .insert(id, (64, md5_hex(&body)));
            let ok =
                t.s3.put_object()
                    .bucket(&t.bucket)
                    .key(key)
                    .metadata("op", id.to_string())
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .is_ok();
            t.end(id, ok);
            if ok {
                break;
            }
        }
    }

    let mut tasks = Vec::new();
    // Two single-PUT writers over every key (sources included).
    for w in 0..2u32 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while !t.done() {
                let all: Vec<&String> = t.targets.iter().chain(&t.sources).collect();
                let key = all[fastrand::usize(..all.len())].clone();
                t.put(&key, n).await;
                n += 2;
            }
        }));
    }
    // A multipart writer and a copy writer on the target keys.
    {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !t.done() {
                let key = t.targets[fastrand::usize(..t.targets.len())].clone();
                t.multipart(&key, n).await;
                n += 1;
            }
        }));
    }
    {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            while !t.done() {
                let from = t.sources[fastrand::usize(..t.sources.len())].clone();
                let to = t.targets[fastrand::usize(..t.targets.len())].clone();
                t.copy(&from, &to).await;
            }
        }));
    }
    // Three readers: GET (checksum mode on), HEAD, ListObjectsV2.
    for _ in 0..3 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            while !t.done() {
                let all: Vec<&String> = t.targets.iter().chain(&t.sources).collect();
                let key = all[fastrand::usize(..all.len())].clone();
                match fastrand::u8(..10) {
                    0..=5 => t.get(&key).await,
                    6..=7 => t.head(&key).await,
                    _ => t.list().await,
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    emu.shutdown().await;
    t
}

fn report(name: &str, t: &Torture) {
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let tally = &t.tally;
    let violations = tally.violations.lock().unwrap();
    println!(
        "{name}: {} ops by 4 writers (2 PUT, 1 multipart, 1 copy) and 3 readers: {} PUT, {} multipart, {} copy, {} GET, {} HEAD, {} LIST; {} checksums compared; {} ops failed after retries; {} injected faults retried; {} torn reads / checksum or consistency mismatches",
        tally.total(),
        c(&tally.puts),
        c(&tally.multiparts),
        c(&tally.copies),
        c(&tally.gets),
        c(&tally.heads),
        c(&tally.lists),
        c(&tally.checksums_checked),
        c(&tally.failed_after_retries),
        c(&tally.faults_seen.0),
        violations.len(),
    );
    assert!(violations.is_empty(), "{name}: {:#?}", *violations);
    // The run did exercise every kind of operation.
    for (what, n) in [
        ("PUT", &tally.puts),
        ("multipart", &tally.multiparts),
        ("copy", &tally.copies),
        ("GET", &tally.gets),
        ("HEAD", &tally.heads),
        ("LIST", &tally.lists),
    ] {
        assert!(c(n) > 0, "{name}: no {what} ran");
    }
    assert!(
        c(&tally.checksums_checked) > 0,
        "{name}: no checksum compared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn torture_concurrent_overwrites_never_tear_or_mismatch() {
    let t = torture(0.0, 3000).await;
    report("torture", &t);
    assert_eq!(t.tally.faults_seen.0.load(Ordering::Relaxed), 0);
    assert_eq!(
        t.tally.failed_after_retries.load(Ordering::Relaxed),
        0,
        "without fault injection every operation succeeds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn torture_with_s3_fault_injection_never_tears_or_mismatches() {
    let t = torture(0.05, 2000).await;
    report("torture with 5% S3 faults", &t);
    assert!(
        t.tally.faults_seen.0.load(Ordering::Relaxed) > 0,
        "the emulator injected faults and the client retried them"
    );
}

// ---------------------------------------------------------------------------
// Conditional writes.

async fn start() -> (EmulatorHandle, aws_sdk_s3::Client) {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu, 3).await;
    (emu, s3)
}

async fn get_body(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_none_match_star_creates_once_and_one_racing_create_wins() {
    let (emu, s3) = start().await;
    s3.create_bucket().bucket("cond").send().await.unwrap();

    s3.put_object()
        .bucket("cond")
        .key("lock")
        .if_none_match("*")
        .body(ByteStream::from_static(b"first"))
        .send()
        .await
        .unwrap();
    let err = s3
        .put_object()
        .bucket("cond")
        .key("lock")
        .if_none_match("*")
        .body(ByteStream::from_static(b"second"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_and_code(&err),
        (Some(412), Some("PreconditionFailed".to_string()))
    );
    assert_eq!(get_body(&s3, "cond", "lock").await, b"first");

    // N concurrent creates of one new key, several rounds: one winner each.
    for round in 0..5 {
        let key = format!("race/{round}");
        let mut tasks = Vec::new();
        for i in 0..12u8 {
            let (s3, key) = (s3.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let body = vec![i; 1024 + usize::from(i)];
                let res = s3
                    .put_object()
                    .bucket("cond")
                    .key(&key)
                    .if_none_match("*")
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await;
                (body, res.map_err(|e| status_and_code(&e)))
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (body, res) = task.await.unwrap();
            match res {
                Ok(_) => winners.push(body),
                Err((Some(412), Some(code))) if code == "PreconditionFailed" => {}
                Err((Some(409), Some(code))) if code == "ConditionalRequestConflict" => {}
                Err(other) => panic!("round {round}: unexpected answer {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one create wins");
        assert_eq!(get_body(&s3, "cond", &key).await, winners[0]);
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_match_writes_only_over_the_expected_etag() {
    let (emu, s3) = start().await;
    s3.create_bucket().bucket("cas").send().await.unwrap();
    let v1 = s3
        .put_object()
        .bucket("cas")
        .key("k")
        .body(ByteStream::from_static(b"v1"))
        .send()
        .await
        .unwrap();
    let v2 = s3
        .put_object()
        .bucket("cas")
        .key("k")
        .if_match(v1.e_tag().unwrap())
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .unwrap();
    assert_ne!(v1.e_tag(), v2.e_tag());
    let err = s3
        .put_object()
        .bucket("cas")
        .key("k")
        .if_match(v1.e_tag().unwrap())
        .body(ByteStream::from_static(b"v3"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_and_code(&err),
        (Some(412), Some("PreconditionFailed".to_string()))
    );
    assert_eq!(get_body(&s3, "cas", "k").await, b"v2");

    // If-Match on a key without an object: 404 NoSuchKey, as on AWS.
    let err = s3
        .put_object()
        .bucket("cas")
        .key("missing")
        .if_match(v1.e_tag().unwrap())
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_and_code(&err),
        (Some(404), Some("NoSuchKey".to_string()))
    );

    // A counter under compare-and-swap: no increment is lost.
    s3.put_object()
        .bucket("cas")
        .key("counter")
        .body(ByteStream::from_static(b"0"))
        .send()
        .await
        .unwrap();
    let lost_races = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (s3, lost_races) = (s3.clone(), lost_races.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                loop {
                    let got = s3
                        .get_object()
                        .bucket("cas")
                        .key("counter")
                        .send()
                        .await
                        .unwrap();
                    let etag = got.e_tag().unwrap().to_string();
                    let body = got.body.collect().await.unwrap().into_bytes();
                    let n: u32 = std::str::from_utf8(&body).unwrap().parse().unwrap();
                    let res = s3
                        .put_object()
                        .bucket("cas")
                        .key("counter")
                        .if_match(etag)
                        .body(ByteStream::from((n + 1).to_string().into_bytes()))
                        .send()
                        .await;
                    match res {
                        Ok(_) => break,
                        Err(e) => {
                            let (status, _) = status_and_code(&e);
                            assert!(
                                matches!(status, Some(412 | 409)),
                                "unexpected answer {status:?}"
                            );
                            lost_races.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(get_body(&s3, "cas", "counter").await, b"60");
    println!(
        "compare-and-swap counter: 60 increments, {} lost races retried",
        lost_races.load(Ordering::Relaxed)
    );
    emu.shutdown().await;
}

async fn upload_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    parts: &[&[u8]],
    algorithm: Option<(ChecksumAlgorithm, ChecksumType)>,
) -> (String, Vec<CompletedPart>) {
    let mut create = s3.create_multipart_upload().bucket(bucket).key(key);
    if let Some((alg, kind)) = &algorithm {
        create = create
            .checksum_algorithm(alg.clone())
            .checksum_type(kind.clone());
    }
    let id = create
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let mut completed = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let mut req = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(part.to_vec()));
        if let Some((alg, _)) = &algorithm {
            req = req.checksum_algorithm(alg.clone());
        }
        let out = req.send().await.unwrap();
        completed.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
                .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_string))
                .set_checksum_sha256(out.checksum_sha256().map(str::to_string))
                .build(),
        );
    }
    (id, completed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_complete_multipart_upload_is_atomic() {
    let (emu, s3) = start().await;
    s3.create_bucket().bucket("mpu-cond").send().await.unwrap();
    let old = s3
        .put_object()
        .bucket("mpu-cond")
        .key("k")
        .body(ByteStream::from_static(b"old"))
        .send()
        .await
        .unwrap();
    let body = pattern(7, PART + 100);
    let parts: [&[u8]; 2] = [&body[..PART], &body[PART..]];
    let (id, completed) = upload_parts(&s3, "mpu-cond", "k", &parts, None).await;
    let complete = |cond: Option<(&str, String)>| {
        let mut req = s3
            .complete_multipart_upload()
            .bucket("mpu-cond")
            .key("k")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed.clone()))
                    .build(),
            );
        match cond {
            Some(("if-none-match", v)) => req = req.if_none_match(v),
            Some((_, v)) => req = req.if_match(v),
            None => {}
        }
        req.send()
    };
    let err = complete(Some(("if-none-match", "*".into())))
        .await
        .unwrap_err();
    assert_eq!(
        status_and_code(&err),
        (Some(412), Some("PreconditionFailed".to_string()))
    );
    let err = complete(Some((
        "if-match",
        "\"0123456789abcdef0123456789abcdef\"".into(),
    )))
    .await
    .unwrap_err();
    assert_eq!(
        status_and_code(&err),
        (Some(412), Some("PreconditionFailed".to_string()))
    );
    assert_eq!(get_body(&s3, "mpu-cond", "k").await, b"old");
    // The refused upload survives and completes over the expected ETag.
    let done = complete(Some(("if-match", old.e_tag().unwrap().to_string())))
        .await
        .unwrap();
    assert_eq!(unquote(done.e_tag()), multipart_etag(&parts));
    assert_eq!(get_body(&s3, "mpu-cond", "k").await, body);

    // Two uploads racing to create one new key: one wins, whole.
    let mut tasks = Vec::new();
    for i in 0..2u32 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            let body = pattern(100 + i, PART + 10);
            let parts: [&[u8]; 2] = [&body[..PART], &body[PART..]];
            let (id, completed) = upload_parts(&s3, "mpu-cond", "new", &parts, None).await;
            let res = s3
                .complete_multipart_upload()
                .bucket("mpu-cond")
                .key("new")
                .upload_id(&id)
                .if_none_match("*")
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(completed))
                        .build(),
                )
                .send()
                .await;
            (body, res.map_err(|e| status_and_code(&e)))
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (body, res) = task.await.unwrap();
        match res {
            Ok(_) => winners.push(body),
            Err((Some(412 | 409), _)) => {}
            Err(other) => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(get_body(&s3, "mpu-cond", "new").await, winners[0]);
    emu.shutdown().await;
}

#[tokio::test]
async fn conditional_copy_object_writes_only_when_the_condition_holds() {
    let (emu, s3) = start().await;
    s3.create_bucket().bucket("copy-cond").send().await.unwrap();
    for (key, body) in [("src", &b"source"[..]), ("dst", &b"destination"[..])] {
        s3.put_object()
            .bucket("copy-cond")
            .key(key)
            .body(ByteStream::from_static(body))
            .send()
            .await
            .unwrap();
    }
    let copy = |to: &str| {
        s3.copy_object()
            .bucket("copy-cond")
            .key(to)
            .copy_source("copy-cond/src")
    };
    let err = copy("dst").if_none_match("*").send().await.unwrap_err();
    assert_eq!(
        status_and_code(&err),
        (Some(412), Some("PreconditionFailed".to_string()))
    );
    assert_eq!(get_body(&s3, "copy-cond", "dst").await, b"destination");
    copy("new").if_none_match("*").send().await.unwrap();
    assert_eq!(get_body(&s3, "copy-cond", "new").await, b"source");

    let dst_etag = s3
        .head_object()
        .bucket("copy-cond")
        .key("dst")
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    let err = copy("dst")
        .if_match("\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        status_and_code(&err),
        (Some(412), Some("PreconditionFailed".to_string()))
    );
    copy("dst").if_match(dst_etag).send().await.unwrap();
    assert_eq!(get_body(&s3, "copy-cond", "dst").await, b"source");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_record_that_does_not_describe_the_bytes_is_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s3");
    let cfg = EmulatorConfig {
        state_dir: Some(state.clone()),
        ..EmulatorConfig::default()
    };
    let old = pattern(1, 4096);
    let new = pattern(2, 4096);
    let emu = Emulator::start(cfg.clone()).await.unwrap();
    let s3 = client(&emu, 3).await;
    s3.create_bucket().bucket("crash").send().await.unwrap();
    for key in ["renamed", "unrecorded"] {
        s3.put_object()
            .bucket("crash")
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(old.clone()))
            .send()
            .await
            .unwrap();
    }
    emu.shutdown().await;

    // As if a commit stopped between its two renames: new bytes (a new
    // file, same length) under the old record.
    let tmp = state.join("replacement");
    std::fs::write(&tmp, &new).unwrap();
    std::fs::rename(&tmp, state.join("crash").join("renamed")).unwrap();
    // As if stored by plain s3s-fs: bytes without a record.
    for entry in std::fs::read_dir(state.join(".store")).unwrap() {
        let path = entry.unwrap().path();
        let record = std::fs::read_to_string(&path).unwrap();
        if record.contains("\"unrecorded\"") {
            std::fs::remove_file(path).unwrap();
        }
    }

    let emu = Emulator::start(cfg).await.unwrap();
    let s3 = client(&emu, 3).await;
    for (key, body) in [("renamed", &new), ("unrecorded", &old)] {
        let seen = get_seen(&s3, "crash", key).await;
        assert_eq!(&seen.body, body, "{key}");
        assert_eq!(seen.etag, md5_hex(body), "{key}");
        assert_eq!(
            seen.crc32, None,
            "{key}: the recorded CRC32 is not believed"
        );
        assert_eq!(seen.crc64, Some(b64(&Crc64Nvme::checksum(body))), "{key}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_delete_during_a_conditional_multipart_upload_is_a_conflict() {
    let (emu, s3) = start().await;
    s3.create_bucket().bucket("mpu-409").send().await.unwrap();
    let parts: [&[u8]; 1] = [b"the only part"];
    for cond in ["if-none-match", "if-match"] {
        let old = s3
            .put_object()
            .bucket("mpu-409")
            .key(cond)
            .body(ByteStream::from_static(b"old"))
            .send()
            .await
            .unwrap();
        let (id, completed) = upload_parts(&s3, "mpu-409", cond, &parts, None).await;
        s3.delete_object()
            .bucket("mpu-409")
            .key(cond)
            .send()
            .await
            .unwrap();
        let mut req = s3
            .complete_multipart_upload()
            .bucket("mpu-409")
            .key(cond)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            );
        req = match cond {
            "if-none-match" => req.if_none_match("*"),
            _ => req.if_match(old.e_tag().unwrap()),
        };
        let err = req.send().await.unwrap_err();
        assert_eq!(
            status_and_code(&err),
            (Some(409), Some("ConditionalRequestConflict".to_string())),
            "{cond}"
        );
        let err = s3
            .head_object()
            .bucket("mpu-409")
            .key(cond)
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_not_found(), "{cond}");
        s3.abort_multipart_upload()
            .bucket("mpu-409")
            .key(cond)
            .upload_id(&id)
            .send()
            .await
            .unwrap();
    }
    emu.shutdown().await;
}

// ---------------------------------------------------------------------------
// Checksums and ETags agree with the bytes after PUT, copy and multipart.

struct Seen {
    body: Vec<u8>,
    etag: String,
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64: Option<String>,
    sha256: Option<String>,
    kind: Option<ChecksumType>,
}

async fn get_seen(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Seen {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let seen = Seen {
        etag: unquote(out.e_tag()),
        crc32: out.checksum_crc32().map(str::to_string),
        crc32c: out.checksum_crc32_c().map(str::to_string),
        crc64: out.checksum_crc64_nvme().map(str::to_string),
        sha256: out.checksum_sha256().map(str::to_string),
        kind: out.checksum_type().cloned(),
        // The SDK validates the body against the checksum header.
        body: out.body.collect().await.unwrap().into_bytes().to_vec(),
    };
    // HEAD tells the same.
    assert_eq!(unquote(head.e_tag()), seen.etag, "{key}");
    assert_eq!(head.checksum_crc32(), seen.crc32.as_deref(), "{key}");
    assert_eq!(head.checksum_crc32_c(), seen.crc32c.as_deref(), "{key}");
    assert_eq!(head.checksum_crc64_nvme(), seen.crc64.as_deref(), "{key}");
    assert_eq!(head.checksum_sha256(), seen.sha256.as_deref(), "{key}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_and_etags_match_the_bytes_after_put_copy_and_multipart() {
    let (emu, s3) = start().await;
    s3.create_bucket().bucket("sums").send().await.unwrap();
    let body = pattern(0xabc, 70_000);
    let crc32 = b64(&Crc32::checksum(&body));
    let crc32c = b64(&Crc32c::checksum(&body));
    let sha256 = b64(Sha256::checksum(&body).as_ref());
    let crc64 = b64(&Crc64Nvme::checksum(&body));

    // (key, algorithm asked for, the header S3 then answers with)
    let cases: [(&str, Option<ChecksumAlgorithm>, &str); 4] = [
        ("default", None, "crc32"),
        ("crc32", Some(ChecksumAlgorithm::Crc32), "crc32"),
        ("crc32c", Some(ChecksumAlgorithm::Crc32C), "crc32c"),
        ("sha256", Some(ChecksumAlgorithm::Sha256), "sha256"),
    ];
    for (key, alg, header) in &cases {
        let put = s3
            .put_object()
            .bucket("sums")
            .key(*key)
            .set_checksum_algorithm(alg.clone())
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let want = match *header {
            "crc32" => &crc32,
            "crc32c" => &crc32c,
            _ => &sha256,
        };
        for (name, copy) in [(key.to_string(), false), (format!("{key}-copy"), true)] {
            if copy {
                let out = s3
                    .copy_object()
                    .bucket("sums")
                    .key(&name)
                    .copy_source(format!("sums/{key}"))
                    .send()
                    .await
                    .unwrap();
                let result = out.copy_object_result().unwrap();
                assert_eq!(unquote(result.e_tag()), md5_hex(&body), "{name}");
            }
            let seen = get_seen(&s3, "sums", &name).await;
            assert_eq!(seen.body, body, "{name}");
            assert_eq!(seen.etag, md5_hex(&body), "{name}");
            assert_eq!(seen.etag, unquote(put.e_tag()), "{name}");
            let got = match *header {
                "crc32" => seen.crc32.as_ref(),
                "crc32c" => seen.crc32c.as_ref(),
                _ => seen.sha256.as_ref(),
            };
            assert_eq!(got, Some(want), "{name}: {header}");
            assert_eq!(seen.kind, Some(ChecksumType::FullObject), "{name}");
        }
    }
    // A copy can ask for another algorithm; the checksum is of the bytes.
    let out = s3
        .copy_object()
        .bucket("sums")
        .key("to-sha256")
        .copy_source("sums/crc32")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.copy_object_result().unwrap().checksum_sha256(),
        Some(sha256.as_str())
    );
    assert_eq!(
        get_seen(&s3, "sums", "to-sha256").await.sha256,
        Some(sha256.clone())
    );
    // A PUT that sends no checksum gets S3's default, a CRC64NVME.
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let no_sums = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .build(),
    );
    let plain = no_sums
        .put_object()
        .bucket("sums")
        .key("no-checksum-sent")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.checksum_crc64_nvme(), Some(crc64.as_str()));
    let seen = get_seen(&s3, "sums", "no-checksum-sent").await;
    assert_eq!(seen.crc64, Some(crc64.clone()));
    assert_eq!(seen.crc32, None);

    // Multipart: the ETag of parts, and the upload's checksum.
    let big = pattern(0xdef, PART + 4321);
    let parts: [&[u8]; 2] = [&big[..PART], &big[PART..]];
    let composite = |digest: fn(&[u8]) -> Vec<u8>| {
        let mut all = Vec::new();
        for p in parts {
            all.extend(digest(p));
        }
        format!("{}-2", b64(&digest(&all)))
    };
    let mp_cases = [
        ("mp-default", None),
        (
            "mp-crc32-full",
            Some((ChecksumAlgorithm::Crc32, ChecksumType::FullObject)),
        ),
        (
            "mp-crc32c-composite",
            Some((ChecksumAlgorithm::Crc32C, ChecksumType::Composite)),
        ),
        (
            "mp-sha256-composite",
            Some((ChecksumAlgorithm::Sha256, ChecksumType::Composite)),
        ),
    ];
    for (key, alg) in mp_cases {
        let (id, completed) = upload_parts(&s3, "sums", key, &parts, alg.clone()).await;
        let done = s3
            .complete_multipart_upload()
            .bucket("sums")
            .key(key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(unquote(done.e_tag()), multipart_etag(&parts), "{key}");
        let seen = get_seen(&s3, "sums", key).await;
        assert_eq!(seen.body, big, "{key}");
        assert_eq!(seen.etag, multipart_etag(&parts), "{key}");
        match key {
            "mp-default" => {
                assert_eq!(seen.crc64, Some(b64(&Crc64Nvme::checksum(&big))), "{key}");
                assert_eq!(seen.kind, Some(ChecksumType::FullObject));
            }
            "mp-crc32-full" => {
                assert_eq!(seen.crc32, Some(b64(&Crc32::checksum(&big))), "{key}");
                assert_eq!(seen.kind, Some(ChecksumType::FullObject));
            }
            "mp-crc32c-composite" => {
                assert_eq!(
                    seen.crc32c,
                    Some(composite(|b| Crc32c::checksum(b).to_vec())),
                    "{key}"
                );
                assert_eq!(seen.kind, Some(ChecksumType::Composite));
            }
            _ => {
                assert_eq!(
                    seen.sha256,
                    Some(composite(|b| Sha256::checksum(b).as_ref().to_vec())),
                    "{key}"
                );
                assert_eq!(seen.kind, Some(ChecksumType::Composite));
            }
        }
        // A copy of a multipart object is one part: MD5 ETag, and a
        // full-object checksum of the same algorithm.
        let copy = format!("{key}-copy");
        s3.copy_object()
            .bucket("sums")
            .key(&copy)
            .copy_source(format!("sums/{key}"))
            .send()
            .await
            .unwrap();
        let seen = get_seen(&s3, "sums", &copy).await;
        assert_eq!(seen.body, big, "{copy}");
        assert_eq!(seen.etag, md5_hex(&big), "{copy}");
        assert_eq!(seen.kind, Some(ChecksumType::FullObject), "{copy}");
        let full = check_checksums(
            &seen.body,
            seen.crc32.as_deref(),
            seen.crc32c.as_deref(),
            seen.crc64.as_deref(),
            seen.sha256.as_deref(),
        )
        .unwrap();
        assert_eq!(full, 1, "{copy}: one full-object checksum");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_delete_is_seen_by_the_next_get_head_and_list() {
    let (emu, s3) = start().await;
    s3.create_bucket().bucket("gone-next").send().await.unwrap();
    for round in 0..20 {
        let key = format!("k{}", round % 3);
        s3.put_object()
            .bucket("gone-next")
            .key(&key)
            .body(ByteStream::from(pattern(round, 1000)))
            .send()
            .await
            .unwrap();
        assert_eq!(get_body(&s3, "gone-next", &key).await, pattern(round, 1000));
        s3.delete_object()
            .bucket("gone-next")
            .key(&key)
            .send()
            .await
            .unwrap();
        let err = s3
            .get_object()
            .bucket("gone-next")
            .key(&key)
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_no_such_key());
        let err = s3
            .head_object()
            .bucket("gone-next")
            .key(&key)
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_not_found());
        let listed = s3
            .list_objects_v2()
            .bucket("gone-next")
            .send()
            .await
            .unwrap();
        assert!(listed.contents().is_empty(), "round {round}");
        // A create-only write succeeds again once the key is deleted.
        s3.put_object()
            .bucket("gone-next")
            .key(&key)
            .if_none_match("*")
            .body(ByteStream::from_static(b"again"))
            .send()
            .await
            .unwrap();
        s3.delete_object()
            .bucket("gone-next")
            .key(&key)
            .send()
            .await
            .unwrap();
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn keys_that_cannot_be_files_get_one_clear_error() {
    let (emu, s3) = start().await;
    s3.create_bucket().bucket("odd-keys").send().await.unwrap();
    for key in ["a//b", "a/../b", "./a"] {
        let err = s3
            .put_object()
            .bucket("odd-keys")
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        let (status, code) = status_and_code(&err);
        assert_eq!(status, Some(400), "{key}");
        assert!(code.is_some(), "{key}");
    }
    emu.shutdown().await;
}
