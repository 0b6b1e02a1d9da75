//! Object storage that keeps S3's consistency promises on top of `s3s-fs`.
//!
//! `s3s-fs` writes an object's bytes, its metadata and its checksums as three
//! separate files, one after the other, and answers a GET by opening the
//! bytes and then reading the other two by path. A reader that meets a
//! concurrent overwrite can therefore get one version's bytes with another
//! version's checksum (or a CopyObject's half-written bytes, since it copies
//! in place). S3 promises more: a write is atomic, its checksums always match
//! the bytes served, and a completed write is seen by the next GET, HEAD and
//! listing. This module owns the object operations and delegates the rest
//! (buckets, parts, listings) to `s3s-fs`:
//!
//! - Every write (PutObject, CopyObject, CompleteMultipartUpload) streams into
//!   a temporary file in the state directory's root (same file system as the
//!   buckets, never inside a bucket so no listing sees it), computes the ETag
//!   and checksums from the bytes as they pass, and then *commits*: under the
//!   key's exclusive lock it renames the file over the object and renames a
//!   new record (ETag, checksum, content type, user metadata) into place.
//! - A reader takes the key's shared lock only to open the object and read
//!   its record, so it always pairs bytes and record of one version; it then
//!   streams from its open file handle, which keeps that version's bytes even
//!   if the key is overwritten or deleted meanwhile.
//! - The record names the inode and size of the bytes it describes; if they
//!   do not match (a crash between the two renames, or an object written by
//!   an older emulator), the ETag and checksum are derived from the bytes
//!   instead, so a checksum never disagrees with the bytes served.
//! - Conditional writes (`If-None-Match: *`, `If-Match: <etag>`) check the
//!   condition and commit under the same exclusive lock, so of racing
//!   conditional creates exactly one wins and the others get 412
//!   PreconditionFailed. A conditional write during which the key was deleted
//!   gets 409 ConditionalRequestConflict, as on AWS; `If-Match` on a missing
//!   key gets 404 NoSuchKey.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::RwLock;

/// The one owner of every bucket and object: S3's canonical user id form
/// (64 hex digits) and a display name.
fn local_owner() -> Owner {
    Owner {
        display_name: Some("emulator".to_string()),
        id: Some("75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a".to_string()),
    }
}

/// The one region of the emulator's buckets.
const REGION: &str = "us-east-1";

/// S3 encrypts every object at rest with S3-managed keys (SSE-S3) unless
/// told otherwise, and says so on every object write and read.
fn sse_s3() -> Option<ServerSideEncryption> {
    Some(ServerSideEncryption::from_static(
        ServerSideEncryption::AES256,
    ))
}

/// S3's minimum size of every part of a multipart upload but the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// What a key keeps unescaped in a URL path: RFC 3986's unreserved
/// characters and `/`.
const KEY_IN_URL: percent_encoding::AsciiSet = percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A key, prefix or delimiter as a listing with `encoding-type=url`
/// writes it.
fn url_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, &KEY_IN_URL).to_string()
}

/// Read and write buffer size.
const CHUNK: usize = 256 * 1024;

/// The S3 implementation behind the emulator's endpoint.
pub(crate) struct Store {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
    keys: KeyLocks,
    tmp_counter: AtomicU64,
    /// Uploads in progress: the key's state when the upload was created, so
    /// a conditional completion can tell that the key was deleted meanwhile.
    uploads: Mutex<HashMap<String, (Arc<KeyState>, u64)>>,
    /// The MD5 of each part as `s3s-fs` computed it when the part arrived,
    /// keyed by the part's file, with the file's identity then: a
    /// CompleteMultipartUpload checks the parts' ETags against it instead
    /// of hashing every part again (S3 does not read the parts twice
    /// either). A part whose file changed since, or that arrived before
    /// this emulator started, is hashed as before.
    part_md5s: Mutex<HashMap<PathBuf, PartDigest>>,
}

/// A part's MD5 and the identity of the file it was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PartDigest {
    ino: u64,
    size: u64,
    modified: SystemTime,
    md5: [u8; 16],
}

impl PartDigest {
    /// `md5` for the file `meta` describes.
    fn of(meta: &std::fs::Metadata, md5: [u8; 16]) -> Option<Self> {
        Some(Self {
            ino: meta.ino(),
            size: meta.len(),
            modified: meta.modified().ok()?,
            md5,
        })
    }
}

/// The 16 bytes of an MD5 given as 32 hex digits (an ETag's value).
fn md5_of_hex(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("root", &self.root).finish()
    }
}

/// One lock per key: shared to open an object and read its record,
/// exclusive to commit a write or a delete.
#[derive(Default)]
struct KeyState {
    lock: RwLock<()>,
    /// Deletes of this key so far (while anyone holds this state).
    deletes: AtomicU64,
}

#[derive(Default)]
struct KeyLocks(Mutex<HashMap<(String, String), Arc<KeyState>>>);

impl KeyLocks {
    fn get(&self, bucket: &str, key: &str) -> Arc<KeyState> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 4096 {
            // Forget the states nobody holds; a new one starts unlocked.
            map.retain(|_, state| Arc::strong_count(state) > 1);
        }
        map.entry((bucket.to_string(), key.to_string()))
            .or_default()
            .clone()
    }
}

/// What an object's record says besides its bytes (the fields and JSON
/// names of `s3s-fs`'s attributes, so its upload metadata can be read).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Attrs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_metadata: Option<HashMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    website_redirect_location: Option<String>,
}

impl Attrs {
    /// The stored Content-Type, or `binary/octet-stream`, which S3 gives an
    /// object written without one.
    fn content_type(&self) -> String {
        self.content_type
            .clone()
            .unwrap_or_else(|| "binary/octet-stream".to_string())
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        user_metadata: Option<Metadata>,
        content_encoding: Option<String>,
        content_type: Option<String>,
        content_disposition: Option<String>,
        content_language: Option<String>,
        cache_control: Option<String>,
        expires: Option<Timestamp>,
        website_redirect_location: Option<String>,
    ) -> Self {
        let expires = expires.and_then(|ts| {
            let mut buf = Vec::new();
            ts.format(TimestampFormat::DateTime, &mut buf).ok()?;
            String::from_utf8(buf).ok()
        });
        Self {
            user_metadata,
            content_encoding,
            content_type,
            content_disposition,
            content_language,
            cache_control,
            expires,
            website_redirect_location,
        }
    }

    fn expires(&self) -> Option<Timestamp> {
        let s = self.expires.as_deref()?;
        Timestamp::parse(TimestampFormat::DateTime, s).ok()
    }
}

/// The checksum S3 keeps for an object: one algorithm, full-object or
/// composite (a checksum of the parts' checksums, `…-N`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredChecksum {
    algorithm: String,
    value: String,
    kind: String,
}

/// An object's record: everything S3 answers about it besides its bytes,
/// written in the same commit as the bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    bucket: String,
    key: String,
    /// Inode and size of the bytes this record describes.
    ino: u64,
    size: u64,
    etag: String,
    #[serde(default)]
    checksum: Option<StoredChecksum>,
    #[serde(default)]
    attrs: Attrs,
}

/// One version of an object, opened: its bytes and its record.
struct Opened {
    file: tokio::fs::File,
    len: u64,
    modified: SystemTime,
    record: Record,
}

/// A temporary file removed on drop unless committed.
struct TmpFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Bytes written to a temporary file, with what identifies them.
struct Staged {
    tmp: TmpFile,
    ino: u64,
    size: u64,
    modified: SystemTime,
}

/// The precondition of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WriteCondition {
    Always,
    /// `If-None-Match: *`: only if the key has no object.
    Absent,
    /// `If-Match`: only if the key's object has this ETag (`None`: any).
    Matches(Option<String>),
}

impl WriteCondition {
    fn from_headers(
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
    ) -> S3Result<Self> {
        match (if_match, if_none_match) {
            (None, None) => Ok(Self::Always),
            (Some(_), Some(_)) => Err(s3_error!(
                NotImplemented,
                "If-Match and If-None-Match cannot be combined on a write"
            )),
            (None, Some(ETagCondition::Any)) => Ok(Self::Absent),
            (None, Some(ETagCondition::ETag(_))) => Err(s3_error!(
                NotImplemented,
                "If-None-Match on a write accepts only '*'"
            )),
            (Some(ETagCondition::Any), None) => Ok(Self::Matches(None)),
            (Some(ETagCondition::ETag(etag)), None) => {
                Ok(Self::Matches(Some(etag.value().to_string())))
            }
        }
    }

    fn check(&self, current: Option<&str>) -> S3Result<()> {
        match (self, current) {
            (Self::Always, _) | (Self::Absent, None) => Ok(()),
            (Self::Absent, Some(_)) => Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold (an object exists at this key)"
            )),
            (Self::Matches(_), None) => Err(s3_error!(
                NoSuchKey,
                "The specified key does not exist, so If-Match cannot hold"
            )),
            (Self::Matches(Some(want)), Some(have)) if want != have => Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold (the ETag does not match)"
            )),
            (Self::Matches(_), Some(_)) => Ok(()),
        }
    }
}

fn internal(e: impl std::error::Error + Send + Sync + 'static) -> S3Error {
    S3Error::with_source(S3ErrorCode::InternalError, Box::new(e))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Missing-file errors, including a path through a regular file.
fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// The canonical name of a checksum algorithm S3 accepts.
fn algorithm_name(alg: &str) -> S3Result<&'static str> {
    match alg.to_ascii_uppercase().as_str() {
        ChecksumAlgorithm::CRC32 => Ok(ChecksumAlgorithm::CRC32),
        ChecksumAlgorithm::CRC32C => Ok(ChecksumAlgorithm::CRC32C),
        ChecksumAlgorithm::CRC64NVME => Ok(ChecksumAlgorithm::CRC64NVME),
        ChecksumAlgorithm::SHA1 => Ok(ChecksumAlgorithm::SHA1),
        ChecksumAlgorithm::SHA256 => Ok(ChecksumAlgorithm::SHA256),
        other => Err(s3_error!(
            InvalidRequest,
            "Checksum algorithm {other:?} is not one of CRC32, CRC32C, CRC64NVME, SHA1, SHA256"
        )),
    }
}

/// A hasher for one algorithm.
fn hasher_for(alg: &str) -> ChecksumHasher {
    let mut h = ChecksumHasher::default();
    match alg {
        ChecksumAlgorithm::CRC32 => h.crc32 = Some(Crc32::new()),
        ChecksumAlgorithm::CRC32C => h.crc32c = Some(Crc32c::new()),
        ChecksumAlgorithm::SHA1 => h.sha1 = Some(Sha1::new()),
        ChecksumAlgorithm::SHA256 => h.sha256 = Some(Sha256::new()),
        _ => h.crc64nvme = Some(Crc64Nvme::new()),
    }
    h
}

fn value_of(sums: &s3s::dto::Checksum, alg: &str) -> Option<String> {
    match alg {
        ChecksumAlgorithm::CRC32 => sums.checksum_crc32.clone(),
        ChecksumAlgorithm::CRC32C => sums.checksum_crc32c.clone(),
        ChecksumAlgorithm::SHA1 => sums.checksum_sha1.clone(),
        ChecksumAlgorithm::SHA256 => sums.checksum_sha256.clone(),
        ChecksumAlgorithm::CRC64NVME => sums.checksum_crc64nvme.clone(),
        _ => None,
    }
}

/// The stored checksum spread over the five header fields S3 answers with.
#[derive(Default)]
struct Sums {
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64nvme: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
    kind: Option<ChecksumType>,
}

impl Sums {
    fn of(stored: Option<&StoredChecksum>) -> Self {
        let mut s = Self::default();
        let Some(c) = stored else { return s };
        let v = Some(c.value.clone());
        match c.algorithm.as_str() {
            ChecksumAlgorithm::CRC32 => s.crc32 = v,
            ChecksumAlgorithm::CRC32C => s.crc32c = v,
            ChecksumAlgorithm::SHA1 => s.sha1 = v,
            ChecksumAlgorithm::SHA256 => s.sha256 = v,
            ChecksumAlgorithm::CRC64NVME => s.crc64nvme = v,
            _ => return Self::default(),
        }
        s.kind = Some(ChecksumType::from(c.kind.clone()));
        s
    }
}

/// A part named by CompleteMultipartUpload.
struct ListedPart {
    number: i32,
    path: PathBuf,
    /// The ETag the request gave for it.
    etag: Option<String>,
    /// The MD5 recorded when it arrived, with the file's identity then.
    known: Option<PartDigest>,
}

/// An object assembled from its parts, with the checksums S3 answers with.
struct Assembled {
    /// The whole object's checksum state.
    full: ChecksumHasher,
    /// Each part's MD5, in order (the multipart ETag is their MD5).
    part_md5s: Vec<u8>,
    /// Each part's checksum, in order, for a composite checksum.
    part_sums: Vec<u8>,
    ino: u64,
    size: u64,
    modified: SystemTime,
}

/// Copies `parts` into the file `to` (blocking), hashing as they pass:
/// the whole object with `full_alg`, each part with `part_alg` when the
/// checksum is composite, and a part's MD5 only when the one recorded on
/// arrival is not for the file as it is now. Each part's ETag is checked
/// and every part but the last must be S3's minimum size.
fn assemble(
    parts: &[ListedPart],
    to: &Path,
    full_alg: &'static str,
    part_alg: Option<&'static str>,
) -> S3Result<Assembled> {
    use std::io::{Read, Write};
    let mut file = std::fs::File::create(to).map_err(internal)?;
    let mut full = hasher_for(full_alg);
    let mut part_md5s = Vec::with_capacity(parts.len() * 16);
    let mut part_sums = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let last = parts.len().saturating_sub(1);
    for (i, part) in parts.iter().enumerate() {
        let n = part.number;
        let mut reader = match std::fs::File::open(&part.path) {
            Ok(f) => f,
            Err(e) if is_missing(&e) => {
                return Err(s3_error!(
                    InvalidPart,
                    "Part {n} could not be found. It may not have been uploaded."
                ))
            }
            Err(e) => return Err(internal(e)),
        };
        let known = match reader.metadata() {
            Ok(meta) => part
                .known
                .filter(|d| PartDigest::of(&meta, d.md5).as_ref() == Some(d)),
            Err(_) => None,
        };
        let mut md5 = known.is_none().then(Md5::new);
        let mut sum = part_alg.map(hasher_for);
        let mut size = 0u64;
        loop {
            let got = reader.read(&mut buf).map_err(internal)?;
            if got == 0 {
                break;
            }
            let chunk = &buf[..got];
            if let Some(md5) = md5.as_mut() {
                md5.update(chunk);
            }
            full.update(chunk);
            if let Some(s) = sum.as_mut() {
                s.update(chunk);
            }
            file.write_all(chunk).map_err(internal)?;
            size += got as u64;
        }
        let md5 = match md5 {
            Some(hashed) => hashed.finalize(),
            None => known.map(|k| k.md5).unwrap_or_default(),
        };
        if let Some(etag) = &part.etag {
            if *etag != hex(&md5) {
                return Err(s3_error!(
                    InvalidPart,
                    "The ETag given for part {n} does not match the uploaded part"
                ));
            }
        }
        if i != last && size < MIN_PART_SIZE {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size."
            ));
        }
        part_md5s.extend_from_slice(&md5);
        if let (Some(s), Some(alg)) = (sum, part_alg) {
            let value = value_of(&s.finalize(), alg).unwrap_or_default();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(internal)?;
            part_sums.extend_from_slice(&raw);
        }
    }
    let meta = file.metadata().map_err(internal)?;
    Ok(Assembled {
        full,
        part_md5s,
        part_sums,
        ino: meta.ino(),
        size: meta.len(),
        modified: meta.modified().map_err(internal)?,
    })
}

/// The per-upload facts `s3s-fs` does not keep: the checksum algorithm and
/// type CreateMultipartUpload asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UploadInfo {
    algorithm: Option<String>,
    kind: Option<String>,
}

impl Store {
    /// Serves buckets stored under `root` (which must exist).
    pub(crate) fn new(root: &Path) -> Result<Self, String> {
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| format!("{e:?}"))?;
        let root = std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join(root)
            .canonicalize()
            .map_err(|e| e.to_string())?;
        let records = root.join(".store");
        std::fs::create_dir_all(&records).map_err(|e| format!("{}: {e}", records.display()))?;
        Ok(Self {
            fs,
            root,
            keys: KeyLocks::default(),
            tmp_counter: AtomicU64::new(0),
            uploads: Mutex::new(HashMap::new()),
            part_md5s: Mutex::new(HashMap::new()),
        })
    }

    /// Where an object's bytes live (the `s3s-fs` layout, so its listings
    /// see them). Keys that cannot be a relative file path are refused.
    fn object_path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        let bad_bucket =
            bucket.is_empty() || bucket.contains('/') || bucket == "." || bucket == "..";
        if bad_bucket {
            return Err(s3_error!(InvalidBucketName));
        }
        if key.is_empty() {
            return Err(s3_error!(InvalidArgument, "The object key is empty"));
        }
        if key.contains('\0')
            || key.starts_with('/')
            || key
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(s3_error!(
                InvalidArgument,
                "This emulator stores objects as files: a key cannot start with '/' or contain an empty, '.' or '..' segment or a NUL byte"
            ));
        }
        if key.split('/').any(|c| c.len() > 255) {
            return Err(s3_error!(
                KeyTooLongError,
                "This emulator stores objects as files: each '/'-separated segment of a key must be at most 255 bytes"
            ));
        }
        Ok(self.root.join(bucket).join(key))
    }

    fn record_path(&self, bucket: &str, key: &str) -> PathBuf {
        let mut md5 = Md5::new();
        md5.update(bucket.as_bytes());
        md5.update(b"\0");
        md5.update(key.as_bytes());
        self.root
            .join(".store")
            .join(format!("{}.json", hex(&md5.finalize())))
    }

    fn upload_info_path(&self, upload_id: &str) -> PathBuf {
        self.root
            .join(".store")
            .join(format!("upload-{upload_id}.json"))
    }

    /// A fresh temporary path in the root (same file system as every
    /// bucket). The `.tmp.*.internal.part` shape is the one `s3s-fs` removes
    /// at start-up, so a crash leaves nothing behind for long.
    fn tmp_file(&self) -> TmpFile {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        TmpFile {
            path: self.root.join(format!(
                ".tmp.store-{}-{n}-{:08x}.internal.part",
                std::process::id(),
                fastrand::u32(..)
            )),
            keep: false,
        }
    }

    /// Reads a key's record, if any and if it is about this key.
    async fn read_record(&self, bucket: &str, key: &str) -> Option<Record> {
        let raw = tokio::fs::read(self.record_path(bucket, key)).await.ok()?;
        let record: Record = serde_json::from_slice(&raw).ok()?;
        (record.bucket == bucket && record.key == key).then_some(record)
    }

    /// Opens the key's current object and its record as one version.
    async fn open(&self, bucket: &str, key: &str) -> S3Result<Option<Opened>> {
        let path = self.object_path(bucket, key)?;
        let state = self.keys.get(bucket, key);
        let guard = state.lock.read().await;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(internal(e)),
        };
        let meta = file.metadata().await.map_err(internal)?;
        if !meta.is_file() {
            return Ok(None);
        }
        let record = self.read_record(bucket, key).await;
        drop(guard);
        let mut opened = Opened {
            file,
            len: meta.len(),
            modified: meta.modified().map_err(internal)?,
            record: Record {
                bucket: bucket.to_string(),
                key: key.to_string(),
                ino: meta.ino(),
                size: meta.len(),
                etag: String::new(),
                checksum: None,
                attrs: Attrs::default(),
            },
        };
        match record {
            Some(r) if r.ino == meta.ino() && r.size == meta.len() => opened.record = r,
            Some(_) => {
                // A record of other bytes (a crash between the two renames
                // of a commit): derive what the bytes tell, and nothing else.
                let (etag, checksum) = derive(&mut opened.file).await?;
                opened.record.etag = etag;
                opened.record.checksum = Some(checksum);
            }
            None => {
                // An object stored by plain s3s-fs (an older emulator's state
                // directory): its attributes file, and sums from the bytes.
                let (etag, checksum) = derive(&mut opened.file).await?;
                opened.record.etag = etag;
                opened.record.checksum = Some(checksum);
                opened.record.attrs = self.legacy_attrs(bucket, key).await;
            }
        }
        Ok(Some(opened))
    }

    /// The attributes `s3s-fs` keeps beside an object it stored.
    async fn legacy_attrs(&self, bucket: &str, key: &str) -> Attrs {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let path = self.root.join(format!(
            ".bucket-{}.object-{}.metadata.json",
            enc(bucket),
            enc(key)
        ));
        match tokio::fs::read(path).await {
            Ok(raw) => serde_json::from_slice(&raw).unwrap_or_default(),
            Err(_) => Attrs::default(),
        }
    }

    /// The ETag of the key's current object; the caller holds the key's lock.
    async fn current_etag(&self, bucket: &str, key: &str) -> S3Result<Option<String>> {
        let path = self.object_path(bucket, key)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(internal(e)),
        };
        let meta = file.metadata().await.map_err(internal)?;
        if !meta.is_file() {
            return Ok(None);
        }
        match self.read_record(bucket, key).await {
            Some(r) if r.ino == meta.ino() && r.size == meta.len() => Ok(Some(r.etag)),
            _ => Ok(Some(derive(&mut file).await?.0)),
        }
    }

    /// Writes a stream of bytes to a new temporary file, handing each chunk
    /// to `inspect` on the way.
    async fn stage<S, E>(&self, mut stream: S, mut inspect: impl FnMut(&[u8])) -> S3Result<Staged>
    where
        S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp = self.tmp_file();
        let file = tokio::fs::File::create(&tmp.path).await.map_err(internal)?;
        let mut writer = tokio::io::BufWriter::with_capacity(CHUNK, file);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                s3_error!(IncompleteBody, "The request body could not be read: {e}")
            })?;
            inspect(&chunk);
            writer.write_all(&chunk).await.map_err(internal)?;
        }
        writer.flush().await.map_err(internal)?;
        let file = writer.into_inner();
        let meta = file.metadata().await.map_err(internal)?;
        Ok(Staged {
            tmp,
            ino: meta.ino(),
            size: meta.len(),
            modified: meta.modified().map_err(internal)?,
        })
    }

    /// Makes staged bytes and their record the key's object in one step for
    /// every reader, if `condition` holds at that moment.
    async fn commit(
        &self,
        bucket: &str,
        key: &str,
        mut staged: Staged,
        record: &Record,
        condition: &WriteCondition,
        since: Option<(&KeyState, u64)>,
    ) -> S3Result<()> {
        let path = self.object_path(bucket, key)?;
        // The record goes to a temporary file first, so the locked part is
        // two renames.
        let mut record_tmp = self.tmp_file();
        let json = serde_json::to_vec(record).map_err(internal)?;
        tokio::fs::write(&record_tmp.path, json)
            .await
            .map_err(internal)?;

        let state = self.keys.get(bucket, key);
        let _guard = state.lock.write().await;
        if *condition != WriteCondition::Always {
            if let Some((since_state, deletes)) = since {
                if since_state.deletes.load(Ordering::SeqCst) != deletes {
                    return Err(s3_error!(
                        ConditionalRequestConflict,
                        "A conflicting operation occurred (the object was deleted during this conditional write). Retry the request; for a multipart upload, start a new upload."
                    ));
                }
            }
            condition.check(self.current_etag(bucket, key).await?.as_deref())?;
        }
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                s3_error!(
                    e,
                    InvalidArgument,
                    "The key cannot be stored: a parent segment is already an object"
                )
            })?;
        }
        tokio::fs::rename(&staged.tmp.path, &path)
            .await
            .map_err(|e| {
                s3_error!(
                    e,
                    InvalidArgument,
                    "The key cannot be stored: it is a prefix of other objects"
                )
            })?;
        staged.tmp.keep = true;
        // If this rename failed, readers would find a record that does not
        // describe the bytes and derive the checksum from the bytes.
        tokio::fs::rename(&record_tmp.path, self.record_path(bucket, key))
            .await
            .map_err(internal)?;
        record_tmp.keep = true;
        Ok(())
    }

    /// Deletes a key's object and record (nothing if absent).
    async fn delete_key(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&ETagCondition>,
    ) -> S3Result<()> {
        let path = self.object_path(bucket, key)?;
        let state = self.keys.get(bucket, key);
        let _guard = state.lock.write().await;
        if let Some(cond) = if_match {
            let cond = WriteCondition::from_headers(Some(cond), None)?;
            cond.check(self.current_etag(bucket, key).await?.as_deref())?;
        }
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => return Ok(()),
            Err(e) => return Err(internal(e)),
        }
        match tokio::fs::remove_file(self.record_path(bucket, key)).await {
            Ok(()) => {}
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(internal(e)),
        }
        state.deletes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// ETag (MD5) and CRC64NVME of a file's bytes, read through `file`, which is
/// left at its start.
async fn derive(file: &mut tokio::fs::File) -> S3Result<(String, StoredChecksum)> {
    file.seek(io::SeekFrom::Start(0)).await.map_err(internal)?;
    let mut md5 = Md5::new();
    let mut crc = Crc64Nvme::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await.map_err(internal)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        crc.update(&buf[..n]);
    }
    file.seek(io::SeekFrom::Start(0)).await.map_err(internal)?;
    Ok((
        hex(&md5.finalize()),
        StoredChecksum {
            algorithm: ChecksumAlgorithm::CRC64NVME.to_string(),
            value: b64(&crc.finalize()),
            kind: ChecksumType::FULL_OBJECT.to_string(),
        },
    ))
}

/// A stream of `len` bytes of `file` from where it stands.
fn file_stream(
    file: tokio::fs::File,
    len: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, io::Error>> + Send + Sync + 'static {
    futures_util::stream::unfold(Some(file.take(len)), |state| async move {
        let mut reader = state?;
        let mut buf = vec![0u8; CHUNK];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

fn checksum_mode_enabled(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED))
}

/// A source object's copy condition headers, as S3 evaluates them.
fn check_copy_source(input: &CopyObjectInput, etag: &str, modified: Timestamp) -> S3Result<()> {
    let failed = || {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold (copy source)"
        )
    };
    if let Some(cond) = &input.copy_source_if_match {
        if let ETagCondition::ETag(want) = cond {
            if want.value() != etag {
                return Err(failed());
            }
        }
    } else if let Some(since) = &input.copy_source_if_unmodified_since {
        if modified > *since {
            return Err(failed());
        }
    }
    if let Some(cond) = &input.copy_source_if_none_match {
        let matches = match cond {
            ETagCondition::Any => true,
            ETagCondition::ETag(e) => e.value() == etag,
        };
        if matches {
            return Err(failed());
        }
    } else if let Some(since) = &input.copy_source_if_modified_since {
        if modified <= *since {
            return Err(failed());
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl S3 for Store {
    /// S3 answers with the bucket's path in `Location`.
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let location = format!("/{}", req.input.bucket);
        let mut resp = self.fs.create_bucket(req).await?;
        resp.output.location = Some(location);
        Ok(resp)
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fs.delete_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    /// With the bucket's region and `x-amz-access-point-alias: false`, as
    /// S3 answers for a bucket addressed by its name.
    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let mut resp = self.fs.head_bucket(req).await?;
        resp.output.bucket_region = Some(REGION.to_string());
        resp.output.access_point_alias = Some(false);
        Ok(resp)
    }

    /// Each bucket with its region, and the owner, as S3 lists them.
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let mut resp = self.fs.list_buckets(req).await?;
        for bucket in resp.output.buckets.iter_mut().flatten() {
            bucket.bucket_region = Some(REGION.to_string());
        }
        resp.output.owner = Some(local_owner());
        Ok(resp)
    }

    /// ListObjects (V1) as S3 writes it: the V2 listing's entries, each
    /// with its Owner (V1 always names it), and the request's Marker echoed
    /// (empty when it had none).
    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let marker = Some(req.input.marker.clone().unwrap_or_default());
        let url_encoded = req
            .input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let marker = marker.map(|m| if url_encoded { url_encode(&m) } else { m });
        let mut v2 = req.map_input(ListObjectsV2Input::from);
        v2.input.fetch_owner = Some(true);
        let resp = self.list_objects_v2(v2).await?;
        // V1 names the next marker only when a delimiter is used (clients
        // resume after the last key otherwise), encoded as the keys are.
        Ok(resp.map_output(|v2| ListObjectsOutput {
            next_marker: v2
                .next_continuation_token
                .filter(|_| v2.delimiter.is_some())
                .map(|m| if url_encoded { url_encode(&m) } else { m }),
            contents: v2.contents,
            common_prefixes: v2.common_prefixes,
            delimiter: v2.delimiter,
            encoding_type: v2.encoding_type,
            name: v2.name,
            prefix: v2.prefix,
            max_keys: v2.max_keys,
            is_truncated: v2.is_truncated,
            marker,
            ..Default::default()
        }))
    }

    /// `s3s-fs` lists the files (so a listing shows exactly the committed
    /// objects); each entry gets its ETag, size, time and checksum algorithm
    /// and type from one version, its StorageClass (always `STANDARD`
    /// here), and its Owner when the request sets `fetch-owner`, as S3
    /// writes them.
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket = req.input.bucket.clone();
        let fetch_owner = req.input.fetch_owner == Some(true);
        let mut resp = self.fs.list_objects_v2(req).await?;
        // S3 writes <Prefix> even when the request has none.
        resp.output.prefix.get_or_insert_with(String::new);
        let url_encoded = resp
            .output
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        for object in resp.output.contents.iter_mut().flatten() {
            object.storage_class = Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            ));
            if fetch_owner {
                object.owner = Some(local_owner());
            }
            let Some(key) = object.key.clone() else {
                continue;
            };
            if key.ends_with('/') || self.object_path(&bucket, &key).is_err() {
                continue;
            }
            if let Some(opened) = self.open(&bucket, &key).await? {
                if let Some(c) = &opened.record.checksum {
                    object.checksum_algorithm =
                        Some(vec![ChecksumAlgorithm::from(c.algorithm.clone())]);
                    object.checksum_type = Some(ChecksumType::from(c.kind.clone()));
                }
                object.e_tag = Some(ETag::Strong(opened.record.etag));
                object.size = i64::try_from(opened.len).ok();
                object.last_modified = Some(Timestamp::from(opened.modified));
            }
        }
        if url_encoded {
            // `encoding-type=url`: S3 sends keys and prefixes URL-encoded
            // (the AWS CLI asks for it and decodes them, `+` as a space).
            let out = &mut resp.output;
            let encode = |v: &mut Option<String>| {
                if let Some(text) = v {
                    *text = url_encode(text);
                }
            };
            encode(&mut out.prefix);
            encode(&mut out.delimiter);
            encode(&mut out.start_after);
            for object in out.contents.iter_mut().flatten() {
                encode(&mut object.key);
            }
            for prefix in out.common_prefixes.iter_mut().flatten() {
                encode(&mut prefix.prefix);
            }
        }
        Ok(resp)
    }

    /// `s3s-fs` writes the part; its checksums are computed as the bytes
    /// pass, checked against those the client sent (header or trailer; a
    /// mismatch removes the part and is 400 BadDigest) and answered, as S3
    /// does.
    async fn upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = &req.input;
        let requested = match &input.checksum_algorithm {
            Some(a) => Some(algorithm_name(a.as_str())?),
            None => None,
        };
        // Only the checksums the part is checked against or answered with:
        // the one CreateMultipartUpload asked for, those in headers, and
        // those the `x-amz-trailer` header announces (a name that contains
        // another, `crc32c` and `crc32`, costs one more hash, no more).
        // Hashing three CRCs of every part was 6 % of a 5 MiB part's time.
        let announced = req
            .headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let wanted = |alg: &str, in_header: bool| {
            in_header
                || requested == Some(alg)
                || announced.contains(&format!("x-amz-checksum-{}", alg.to_ascii_lowercase()))
        };
        let hasher = ChecksumHasher {
            crc32: wanted(ChecksumAlgorithm::CRC32, input.checksum_crc32.is_some())
                .then(Crc32::new),
            crc32c: wanted(ChecksumAlgorithm::CRC32C, input.checksum_crc32c.is_some())
                .then(Crc32c::new),
            crc64nvme: wanted(
                ChecksumAlgorithm::CRC64NVME,
                input.checksum_crc64nvme.is_some(),
            )
            .then(Crc64Nvme::new),
            sha1: wanted(ChecksumAlgorithm::SHA1, input.checksum_sha1.is_some()).then(Sha1::new),
            sha256: wanted(ChecksumAlgorithm::SHA256, input.checksum_sha256.is_some())
                .then(Sha256::new),
        };
        let mut given = [
            (ChecksumAlgorithm::CRC32, input.checksum_crc32.clone()),
            (ChecksumAlgorithm::CRC32C, input.checksum_crc32c.clone()),
            (ChecksumAlgorithm::SHA1, input.checksum_sha1.clone()),
            (ChecksumAlgorithm::SHA256, input.checksum_sha256.clone()),
            (
                ChecksumAlgorithm::CRC64NVME,
                input.checksum_crc64nvme.clone(),
            ),
        ];
        let part = self.root.join(format!(
            ".upload_id-{}.part-{}",
            input.upload_id, input.part_number
        ));
        let hasher = Arc::new(Mutex::new(hasher));
        if let Some(body) = req.input.body.take() {
            let seen = Arc::clone(&hasher);
            let inspected = body.map(move |chunk| {
                if let Ok(bytes) = &chunk {
                    seen.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .update(bytes);
                }
                chunk.map_err(io::Error::other)
            });
            req.input.body = Some(StreamingBlob::wrap(inspected));
        }
        let trailers = req.trailing_headers.take();
        let mut resp = self.fs.upload_part(req).await?;
        let computed = std::mem::take(
            &mut *hasher
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .finalize();
        if let Some(trailers) = trailers.and_then(|t| t.take()) {
            for (alg, slot) in &mut given {
                let name = format!("x-amz-checksum-{}", alg.to_ascii_lowercase());
                if let Some(v) = trailers.get(name.as_str()).and_then(|v| v.to_str().ok()) {
                    *slot = Some(v.to_string());
                }
            }
        }
        let mut provided = None;
        for (alg, value) in &given {
            let Some(value) = value else { continue };
            if value_of(&computed, alg).as_ref() != Some(value) {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(s3_error!(
                    BadDigest,
                    "The {alg} you specified did not match the calculated checksum"
                ));
            }
            provided.get_or_insert(*alg);
        }
        if let Some(algorithm) = requested.or(provided) {
            let sums = Sums::of(
                value_of(&computed, algorithm)
                    .map(|value| StoredChecksum {
                        algorithm: algorithm.to_string(),
                        value,
                        kind: ChecksumType::FULL_OBJECT.to_string(),
                    })
                    .as_ref(),
            );
            let out = &mut resp.output;
            out.checksum_crc32 = sums.crc32;
            out.checksum_crc32c = sums.crc32c;
            out.checksum_crc64nvme = sums.crc64nvme;
            out.checksum_sha1 = sums.sha1;
            out.checksum_sha256 = sums.sha256;
        }
        resp.output.server_side_encryption = sse_s3();
        let md5 = resp
            .output
            .e_tag
            .as_ref()
            .and_then(|e| md5_of_hex(e.value()));
        if let (Some(md5), Ok(meta)) = (md5, tokio::fs::metadata(&part).await) {
            if let Some(digest) = PartDigest::of(&meta, md5) {
                self.part_md5s
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(part, digest);
            }
        }
        Ok(resp)
    }

    /// With the part's time in `CopyPartResult`, which S3 writes and
    /// `s3s-fs` leaves out.
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let part = self.root.join(format!(
            ".upload_id-{}.part-{}",
            req.input.upload_id, req.input.part_number
        ));
        // The part's bytes change: a digest recorded for them is void.
        self.part_md5s
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&part);
        let mut resp = self.fs.upload_part_copy(req).await?;
        let modified = tokio::fs::metadata(&part)
            .await
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        if let Some(result) = resp.output.copy_part_result.as_mut() {
            result
                .last_modified
                .get_or_insert(Timestamp::from(modified));
        }
        resp.output.server_side_encryption = sse_s3();
        Ok(resp)
    }

    /// ListParts as S3 writes it: `s3s-fs` finds the part files; here
    /// they are sorted, paged by `max-parts` and `part-number-marker`, and
    /// each gets its ETag (the MD5 of its bytes, read again), and the
    /// listing its markers, initiator, owner and storage class.
    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let id = req.input.upload_id.clone();
        let marker = req.input.part_number_marker.unwrap_or(0).max(0);
        let max = req.input.max_parts.unwrap_or(1000).clamp(0, 1000);
        let mut resp = self.fs.list_parts(req).await?;
        let mut parts = resp.output.parts.take().unwrap_or_default();
        parts.retain(|p| p.part_number.is_some_and(|n| n > marker));
        parts.sort_by_key(|p| p.part_number);
        let truncated = parts.len() > max as usize;
        parts.truncate(max as usize);
        for part in &mut parts {
            let Some(n) = part.part_number else { continue };
            let path = self.root.join(format!(".upload_id-{id}.part-{n}"));
            let mut file = tokio::fs::File::open(&path).await.map_err(internal)?;
            let mut md5 = Md5::new();
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = file.read(&mut buf).await.map_err(internal)?;
                if n == 0 {
                    break;
                }
                md5.update(&buf[..n]);
            }
            part.e_tag = Some(ETag::Strong(hex(&md5.finalize())));
        }
        let info: UploadInfo = tokio::fs::read(self.upload_info_path(&id))
            .await
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default();
        let out = &mut resp.output;
        out.part_number_marker = Some(marker);
        out.next_part_number_marker = parts.last().and_then(|p| p.part_number);
        out.max_parts = Some(max);
        out.is_truncated = Some(truncated);
        let owner = local_owner();
        out.initiator = Some(Initiator {
            display_name: owner.display_name.clone(),
            id: owner.id.clone(),
        });
        out.owner = Some(owner);
        out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        out.checksum_algorithm = info.algorithm.map(ChecksumAlgorithm::from);
        out.checksum_type = info.kind.map(ChecksumType::from);
        out.parts = Some(parts);
        Ok(resp)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let algorithm = match &req.input.checksum_algorithm {
            Some(a) => Some(algorithm_name(a.as_str())?),
            None => None,
        };
        let kind = match &req.input.checksum_type {
            None => None,
            Some(t) if t.as_str().eq_ignore_ascii_case(ChecksumType::COMPOSITE) => {
                Some(ChecksumType::COMPOSITE)
            }
            Some(t) if t.as_str().eq_ignore_ascii_case(ChecksumType::FULL_OBJECT) => {
                Some(ChecksumType::FULL_OBJECT)
            }
            Some(t) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "Checksum type {:?} is not COMPOSITE or FULL_OBJECT",
                    t.as_str()
                ))
            }
        };
        let kind = match (algorithm, kind) {
            (None, Some(_)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "A checksum type needs a checksum algorithm"
                ))
            }
            (None, None) => None,
            (Some(ChecksumAlgorithm::CRC64NVME), Some(ChecksumType::COMPOSITE)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The COMPOSITE checksum type is not supported with CRC64NVME"
                ))
            }
            (
                Some(ChecksumAlgorithm::SHA1 | ChecksumAlgorithm::SHA256),
                Some(ChecksumType::FULL_OBJECT),
            ) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The FULL_OBJECT checksum type is not supported with SHA1 or SHA256"
                ))
            }
            (Some(ChecksumAlgorithm::CRC64NVME), None) => Some(ChecksumType::FULL_OBJECT),
            (Some(_), None) => Some(ChecksumType::COMPOSITE),
            (Some(_), Some(k)) => Some(k),
        };
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let mut resp = self.fs.create_multipart_upload(req).await?;
        if let Some(id) = resp.output.upload_id.clone() {
            let info = UploadInfo {
                algorithm: algorithm.map(str::to_string),
                kind: kind.map(str::to_string),
            };
            let json = serde_json::to_vec(&info).map_err(internal)?;
            tokio::fs::write(self.upload_info_path(&id), json)
                .await
                .map_err(internal)?;
            let state = self.keys.get(&bucket, &key);
            let deletes = state.deletes.load(Ordering::SeqCst);
            self.uploads
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id, (state, deletes));
        }
        resp.output.checksum_algorithm = algorithm.map(ChecksumAlgorithm::from_static);
        resp.output.checksum_type = kind.map(ChecksumType::from_static);
        resp.output.server_side_encryption = sse_s3();
        Ok(resp)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let id = req.input.upload_id.clone();
        let resp = self.fs.abort_multipart_upload(req).await?;
        self.forget_upload(&id).await;
        Ok(resp)
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        if req.input.key.ends_with('/') {
            // A "directory" object: s3s-fs makes a directory.
            return self.fs.put_object(req).await;
        }
        let trailers = req.trailing_headers;
        let mut input = req.input;
        if let Some(class) = &input.storage_class {
            if !["STANDARD", "REDUCED_REDUNDANCY"].contains(&class.as_str()) {
                return Err(s3_error!(InvalidStorageClass));
            }
        }
        let body = input.body.take().ok_or_else(|| s3_error!(IncompleteBody))?;
        self.object_path(&input.bucket, &input.key)?;
        let condition =
            WriteCondition::from_headers(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let state = self.keys.get(&input.bucket, &input.key);
        let deletes = state.deletes.load(Ordering::SeqCst);

        let requested = match &input.checksum_algorithm {
            Some(a) => Some(algorithm_name(a.as_str())?),
            None => None,
        };
        // Every algorithm a header or trailer may name: the CRCs are cheap;
        // the SHAs only when asked for.
        let mut hasher = ChecksumHasher {
            crc32: Some(Crc32::new()),
            crc32c: Some(Crc32c::new()),
            crc64nvme: Some(Crc64Nvme::new()),
            ..Default::default()
        };
        if input.checksum_sha1.is_some() || requested == Some(ChecksumAlgorithm::SHA1) {
            hasher.sha1 = Some(Sha1::new());
        }
        if input.checksum_sha256.is_some() || requested == Some(ChecksumAlgorithm::SHA256) {
            hasher.sha256 = Some(Sha256::new());
        }
        let mut md5 = Md5::new();
        let staged = self
            .stage(body, |chunk| {
                md5.update(chunk);
                hasher.update(chunk);
            })
            .await?;
        let md5 = md5.finalize();
        let computed = hasher.finalize();

        if let Some(content_md5) = &input.content_md5 {
            let given = base64::engine::general_purpose::STANDARD
                .decode(content_md5)
                .map_err(|_| s3_error!(InvalidDigest, "Content-MD5 is not base64"))?;
            if given != md5 {
                return Err(s3_error!(
                    BadDigest,
                    "The Content-MD5 you specified did not match what we received"
                ));
            }
        }
        if let Some(trailers) = trailers.and_then(|t| t.take()) {
            for (name, slot) in [
                ("x-amz-checksum-crc32", &mut input.checksum_crc32),
                ("x-amz-checksum-crc32c", &mut input.checksum_crc32c),
                ("x-amz-checksum-sha1", &mut input.checksum_sha1),
                ("x-amz-checksum-sha256", &mut input.checksum_sha256),
                ("x-amz-checksum-crc64nvme", &mut input.checksum_crc64nvme),
            ] {
                if let Some(v) = trailers.get(name) {
                    let v = v.to_str().map_err(|_| {
                        s3_error!(InvalidArgument, "The trailer {name} is not text")
                    })?;
                    *slot = Some(v.to_string());
                }
            }
        }
        let mut provided = None;
        for (alg, given) in [
            (ChecksumAlgorithm::CRC32, &input.checksum_crc32),
            (ChecksumAlgorithm::CRC32C, &input.checksum_crc32c),
            (ChecksumAlgorithm::SHA1, &input.checksum_sha1),
            (ChecksumAlgorithm::SHA256, &input.checksum_sha256),
            (ChecksumAlgorithm::CRC64NVME, &input.checksum_crc64nvme),
        ] {
            let Some(given) = given else { continue };
            match value_of(&computed, alg) {
                Some(have) if have == *given => {}
                Some(_) => {
                    return Err(s3_error!(
                        BadDigest,
                        "The {alg} you specified did not match the calculated checksum"
                    ))
                }
                None => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "The {alg} checksum arrived in a trailer without x-amz-sdk-checksum-algorithm naming it"
                    ))
                }
            }
            provided.get_or_insert(alg);
        }
        // S3 keeps the algorithm the client used, CRC64NVME otherwise.
        let algorithm = requested
            .or(provided)
            .unwrap_or(ChecksumAlgorithm::CRC64NVME);
        let value = value_of(&computed, algorithm).ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "x-amz-sdk-checksum-algorithm {algorithm} came without its checksum"
            )
        })?;
        let checksum = StoredChecksum {
            algorithm: algorithm.to_string(),
            value,
            kind: ChecksumType::FULL_OBJECT.to_string(),
        };
        let record = Record {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            ino: staged.ino,
            size: staged.size,
            etag: hex(&md5),
            checksum: Some(checksum),
            attrs: Attrs::new(
                input.metadata,
                input.content_encoding,
                input.content_type,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires,
                input.website_redirect_location,
            ),
        };
        self.commit(
            &input.bucket,
            &input.key,
            staged,
            &record,
            &condition,
            Some((&*state, deletes)),
        )
        .await?;
        let sums = Sums::of(record.checksum.as_ref());
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(record.etag)),
            checksum_crc32: sums.crc32,
            checksum_crc32c: sums.crc32c,
            checksum_crc64nvme: sums.crc64nvme,
            checksum_sha1: sums.sha1,
            checksum_sha256: sums.sha256,
            checksum_type: sums.kind,
            server_side_encryption: sse_s3(),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        if req.input.key.ends_with('/') {
            return self.fs.get_object(req).await;
        }
        let input = req.input;
        let mut opened = self
            .open(&input.bucket, &input.key)
            .await?
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        let (start, length, content_range) = match &input.range {
            None => (0, opened.len, None),
            Some(range) => {
                let r = range.check(opened.len)?;
                let range_text = format!("bytes {}-{}/{}", r.start, r.end - 1, opened.len);
                (r.start, r.end - r.start, Some(range_text))
            }
        };
        if start > 0 {
            opened
                .file
                .seek(io::SeekFrom::Start(start))
                .await
                .map_err(internal)?;
        }
        // S3 sends the object's checksum only for the whole object, and
        // only when asked (x-amz-checksum-mode: ENABLED).
        let sums = if content_range.is_none() && checksum_mode_enabled(input.checksum_mode.as_ref())
        {
            Sums::of(opened.record.checksum.as_ref())
        } else {
            Sums::default()
        };
        let attrs = &opened.record.attrs;
        let output = GetObjectOutput {
            content_length: Some(i64::try_from(length).map_err(internal)?),
            content_range,
            accept_ranges: Some("bytes".to_string()),
            last_modified: Some(Timestamp::from(opened.modified)),
            e_tag: Some(ETag::Strong(opened.record.etag.clone())),
            metadata: attrs.user_metadata.clone(),
            content_encoding: attrs.content_encoding.clone(),
            content_type: Some(attrs.content_type()),
            content_disposition: attrs.content_disposition.clone(),
            content_language: attrs.content_language.clone(),
            cache_control: attrs.cache_control.clone(),
            expires: attrs.expires(),
            website_redirect_location: attrs.website_redirect_location.clone(),
            checksum_crc32: sums.crc32,
            checksum_crc32c: sums.crc32c,
            checksum_crc64nvme: sums.crc64nvme,
            checksum_sha1: sums.sha1,
            checksum_sha256: sums.sha256,
            checksum_type: sums.kind,
            server_side_encryption: sse_s3(),
            body: Some(StreamingBlob::wrap(file_stream(opened.file, length))),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        if req.input.key.ends_with('/') {
            return self.fs.head_object(req).await;
        }
        let input = req.input;
        let opened = self
            .open(&input.bucket, &input.key)
            .await?
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        let sums = if checksum_mode_enabled(input.checksum_mode.as_ref()) {
            Sums::of(opened.record.checksum.as_ref())
        } else {
            Sums::default()
        };
        let attrs = &opened.record.attrs;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(i64::try_from(opened.len).map_err(internal)?),
            accept_ranges: Some("bytes".to_string()),
            last_modified: Some(Timestamp::from(opened.modified)),
            e_tag: Some(ETag::Strong(opened.record.etag.clone())),
            metadata: attrs.user_metadata.clone(),
            content_encoding: attrs.content_encoding.clone(),
            content_type: Some(attrs.content_type()),
            content_disposition: attrs.content_disposition.clone(),
            content_language: attrs.content_language.clone(),
            cache_control: attrs.cache_control.clone(),
            expires: attrs.expires(),
            website_redirect_location: attrs.website_redirect_location.clone(),
            checksum_crc32: sums.crc32,
            checksum_crc32c: sums.crc32c,
            checksum_crc64nvme: sums.crc64nvme,
            checksum_sha1: sums.sha1,
            checksum_sha256: sums.sha256,
            checksum_type: sums.kind,
            server_side_encryption: sse_s3(),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let (src_bucket, src_key) = match &req.input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "Only bucket/key copy sources are supported"
                ))
            }
        };
        if src_key.ends_with('/') || req.input.key.ends_with('/') {
            return self.fs.copy_object(req).await;
        }
        // The destination's conditions (s3s 0.14 does not parse them for
        // CopyObject).
        let header = |name: &str| -> S3Result<Option<ETagCondition>> {
            let Some(v) = req.headers.get(name) else {
                return Ok(None);
            };
            ETagCondition::parse_http_header(v.as_bytes())
                .map(Some)
                .map_err(|_| s3_error!(InvalidArgument, "The {name} header is not an ETag or '*'"))
        };
        let condition = WriteCondition::from_headers(
            header("if-match")?.as_ref(),
            header("if-none-match")?.as_ref(),
        )?;
        let input = req.input;
        self.object_path(&input.bucket, &input.key)?;
        let state = self.keys.get(&input.bucket, &input.key);
        let deletes = state.deletes.load(Ordering::SeqCst);
        let opened = self
            .open(&src_bucket, &src_key)
            .await?
            .ok_or_else(|| s3_error!(NoSuchKey, "The copy source does not exist"))?;
        check_copy_source(
            &input,
            &opened.record.etag,
            Timestamp::from(opened.modified),
        )?;

        let algorithm = match &input.checksum_algorithm {
            Some(a) => algorithm_name(a.as_str())?,
            None => opened
                .record
                .checksum
                .as_ref()
                .and_then(|c| algorithm_name(&c.algorithm).ok())
                .unwrap_or(ChecksumAlgorithm::CRC64NVME),
        };
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str().eq_ignore_ascii_case(MetadataDirective::REPLACE));
        let attrs = if replace {
            Attrs::new(
                input.metadata,
                input.content_encoding,
                input.content_type,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires,
                input.website_redirect_location,
            )
        } else {
            opened.record.attrs.clone()
        };
        let mut md5 = Md5::new();
        let mut hasher = hasher_for(algorithm);
        let source = Box::pin(file_stream(opened.file, opened.len));
        let staged = self
            .stage(source, |chunk| {
                md5.update(chunk);
                hasher.update(chunk);
            })
            .await?;
        if staged.size != opened.len {
            return Err(s3_error!(
                InternalError,
                "The copy source changed size while copied"
            ));
        }
        let value = value_of(&hasher.finalize(), algorithm)
            .ok_or_else(|| s3_error!(InternalError, "checksum not computed"))?;
        let modified = staged.modified;
        let record = Record {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            ino: staged.ino,
            size: staged.size,
            etag: hex(&md5.finalize()),
            checksum: Some(StoredChecksum {
                algorithm: algorithm.to_string(),
                value,
                kind: ChecksumType::FULL_OBJECT.to_string(),
            }),
            attrs,
        };
        self.commit(
            &input.bucket,
            &input.key,
            staged,
            &record,
            &condition,
            Some((&*state, deletes)),
        )
        .await?;
        let sums = Sums::of(record.checksum.as_ref());
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(record.etag)),
                last_modified: Some(Timestamp::from(modified)),
                checksum_crc32: sums.crc32,
                checksum_crc32c: sums.crc32c,
                checksum_crc64nvme: sums.crc64nvme,
                checksum_sha1: sums.sha1,
                checksum_sha256: sums.sha256,
                checksum_type: sums.kind,
            }),
            server_side_encryption: sse_s3(),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        if req.input.key.ends_with('/') {
            return self.fs.delete_object(req).await;
        }
        let input = req.input;
        self.delete_key(&input.bucket, &input.key, input.if_match.as_ref())
            .await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in input.delete.objects {
            let result = if object.key.ends_with('/') {
                let dir = self.root.join(&input.bucket).join(&object.key);
                match tokio::fs::remove_dir(&dir).await {
                    Ok(()) => Ok(()),
                    Err(e) if is_missing(&e) => Ok(()),
                    // Not empty: other objects live under it; keep it.
                    Err(_) => Ok(()),
                }
            } else {
                let cond = object.e_tag.clone().map(ETagCondition::ETag);
                self.delete_key(&input.bucket, &object.key, cond.as_ref())
                    .await
            };
            match result {
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    version_id: object.version_id,
                    ..Default::default()
                }),
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_string()),
                    key: Some(object.key),
                    message: e.message().map(str::to_string),
                    version_id: object.version_id,
                }),
            }
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let access_key = req.credentials.as_ref().map(|c| c.access_key.clone());
        // S3 names the new object's URL; here the path-style URL on the
        // host the request came to.
        let location = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|host| {
                let key = percent_encoding::utf8_percent_encode(&req.input.key, &KEY_IN_URL);
                format!("http://{host}/{}/{key}", req.input.bucket)
            });
        let input = req.input;
        let (bucket, key, id) = (
            input.bucket.clone(),
            input.key.clone(),
            input.upload_id.clone(),
        );
        self.object_path(&bucket, &key)?;
        let parts = input
            .multipart_upload
            .as_ref()
            .and_then(|m| m.parts.clone())
            .unwrap_or_default();
        if parts.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided did not list any part"
            ));
        }
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(s3_error!(NoSuchUpload));
        }
        // s3s-fs's record of the upload: the access key that created it.
        let owner = match tokio::fs::read(self.root.join(format!(".upload-{id}.json"))).await {
            Ok(raw) => serde_json::from_slice::<Option<String>>(&raw).map_err(internal)?,
            Err(e) if is_missing(&e) => return Err(s3_error!(NoSuchUpload)),
            Err(e) => return Err(internal(e)),
        };
        if owner != access_key {
            return Err(s3_error!(
                AccessDenied,
                "The upload was created with another access key"
            ));
        }
        let condition =
            WriteCondition::from_headers(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let info: UploadInfo = match tokio::fs::read(self.upload_info_path(&id)).await {
            Ok(raw) => serde_json::from_slice(&raw).unwrap_or_default(),
            Err(_) => UploadInfo::default(),
        };
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let attrs_path = self.root.join(format!(
            ".bucket-{}.object-{}.upload-{id}.metadata.json",
            enc(&bucket),
            enc(&key)
        ));
        let attrs: Attrs = match tokio::fs::read(&attrs_path).await {
            Ok(raw) => serde_json::from_slice(&raw).unwrap_or_default(),
            Err(_) => Attrs::default(),
        };
        let since = self
            .uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned();
        let (state, deletes) = match since {
            Some(s) => s,
            None => {
                let state = self.keys.get(&bucket, &key);
                let deletes = state.deletes.load(Ordering::SeqCst);
                (state, deletes)
            }
        };

        let algorithm = match info.algorithm.as_deref() {
            Some(a) => Some(algorithm_name(a)?),
            None => None,
        };
        let composite =
            algorithm.is_some() && info.kind.as_deref() != Some(ChecksumType::FULL_OBJECT);
        let full_alg = match (algorithm, composite) {
            (Some(a), false) => a,
            _ => ChecksumAlgorithm::CRC64NVME,
        };

        // The parts, in the order given, with the MD5 each had on arrival.
        let mut listed = Vec::with_capacity(parts.len());
        let mut previous = 0;
        for part in &parts {
            let n = part
                .part_number
                .ok_or_else(|| s3_error!(MalformedXML, "A part has no PartNumber"))?;
            if n <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            previous = n;
            let path = self.root.join(format!(".upload_id-{id}.part-{n}"));
            let known = self
                .part_md5s
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&path)
                .copied();
            listed.push(ListedPart {
                number: n,
                path,
                etag: part.e_tag.as_ref().map(|e| e.value().to_owned()),
                known,
            });
        }
        // Assembled in one blocking task: a task for each 256 KiB read and
        // write was most of the 20 ms a 13 MB object's completion took.
        let tmp = self.tmp_file();
        let to = tmp.path.clone();
        let part_alg = algorithm.filter(|_| composite);
        let assembled =
            tokio::task::spawn_blocking(move || assemble(&listed, &to, full_alg, part_alg))
                .await
                .map_err(internal)??;
        let Assembled {
            full,
            part_md5s,
            part_sums,
            ino,
            size,
            modified,
        } = assembled;
        let staged = Staged {
            tmp,
            ino,
            size,
            modified,
        };

        let count = parts.len();
        let etag = format!("{}-{count}", hex(&Md5::checksum(&part_md5s)));
        let checksum = match (algorithm, composite) {
            (Some(alg), true) => {
                let mut h = hasher_for(alg);
                h.update(&part_sums);
                StoredChecksum {
                    algorithm: alg.to_string(),
                    value: format!(
                        "{}-{count}",
                        value_of(&h.finalize(), alg).unwrap_or_default()
                    ),
                    kind: ChecksumType::COMPOSITE.to_string(),
                }
            }
            _ => StoredChecksum {
                algorithm: full_alg.to_string(),
                value: value_of(&full.finalize(), full_alg).unwrap_or_default(),
                kind: ChecksumType::FULL_OBJECT.to_string(),
            },
        };
        if checksum.kind == ChecksumType::FULL_OBJECT {
            let given = match full_alg {
                ChecksumAlgorithm::CRC32 => input.checksum_crc32.as_ref(),
                ChecksumAlgorithm::CRC32C => input.checksum_crc32c.as_ref(),
                _ => input.checksum_crc64nvme.as_ref(),
            };
            if given.is_some_and(|g| *g != checksum.value) {
                return Err(s3_error!(
                    BadDigest,
                    "The {full_alg} you specified did not match the calculated checksum"
                ));
            }
        }
        let record = Record {
            bucket: bucket.clone(),
            key: key.clone(),
            ino: staged.ino,
            size: staged.size,
            etag,
            checksum: Some(checksum),
            attrs,
        };
        self.commit(
            &bucket,
            &key,
            staged,
            &record,
            &condition,
            Some((&*state, deletes)),
        )
        .await?;

        // The object is in place; the upload is done.
        for part in &parts {
            if let Some(n) = part.part_number {
                let _ = tokio::fs::remove_file(self.root.join(format!(".upload_id-{id}.part-{n}")))
                    .await;
            }
        }
        let _ = tokio::fs::remove_file(&attrs_path).await;
        let _ = tokio::fs::remove_file(self.root.join(format!(".upload-{id}.json"))).await;
        self.forget_upload(&id).await;
        // Parts uploaded but not listed are discarded too, as on S3.
        self.remove_upload_parts(&id).await;

        let sums = Sums::of(record.checksum.as_ref());
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(key),
            e_tag: Some(ETag::Strong(record.etag)),
            checksum_crc32: sums.crc32,
            checksum_crc32c: sums.crc32c,
            checksum_crc64nvme: sums.crc64nvme,
            checksum_sha1: sums.sha1,
            checksum_sha256: sums.sha256,
            checksum_type: sums.kind,
            server_side_encryption: sse_s3(),
            location,
            ..Default::default()
        }))
    }
}

impl Store {
    async fn forget_upload(&self, id: &str) {
        let prefix = format!(".upload_id-{id}.part-");
        self.part_md5s
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|path, _| {
                !path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
            });
        let _ = tokio::fs::remove_file(self.upload_info_path(id)).await;
        self.uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }

    async fn remove_upload_parts(&self, id: &str) {
        let prefix = format!(".upload_id-{id}.part-");
        let Ok(mut dir) = tokio::fs::read_dir(&self.root).await else {
            return;
        };
        while let Ok(Some(entry)) = dir.next_entry().await {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
            {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_conditions_follow_s3() {
        let etag = |s: &str| ETagCondition::ETag(ETag::Strong(s.to_string()));
        let absent = WriteCondition::from_headers(None, Some(&ETagCondition::Any)).unwrap();
        assert!(absent.check(None).is_ok());
        assert_eq!(
            *absent.check(Some("x")).unwrap_err().code(),
            S3ErrorCode::PreconditionFailed
        );
        let matches = WriteCondition::from_headers(Some(&etag("a")), None).unwrap();
        assert!(matches.check(Some("a")).is_ok());
        assert_eq!(
            *matches.check(Some("b")).unwrap_err().code(),
            S3ErrorCode::PreconditionFailed
        );
        assert_eq!(
            *matches.check(None).unwrap_err().code(),
            S3ErrorCode::NoSuchKey
        );
        assert!(WriteCondition::from_headers(None, Some(&etag("a"))).is_err());
        assert!(WriteCondition::from_headers(Some(&etag("a")), Some(&ETagCondition::Any)).is_err());
    }
}
