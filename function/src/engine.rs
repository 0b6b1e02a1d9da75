//! The sync itself: three concurrent pagers streaming into Parquet on S3, the
//! commit protocol, and checkpoint/continue before the invocation deadline.
//!
//! Each pager owns its stream's cursor, open part file and statistics, so a
//! checkpoint taken at a page boundary captures exactly the records written:
//! resuming from it neither loses nor repeats one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::event::SyncEvent;
use crate::sink::parquet::{ParquetRecord, PartWriter, SCHEMA_VERSION};
use crate::sink::s3::{Bucket, S3Error, Upload, MIN_PART_BYTES};
use crate::stats::{AssetStats, RemediationStats, SyncStats, VulnerabilityStats};
use crate::vanta::model::{Page, Remediation, Vulnerability, VulnerableAsset};
use crate::vanta::{Endpoint, VantaClient, VantaError};

const CHECKPOINT_VERSION: u32 = 1;

/// Tuning of the engine; the defaults are the production values.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Rows per Parquet row group (a row group is flushed every this many rows).
    pub rows_per_row_group: usize,
    /// A part file is closed and the next one started past this size. The
    /// writer keeps every row group's metadata until the file closes, so this
    /// bound is also what keeps memory flat on very large tenants.
    pub max_file_bytes: usize,
    /// Size of each multipart upload part (at least S3's 5 MiB minimum).
    pub part_bytes: usize,
    /// Pages fetched ahead of the writer, per stream.
    pub prefetch_pages: usize,
    /// Remaining time under which the run checkpoints and continues.
    pub checkpoint_margin: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            rows_per_row_group: 10_000,
            max_file_bytes: 32 * 1024 * 1024,
            part_bytes: MIN_PART_BYTES,
            prefetch_pages: 4,
            checkpoint_margin: Duration::from_secs(60),
        }
    }
}

/// How a checkpointed run is continued in a fresh invocation.
#[derive(Clone, Debug)]
pub enum Continuer {
    /// Invoke this function asynchronously (`InvocationType=Event`).
    Lambda {
        /// The Lambda client.
        client: aws_sdk_lambda::Client,
        /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`).
        function_name: String,
    },
    /// Collect the continuation payloads (tests and local drivers resume them).
    Collect(Arc<std::sync::Mutex<Vec<Value>>>),
}

impl Continuer {
    /// A collector and the list it fills.
    pub fn collector() -> (Self, Arc<std::sync::Mutex<Vec<Value>>>) {
        let list = Arc::new(std::sync::Mutex::new(Vec::new()));
        (Self::Collect(list.clone()), list)
    }

    async fn continue_with(&self, payload: Value) -> Result<(), SyncError> {
        match self {
            Continuer::Lambda {
                client,
                function_name,
            } => {
                client
                    .invoke()
                    .function_name(function_name)
                    .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                    .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
                    .send()
                    .await
                    .map_err(|e| {
                        SyncError::Continuation(
                            aws_sdk_lambda::error::DisplayErrorContext(e).to_string(),
                        )
                    })?;
                Ok(())
            }
            Continuer::Collect(list) => {
                list.lock()
                    .map_err(|_| SyncError::Continuation("collector poisoned".into()))?
                    .push(payload);
                Ok(())
            }
        }
    }
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Vanta could not be read.
    #[error(transparent)]
    Vanta(#[from] VantaError),
    /// S3 could not be written or read.
    #[error(transparent)]
    S3(#[from] S3Error),
    /// Records could not be encoded.
    #[error("cannot encode Parquet for {dataset}: {message}")]
    Parquet {
        /// The dataset.
        dataset: &'static str,
        /// The encoder's message.
        message: String,
    },
    /// Vanta's paging broke its own contract.
    #[error("Vanta returned an inconsistent page for GET {endpoint}: {reason}")]
    Protocol {
        /// Request path.
        endpoint: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The `resume` key names no checkpoint.
    #[error("checkpoint s3://{bucket}/{key} does not exist; was the run already completed or the key mistyped?")]
    CheckpointMissing {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// The checkpoint cannot be used.
    #[error("checkpoint s3://{bucket}/{key} cannot be used: {reason}")]
    CheckpointInvalid {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A dry run cannot checkpoint, and the deadline came first.
    #[error("the dry run did not finish before the checkpoint margin; a dry run cannot checkpoint (raise the timeout or lower CHECKPOINT_MARGIN_S)")]
    DryRunOutOfTime,
    /// Invoking the continuation failed.
    #[error("cannot invoke the continuation: {0}")]
    Continuation(String),
    /// No stream received a page before the invocation's deadline.
    #[error("no page arrived from Vanta before the invocation's deadline (run {run_id}); nothing was lost: a retry resumes from the same checkpoint")]
    Stalled {
        /// The run.
        run_id: String,
    },
    /// A pager task died.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `complete`, `continued`, `duplicate` or `already-complete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// The snapshot is committed (or, for a dry run, fully fetched).
    Complete,
    /// A checkpoint was written and a continuation invoked.
    Continued,
    /// Another execution of the same step advanced the run first (a
    /// duplicate delivery or a replay): this one wrote nothing that any
    /// checkpoint or manifest lists, and stopped. Not an error.
    Duplicate,
    /// The run had already committed its snapshot: nothing was changed
    /// (beyond moving `latest.json` forward if a crash left it behind).
    #[serde(rename = "already-complete")]
    AlreadyComplete,
}

/// Records per record type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Vulnerabilities.
    pub vulnerabilities: u64,
    /// Remediations.
    pub remediations: u64,
    /// Vulnerable assets.
    pub vulnerable_assets: u64,
}

impl Counts {
    /// Sum of the three.
    pub fn total(&self) -> u64 {
        self.vulnerabilities + self.remediations + self.vulnerable_assets
    }

    fn minus(&self, other: &Counts) -> Counts {
        Counts {
            vulnerabilities: self.vulnerabilities - other.vulnerabilities,
            remediations: self.remediations - other.remediations,
            vulnerable_assets: self.vulnerable_assets - other.vulnerable_assets,
        }
    }
}

/// The invocation result (serialized as the Lambda response).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOutcome {
    /// `complete` or `continued`.
    pub status: Status,
    /// The run's id (shared by every invocation of one run).
    pub run_id: String,
    /// `s3://bucket/prefix/snapshots/dt=…/run=…/`; absent for a dry run.
    pub snapshot: Option<String>,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Records of the run so far.
    pub counts: Counts,
    /// Pages of the run so far.
    pub pages: u64,
    /// Retried requests of the run so far.
    pub retries: u64,
    /// 429 answers of the run so far.
    pub rate_limited: u64,
    /// 429 answers in this invocation (the `RateLimited` metric).
    #[serde(skip)]
    pub rate_limited_now: u64,
    /// This invocation's duration.
    pub duration_ms: u64,
    /// Headline statistics (complete runs: final; continued: so far).
    pub statistics: Value,
    /// The checkpoint key, when continued.
    pub checkpoint: Option<String>,
    /// 1 for the first invocation of the run, 2 for its first continuation, …
    pub invocation: u32,
    /// The statistics' as-of instant.
    pub as_of: String,
    /// Records fetched by this invocation.
    #[serde(skip)]
    pub fetched: Counts,
    /// Records written to Parquet by this invocation.
    #[serde(skip)]
    pub stored: u64,
    /// The full statistics (for `stats.json` and metrics).
    #[serde(skip)]
    pub stats: SyncStats,
}

/// One Parquet file of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartFile {
    /// Object key.
    pub key: String,
    /// Object size.
    pub size_bytes: u64,
    /// Rows in the file.
    pub rows: u64,
}

/// Progress of one stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamState<S> {
    /// `pageCursor` of the next page to fetch (`None` = from the start or done).
    pub cursor: Option<String>,
    /// The last page has been written.
    pub done: bool,
    /// Records written.
    pub records: u64,
    /// Pages written.
    pub pages: u64,
    /// Closed part files.
    pub parts: Vec<PartFile>,
    /// Statistics of the records written.
    pub stats: S,
}

/// Everything needed to continue a run: written to S3 before continuing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Format version.
    pub version: u32,
    /// The run's id.
    pub run_id: String,
    /// The statistics' as-of instant.
    pub as_of: DateTime<Utc>,
    /// Start of the run's first invocation.
    pub started_at: DateTime<Utc>,
    /// Destination bucket.
    pub bucket: String,
    /// Key prefix of the snapshot, ending in `/`.
    pub run_prefix: String,
    /// Invocations completed so far.
    pub invocations: u32,
    /// Retries so far.
    pub retries: u64,
    /// 429 answers so far.
    #[serde(default)]
    pub rate_limited: u64,
    /// The pacer's state at the checkpoint, so the continuation resumes at
    /// the learned rate (see `vanta::pacer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing: Option<crate::vanta::PacerState>,
    /// Vulnerability stream.
    pub vulnerabilities: StreamState<VulnerabilityStats>,
    /// Remediation stream.
    pub remediations: StreamState<RemediationStats>,
    /// Asset stream.
    pub vulnerable_assets: StreamState<AssetStats>,
}

impl Checkpoint {
    fn counts(&self) -> Counts {
        Counts {
            vulnerabilities: self.vulnerabilities.records,
            remediations: self.remediations.records,
            vulnerable_assets: self.vulnerable_assets.records,
        }
    }

    fn pages(&self) -> u64 {
        self.vulnerabilities.pages + self.remediations.pages + self.vulnerable_assets.pages
    }

    fn stats(&self) -> SyncStats {
        SyncStats {
            vulnerabilities: self.vulnerabilities.stats.clone(),
            assets: self.vulnerable_assets.stats.clone(),
            remediations: self.remediations.stats.clone(),
        }
    }

    fn all_done(&self) -> bool {
        self.vulnerabilities.done && self.remediations.done && self.vulnerable_assets.done
    }
}

/// A record type the engine syncs: its endpoint, schema and statistics.
pub trait SyncRecord: ParquetRecord + DeserializeOwned + Send + Sync + 'static {
    /// Its accumulator.
    type Stats: Default + Clone + Send + Sync + 'static;
    /// Where it is listed.
    const ENDPOINT: Endpoint;
    /// Counts one record.
    fn count(stats: &mut Self::Stats, record: &Self, as_of: DateTime<Utc>);
}

impl SyncRecord for Vulnerability {
    type Stats = VulnerabilityStats;
    const ENDPOINT: Endpoint = Endpoint::Vulnerabilities;
    fn count(stats: &mut Self::Stats, record: &Self, as_of: DateTime<Utc>) {
        stats.add(record, as_of);
    }
}

impl SyncRecord for Remediation {
    type Stats = RemediationStats;
    const ENDPOINT: Endpoint = Endpoint::Remediations;
    fn count(stats: &mut Self::Stats, record: &Self, _: DateTime<Utc>) {
        stats.add(record);
    }
}

impl SyncRecord for VulnerableAsset {
    type Stats = AssetStats;
    const ENDPOINT: Endpoint = Endpoint::VulnerableAssets;
    fn count(stats: &mut Self::Stats, record: &Self, _: DateTime<Utc>) {
        stats.add(record);
    }
}

/// Joins a key prefix (possibly empty) and a relative key.
pub fn join_key(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_owned()
    } else {
        format!("{prefix}/{rest}")
    }
}

struct StreamCtx {
    vanta: Arc<VantaClient>,
    /// `None` for a dry run.
    bucket: Option<Bucket>,
    run_prefix: String,
    /// This execution's token, part of every part file name it writes, so
    /// two executions of one step never write the same key.
    attempt: String,
    as_of: DateTime<Utc>,
    options: SyncOptions,
    /// Until when a stream waits for its first page of this invocation
    /// (`None`: no deadline).
    first_page_by: Option<Instant>,
    /// Set when the checkpoint margin is reached or another stream failed.
    stop: tokio::sync::watch::Sender<bool>,
}

struct OpenPart {
    writer: PartWriter,
    upload: Upload,
}

impl OpenPart {
    async fn write(
        &mut self,
        batch: &arrow_array::RecordBatch,
        dataset: &'static str,
    ) -> Result<(), SyncError> {
        self.writer
            .write(batch)
            .map_err(|e| parquet_error(dataset, e))?;
        let out = self.writer.take_output();
        if !out.is_empty() {
            self.upload.write(out).await?;
        }
        Ok(())
    }

    async fn finish(mut self, dataset: &'static str) -> Result<PartFile, SyncError> {
        let rows = self.writer.rows();
        let tail = match self.writer.finish() {
            Ok(t) => t,
            Err(e) => {
                self.upload.abort().await;
                return Err(parquet_error(dataset, e));
            }
        };
        let key = self.upload.key().to_owned();
        self.upload.write(tail).await?;
        let size_bytes = self.upload.finish().await?;
        Ok(PartFile {
            key,
            size_bytes,
            rows,
        })
    }
}

/// Why a fetcher task ended before sending its stream's last page: its panic
/// (with the message) or its cancellation.
async fn fetcher_died(dataset: &str, fetcher: &mut tokio::task::JoinHandle<()>) -> SyncError {
    let cause = match fetcher.await {
        Ok(()) => "it stopped before the last page".to_owned(),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic payload".to_owned());
            format!("it panicked: {message}")
        }
        Err(e) => format!("it was cancelled: {e}"),
    };
    SyncError::Internal(format!("the {dataset} fetcher failed: {cause}"))
}

/// What an invocation keeps, at the least, to write its checkpoint and
/// invoke the continuation after its streams stop.
const CHECKPOINT_GRACE: Duration = Duration::from_secs(5);

fn parquet_error(dataset: &'static str, e: parquet::errors::ParquetError) -> SyncError {
    SyncError::Parquet {
        dataset,
        message: e.to_string(),
    }
}

fn part_key(run_prefix: &str, dataset: &str, index: usize, attempt: &str) -> String {
    format!("{run_prefix}{dataset}/part-{index:05}-{attempt}.parquet")
}

/// The checkpoint written at the end of invocation `n` of a run (the step
/// that resumes it is invocation `n + 1`). Its conditional create is what
/// fences a step: only the execution that creates it advances the run.
fn checkpoint_key(run_prefix: &str, n: u32) -> String {
    format!("{run_prefix}_checkpoints/{n:05}.json")
}

/// Written once the continuation of checkpoint `n` has been invoked, so a
/// later duplicate knows it need not invoke it again.
fn continued_key(run_prefix: &str, n: u32) -> String {
    format!("{run_prefix}_checkpoints/{n:05}.continued")
}

fn manifest_key(run_prefix: &str) -> String {
    format!("{run_prefix}_manifest.json")
}

async fn run_stream<R: SyncRecord>(
    ctx: Arc<StreamCtx>,
    mut state: StreamState<R::Stats>,
) -> Result<StreamState<R::Stats>, SyncError> {
    if state.done {
        return Ok(state);
    }
    let dataset = R::ENDPOINT.dataset();
    let (tx, mut rx) =
        mpsc::channel::<Result<Page<R>, VantaError>>(ctx.options.prefetch_pages.max(1));
    let vanta = ctx.vanta.clone();
    let mut cursor = state.cursor.clone();
    let mut fetcher = tokio::spawn(async move {
        loop {
            let page = vanta.fetch_page::<R>(R::ENDPOINT, cursor.as_deref()).await;
            let next = match &page {
                Ok(p) if p.has_next_page => p.end_cursor.clone(),
                _ => None,
            };
            if tx.send(page).await.is_err() || next.is_none() || next == cursor {
                return;
            }
            cursor = next;
        }
    });

    let mut file: Option<OpenPart> = None;
    let result: Result<(), SyncError> = async {
        let mut stop = ctx.stop.subscribe();
        let mut wrote_a_page = false;
        loop {
            // Once this invocation has made progress, stop waiting for a page
            // (the fetcher may be in a long backoff) as soon as time is up:
            // the cursor still points after the last page written.
            let next = if wrote_a_page {
                tokio::select! {
                    biased;
                    page = rx.recv() => page,
                    _ = stop.wait_for(|s| *s) => break,
                }
            } else {
                // Before the first page, wait no longer than the invocation
                // has (less its grace to checkpoint): with nothing written,
                // the checkpoint's cursor is still this stream's.
                match ctx.first_page_by {
                    Some(by) => tokio::select! {
                        biased;
                        page = rx.recv() => page,
                        _ = tokio::time::sleep_until(by) => {
                            tracing::warn!(dataset, "no page before the invocation's deadline; checkpointing without one");
                            break;
                        }
                    },
                    None => rx.recv().await,
                }
            };
            let Some(page) = next else {
                // The fetcher sends every page up to the last (or an error),
                // so a closed channel before the last page means it died.
                return Err(fetcher_died(dataset, &mut fetcher).await);
            };
            let page = page?;
            if page.has_next_page {
                match &page.end_cursor {
                    None => {
                        return Err(SyncError::Protocol {
                            endpoint: R::ENDPOINT.path(),
                            reason: "hasNextPage is true but endCursor is null".into(),
                        })
                    }
                    Some(c) if state.cursor.as_ref() == Some(c) => {
                        return Err(SyncError::Protocol {
                            endpoint: R::ENDPOINT.path(),
                            reason: format!("endCursor {c:?} repeats the cursor that was sent"),
                        })
                    }
                    Some(_) => {}
                }
            }
            for r in &page.data {
                R::count(&mut state.stats, r, ctx.as_of);
            }
            if let (Some(bucket), false) = (&ctx.bucket, page.data.is_empty()) {
                let batch = R::to_batch(&page.data).map_err(|e| parquet_error(dataset, e))?;
                if file.is_none() {
                    let writer = PartWriter::new(R::schema(), ctx.options.rows_per_row_group)
                        .map_err(|e| parquet_error(dataset, e))?;
                    let key = part_key(&ctx.run_prefix, dataset, state.parts.len(), &ctx.attempt);
                    file = Some(OpenPart {
                        writer,
                        upload: bucket.upload(key, ctx.options.part_bytes),
                    });
                }
                let open = file.as_mut().expect("opened above");
                open.write(&batch, dataset).await?;
                if open.writer.size() >= ctx.options.max_file_bytes {
                    let closed = file.take().expect("open").finish(dataset).await?;
                    state.parts.push(closed);
                }
            }
            state.records += page.data.len() as u64;
            state.pages += 1;
            if page.has_next_page {
                state.cursor = page.end_cursor;
            } else {
                state.cursor = None;
                state.done = true;
                break;
            }
            wrote_a_page = true;
            if *ctx.stop.borrow() {
                break;
            }
        }
        if let Some(open) = file.take() {
            state.parts.push(open.finish(dataset).await?);
        }
        Ok(())
    }
    .await;
    fetcher.abort();
    if let Err(e) = result {
        // Let the other streams wind down at their next page boundary.
        ctx.stop.send_replace(true);
        if let Some(open) = file.take() {
            open.upload.abort().await;
        }
        return Err(e);
    }
    Ok(state)
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The sync engine: reusable across invocations of a warm process.
pub struct Engine {
    vanta: Arc<VantaClient>,
    bucket: Bucket,
    prefix: String,
    options: SyncOptions,
}

impl Engine {
    /// An engine reading with `vanta` and writing under `prefix` in `bucket`.
    pub fn new(
        vanta: Arc<VantaClient>,
        bucket: Bucket,
        prefix: impl Into<String>,
        options: SyncOptions,
    ) -> Self {
        Self {
            vanta,
            bucket,
            prefix: prefix.into().trim_matches('/').to_owned(),
            options,
        }
    }

    /// The Vanta client (shared with the caller for its counters).
    pub fn vanta(&self) -> &Arc<VantaClient> {
        &self.vanta
    }

    /// Runs one invocation: a fresh run, a dry run, or a continuation.
    /// `deadline` is when the invocation times out (`None`: no limit).
    pub async fn run(
        &self,
        event: &SyncEvent,
        deadline: Option<Instant>,
        continuer: &Continuer,
    ) -> Result<SyncOutcome, SyncError> {
        let started = Instant::now();
        let retries_before = self.vanta.retries();
        let limited_before = self.vanta.rate_limited();
        let mut cp = match &event.resume {
            Some(key) => self.load_checkpoint(key).await?,
            None => self.new_run(event.as_of),
        };
        if event.resume.is_some() {
            if let Some(outcome) = self.settled(&cp, continuer, started).await? {
                return Ok(outcome);
            }
        }
        let attempt = format!("{:08x}", fastrand::u32(..));
        if let Some(state) = cp.pacing.take() {
            self.vanta.restore_pacer(&state);
        }
        let before = cp.counts();
        let pages_before = cp.pages();
        tracing::info!(
            run_id = %cp.run_id,
            invocation = cp.invocations + 1,
            dry_run = event.dry_run,
            as_of = %cp.as_of.to_rfc3339_opts(SecondsFormat::Millis, true),
            "sync starting"
        );

        let stop = tokio::sync::watch::Sender::new(false);
        let watcher = deadline.map(|d| {
            let stop = stop.clone();
            let at = d
                .checked_sub(self.options.checkpoint_margin)
                .unwrap_or(started);
            if at <= started {
                tracing::warn!(
                    margin_s = self.options.checkpoint_margin.as_secs(),
                    "less time left than CHECKPOINT_MARGIN_S at the start; each stream writes one page and checkpoints (raise the function timeout or lower the margin)"
                );
            }
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                tracing::info!("checkpoint margin reached; stopping at the next page boundary");
                stop.send_replace(true);
            })
        });
        let ctx = Arc::new(StreamCtx {
            vanta: self.vanta.clone(),
            bucket: (!event.dry_run).then(|| self.bucket.clone()),
            run_prefix: cp.run_prefix.clone(),
            attempt: attempt.clone(),
            // (An invocation that starts with less than the grace left
            // still waits for one page per stream.)
            first_page_by: deadline
                .map(|d| d.checked_sub(CHECKPOINT_GRACE).unwrap_or(d))
                .filter(|by| *by > started),
            as_of: cp.as_of,
            options: self.options.clone(),
            stop,
        });
        let v = tokio::spawn(run_stream::<Vulnerability>(
            ctx.clone(),
            cp.vulnerabilities.clone(),
        ));
        let r = tokio::spawn(run_stream::<Remediation>(
            ctx.clone(),
            cp.remediations.clone(),
        ));
        let a = tokio::spawn(run_stream::<VulnerableAsset>(
            ctx.clone(),
            cp.vulnerable_assets.clone(),
        ));
        // Dropping this invocation (a caller gave up on it) stops its streams.
        let (mut v, mut r, mut a) = (AbortOnDrop(v), AbortOnDrop(r), AbortOnDrop(a));
        let (v, r, a) = ((&mut v.0).await, (&mut r.0).await, (&mut a.0).await);
        if let Some(w) = watcher {
            w.abort();
        }
        let join =
            |e: tokio::task::JoinError| SyncError::Internal(format!("a pager task failed: {e}"));
        // Report the first real error; the others usually just stopped.
        let (v, r, a) = (v.map_err(join)?, r.map_err(join)?, a.map_err(join)?);
        cp.vulnerabilities = v?;
        cp.remediations = r?;
        cp.vulnerable_assets = a?;
        cp.invocations += 1;
        cp.retries += self.vanta.retries() - retries_before;
        let limited_now = self.vanta.rate_limited() - limited_before;
        cp.rate_limited += limited_now;

        let counts = cp.counts();
        let fetched = counts.minus(&before);
        let complete = cp.all_done();
        if !complete && !event.dry_run && cp.pages() == pages_before {
            // Continuing would only start another invocation that waits as
            // long; fail so Lambda retries (and the DLQ alarm sees a stall).
            return Err(SyncError::Stalled {
                run_id: cp.run_id.clone(),
            });
        }
        let mut outcome = SyncOutcome {
            status: Status::Complete,
            run_id: cp.run_id.clone(),
            snapshot: (!event.dry_run)
                .then(|| format!("s3://{}/{}", self.bucket.name(), cp.run_prefix)),
            dry_run: event.dry_run,
            counts,
            pages: cp.pages(),
            retries: cp.retries,
            rate_limited: cp.rate_limited,
            rate_limited_now: limited_now,
            duration_ms: 0,
            statistics: cp.stats().headline(),
            checkpoint: None,
            invocation: cp.invocations,
            as_of: cp.as_of.to_rfc3339_opts(SecondsFormat::Millis, true),
            fetched,
            stored: if event.dry_run { 0 } else { fetched.total() },
            stats: cp.stats(),
        };
        if event.dry_run {
            if !complete {
                return Err(SyncError::DryRunOutOfTime);
            }
        } else {
            if complete {
                // The final checkpoint lists a file for every dataset.
                let prefix = cp.run_prefix.clone();
                self.ensure_a_file::<Vulnerability>(
                    &mut cp.vulnerabilities.parts,
                    &prefix,
                    &attempt,
                )
                .await?;
                self.ensure_a_file::<Remediation>(&mut cp.remediations.parts, &prefix, &attempt)
                    .await?;
                self.ensure_a_file::<VulnerableAsset>(
                    &mut cp.vulnerable_assets.parts,
                    &prefix,
                    &attempt,
                )
                .await?;
            }
            // The fence: of the executions of this step, the one that creates
            // the next checkpoint advances the run; the others stop.
            let key = checkpoint_key(&cp.run_prefix, cp.invocations);
            cp.pacing = self.vanta.pacer_state();
            let body = serde_json::to_vec(&cp).map_err(|e| SyncError::Internal(e.to_string()))?;
            if !self.bucket.put_new(&key, body, "application/json").await? {
                tracing::warn!(
                    checkpoint = %key,
                    "another execution of this step wrote its checkpoint first (a duplicate delivery); stopping without effect"
                );
                // Its part files stay behind, listed by no checkpoint or
                // manifest, so no reader sees them (the role may not delete).
                outcome.status = Status::Duplicate;
                outcome.stored = 0;
                outcome.duration_ms = started.elapsed().as_millis() as u64;
                return Ok(outcome);
            }
            if complete {
                self.commit(&cp).await?;
            } else {
                self.continue_run(&cp, continuer).await?;
                tracing::info!(checkpoint = %key, records = counts.total(), "checkpoint written; continuing in a new invocation");
                outcome.status = Status::Continued;
                outcome.checkpoint = Some(key);
            }
        }
        outcome.duration_ms = started.elapsed().as_millis() as u64;
        Ok(outcome)
    }

    /// Invokes the continuation of checkpoint `cp`, then records that it did.
    async fn continue_run(&self, cp: &Checkpoint, continuer: &Continuer) -> Result<(), SyncError> {
        let key = checkpoint_key(&cp.run_prefix, cp.invocations);
        continuer.continue_with(json!({ "resume": key })).await?;
        self.bucket
            .put_new(
                &continued_key(&cp.run_prefix, cp.invocations),
                Vec::new(),
                "text/plain",
            )
            .await?;
        Ok(())
    }

    /// Whether the step that resumes `cp` was already taken: the run has
    /// committed (`already-complete`, after moving `latest.json` forward if a
    /// crash left it behind, or finishing a commit a crash cut short), or
    /// another execution wrote the next checkpoint (`duplicate`; if that
    /// execution may have died before invoking its continuation, it is
    /// invoked here, which is safe because every step is fenced).
    async fn settled(
        &self,
        cp: &Checkpoint,
        continuer: &Continuer,
        started: Instant,
    ) -> Result<Option<SyncOutcome>, SyncError> {
        let manifest_key = manifest_key(&cp.run_prefix);
        if let Some((bytes, _)) = self.bucket.get_tagged(&manifest_key).await? {
            let manifest: Value = serde_json::from_slice(&bytes).map_err(|e| {
                SyncError::Internal(format!("{manifest_key} is not valid JSON: {e}"))
            })?;
            self.publish(&manifest, &manifest_key).await?;
            tracing::info!(run_id = %cp.run_id, manifest = %manifest_key, "the run has already committed its snapshot; nothing to do");
            return Ok(Some(self.settled_outcome(
                cp,
                Status::AlreadyComplete,
                started,
            )));
        }
        let next_key = checkpoint_key(&cp.run_prefix, cp.invocations + 1);
        let Some((bytes, _)) = self.bucket.get_tagged(&next_key).await? else {
            return Ok(None);
        };
        let next: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| SyncError::CheckpointInvalid {
                bucket: self.bucket.name().to_owned(),
                key: next_key.clone(),
                reason: e.to_string(),
            })?;
        if next.all_done() {
            tracing::info!(checkpoint = %next_key, "the run's final checkpoint exists; finishing its commit");
            self.commit(&next).await?;
            return Ok(Some(self.settled_outcome(
                &next,
                Status::AlreadyComplete,
                started,
            )));
        }
        if !self
            .bucket
            .exists(&continued_key(&cp.run_prefix, next.invocations))
            .await?
        {
            tracing::warn!(checkpoint = %next_key, "the next checkpoint exists but its continuation may never have been invoked; invoking it");
            self.continue_run(&next, continuer).await?;
        }
        tracing::warn!(checkpoint = %next_key, "another execution already took this step (a duplicate delivery or a replay); stopping without effect");
        Ok(Some(self.settled_outcome(
            &next,
            Status::Duplicate,
            started,
        )))
    }

    fn settled_outcome(&self, cp: &Checkpoint, status: Status, started: Instant) -> SyncOutcome {
        SyncOutcome {
            status,
            run_id: cp.run_id.clone(),
            snapshot: Some(format!("s3://{}/{}", self.bucket.name(), cp.run_prefix)),
            dry_run: false,
            counts: cp.counts(),
            pages: cp.pages(),
            retries: cp.retries,
            rate_limited: cp.rate_limited,
            rate_limited_now: 0,
            duration_ms: started.elapsed().as_millis() as u64,
            statistics: cp.stats().headline(),
            checkpoint: None,
            invocation: cp.invocations,
            as_of: cp.as_of.to_rfc3339_opts(SecondsFormat::Millis, true),
            fetched: Counts::default(),
            stored: 0,
            stats: cp.stats(),
        }
    }

    /// Makes a committed snapshot visible: the Athena tables' symlink files
    /// (one per dataset, listing exactly the manifest's files), then
    /// `latest.json`. Idempotent, so a replay finishes what a crash cut short.
    async fn publish(&self, manifest: &Value, manifest_key: &str) -> Result<(), SyncError> {
        let run_prefix = manifest_key.trim_end_matches("_manifest.json");
        let files = manifest["files"].as_array().cloned().unwrap_or_default();
        for dataset in [
            Vulnerability::ENDPOINT.dataset(),
            Remediation::ENDPOINT.dataset(),
            VulnerableAsset::ENDPOINT.dataset(),
        ] {
            let mut body = String::new();
            for f in files.iter().filter(|f| f["dataset"] == dataset) {
                let key = f["key"].as_str().ok_or_else(|| {
                    SyncError::Internal(format!("{manifest_key} lists a file without a key"))
                })?;
                body.push_str(&format!("s3://{}/{key}\n", self.bucket.name()));
            }
            let key = self.symlink_key(run_prefix, dataset);
            // Derived from the manifest alone: a second writer would write
            // the same bytes, so the first is kept.
            self.bucket
                .put_new(&key, body.into_bytes(), "text/plain")
                .await?;
        }
        self.advance_latest(manifest, manifest_key).await
    }

    /// `<prefix>/symlinks/dt=…/run=…/<dataset>/symlink.txt`: the only object
    /// in the Athena table's partition location for that snapshot.
    fn symlink_key(&self, run_prefix: &str, dataset: &str) -> String {
        let snapshots = join_key(&self.prefix, "snapshots/");
        let run = run_prefix.strip_prefix(&snapshots).unwrap_or(run_prefix);
        join_key(
            &self.prefix,
            &format!("symlinks/{run}{dataset}/symlink.txt"),
        )
    }

    /// Moves `latest.json` to the snapshot of `manifest` if that snapshot is
    /// newer (by `asOf`, then start, then run id) than the one it names: compare-and-swap
    /// on its ETag, retried when another writer got in between, so it only
    /// ever moves forward.
    async fn advance_latest(&self, manifest: &Value, manifest_key: &str) -> Result<(), SyncError> {
        let latest = json!({
            "runId": manifest["runId"],
            "snapshot": manifest["snapshot"],
            "manifest": manifest_key,
            "asOf": manifest["asOf"],
            "startedAt": manifest["startedAt"],
            "completedAt": manifest["completedAt"],
            "counts": manifest["counts"],
        });
        let ours = latest_order(&latest).ok_or_else(|| {
            SyncError::Internal(format!("{manifest_key} has no valid asOf and runId"))
        })?;
        let key = join_key(&self.prefix, "latest.json");
        for _ in 0..20 {
            let written = match self.bucket.get_tagged(&key).await? {
                None => {
                    self.bucket
                        .put_new(&key, pretty(&latest), "application/json")
                        .await?
                }
                Some((bytes, etag)) => {
                    let current = serde_json::from_slice::<Value>(&bytes)
                        .ok()
                        .and_then(|v| latest_order(&v));
                    if let Some(current) = current.filter(|c| *c >= ours) {
                        if current != ours {
                            tracing::info!(latest_as_of = %current.0, latest_run = %current.2, "latest.json names a newer snapshot; left as it is");
                        }
                        return Ok(());
                    }
                    self.bucket
                        .put_if_match(&key, pretty(&latest), "application/json", &etag)
                        .await?
                }
            };
            if written {
                return Ok(());
            }
        }
        Err(SyncError::Internal(format!(
            "{key} kept changing under 20 compare-and-swap attempts"
        )))
    }

    fn new_run(&self, as_of: Option<DateTime<Utc>>) -> Checkpoint {
        let now = Utc::now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let run_id = format!("{}-{:08x}", now.format("%Y%m%dT%H%M%SZ"), fastrand::u32(..));
        let run_prefix = join_key(
            &self.prefix,
            &format!("snapshots/dt={}/run={run_id}/", now.format("%Y-%m-%d")),
        );
        Checkpoint {
            version: CHECKPOINT_VERSION,
            run_id,
            as_of: as_of.unwrap_or(now),
            started_at: now,
            bucket: self.bucket.name().to_owned(),
            run_prefix,
            invocations: 0,
            retries: 0,
            rate_limited: 0,
            pacing: None,
            vulnerabilities: StreamState::default(),
            remediations: StreamState::default(),
            vulnerable_assets: StreamState::default(),
        }
    }

    async fn load_checkpoint(&self, key: &str) -> Result<Checkpoint, SyncError> {
        let bytes = self.bucket.get(key).await.map_err(|e| {
            if e.not_found {
                SyncError::CheckpointMissing {
                    bucket: self.bucket.name().to_owned(),
                    key: key.to_owned(),
                }
            } else {
                SyncError::S3(e)
            }
        })?;
        let invalid = |reason: String| SyncError::CheckpointInvalid {
            bucket: self.bucket.name().to_owned(),
            key: key.to_owned(),
            reason,
        };
        let cp: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if cp.version != CHECKPOINT_VERSION {
            return Err(invalid(format!(
                "format version {} is not {CHECKPOINT_VERSION}",
                cp.version
            )));
        }
        if cp.bucket != self.bucket.name() {
            return Err(invalid(format!("it belongs to bucket {}", cp.bucket)));
        }
        Ok(cp)
    }

    /// Parts are all written; now `stats.json`, `_manifest.json`, `latest.json`.
    /// Idempotent: every object is created only if absent, so a second
    /// commit of the same final checkpoint changes nothing.
    async fn commit(&self, cp: &Checkpoint) -> Result<(), SyncError> {
        let stats_key = format!("{}stats.json", cp.run_prefix);
        let doc = cp.stats().document(cp.as_of);
        self.bucket
            .put_new(&stats_key, pretty(&doc), "application/json")
            .await?;

        let completed = Utc::now();
        let snapshot = format!("s3://{}/{}", self.bucket.name(), cp.run_prefix);
        let mut files = Vec::new();
        for (dataset, parts) in [
            ("vulnerabilities", &cp.vulnerabilities.parts),
            ("remediations", &cp.remediations.parts),
            ("vulnerable_assets", &cp.vulnerable_assets.parts),
        ] {
            for p in parts {
                files.push(json!({"dataset": dataset, "key": p.key, "sizeBytes": p.size_bytes, "rows": p.rows}));
            }
        }
        let manifest_key = manifest_key(&cp.run_prefix);
        let mut manifest = json!({
            "schemaVersion": SCHEMA_VERSION,
            "runId": cp.run_id,
            "snapshot": snapshot,
            "asOf": cp.as_of.to_rfc3339_opts(SecondsFormat::Millis, true),
            "startedAt": cp.started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "completedAt": completed.to_rfc3339_opts(SecondsFormat::Millis, true),
            "invocations": cp.invocations,
            "counts": cp.counts(),
            "pages": cp.pages(),
            "retries": cp.retries,
            "rateLimited": cp.rate_limited,
            "stats": stats_key,
            "files": files,
        });
        // The commit point: once the manifest exists, the snapshot is
        // complete and none of its objects is written again.
        if !self
            .bucket
            .put_new(&manifest_key, pretty(&manifest), "application/json")
            .await?
        {
            tracing::info!(manifest = %manifest_key, "the snapshot was already committed; keeping its manifest");
            let bytes = self.bucket.get(&manifest_key).await?;
            manifest = serde_json::from_slice(&bytes).map_err(|e| {
                SyncError::Internal(format!("{manifest_key} is not valid JSON: {e}"))
            })?;
        }
        self.publish(&manifest, &manifest_key).await?;
        tracing::info!(snapshot = %snapshot, records = cp.counts().total(), "snapshot committed");
        Ok(())
    }

    /// A dataset with no records still gets one (empty) file, so readers of
    /// the folder see its schema.
    async fn ensure_a_file<R: SyncRecord>(
        &self,
        parts: &mut Vec<PartFile>,
        run_prefix: &str,
        attempt: &str,
    ) -> Result<(), SyncError> {
        if !parts.is_empty() {
            return Ok(());
        }
        let dataset = R::ENDPOINT.dataset();
        let body = PartWriter::new(R::schema(), self.options.rows_per_row_group)
            .and_then(|w| w.finish())
            .map_err(|e| parquet_error(dataset, e))?;
        let key = part_key(run_prefix, dataset, 0, attempt);
        let size_bytes = body.len() as u64;
        let mut upload = self.bucket.upload(key.clone(), self.options.part_bytes);
        upload.write(body).await?;
        upload.finish().await?;
        parts.push(PartFile {
            key,
            size_bytes,
            rows: 0,
        });
        Ok(())
    }
}

/// `latest.json`'s order: its snapshot's `asOf`, then when its run started
/// (a rerun with the same `asOf` is newer), then its run id.
fn latest_order(v: &Value) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>, String)> {
    let time = |field: &str| {
        v[field]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    Some((
        time("asOf")?,
        time("startedAt"),
        v["runId"].as_str()?.to_owned(),
    ))
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fetcher_panic_is_reported_with_its_message() {
        let mut task = tokio::spawn(async { panic!("boom at page 3") });
        let e = fetcher_died("vulnerabilities", &mut task).await;
        let msg = e.to_string();
        assert!(
            msg.contains("vulnerabilities fetcher failed: it panicked: boom at page 3"),
            "{msg}"
        );
        let mut task = tokio::spawn(async { panic!("{}", String::from("owned 7")) });
        let msg = fetcher_died("remediations", &mut task).await.to_string();
        assert!(msg.contains("it panicked: owned 7"), "{msg}");
    }

    /// A record whose parsing panics: the fetcher (which parses pages) dies.
    struct Boom;

    impl<'de> Deserialize<'de> for Boom {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            panic!("cannot parse this record")
        }
    }

    impl ParquetRecord for Boom {
        fn schema() -> arrow_schema::SchemaRef {
            Vulnerability::schema()
        }
        fn to_batch(_: &[Self]) -> Result<arrow_array::RecordBatch, parquet::errors::ParquetError> {
            Err(parquet::errors::ParquetError::General("never".into()))
        }
    }

    impl SyncRecord for Boom {
        type Stats = ();
        const ENDPOINT: Endpoint = Endpoint::Vulnerabilities;
        fn count(_: &mut (), _: &Self, _: DateTime<Utc>) {}
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_whose_fetcher_panics_fails_with_the_cause() {
        let server = mock_vanta::Server::start(mock_vanta::Config::default())
            .await
            .unwrap();
        let mut options = crate::vanta::ClientOptions::new(
            server.base_url(),
            crate::config::Credentials {
                client_id: "vci_mock".into(),
                client_secret: crate::config::Secret::new("vcs_mock"),
            },
        );
        options.rate_limit_per_min = 0;
        let ctx = Arc::new(StreamCtx {
            vanta: Arc::new(VantaClient::new(options).unwrap()),
            bucket: None,
            run_prefix: String::new(),
            attempt: "t".into(),
            first_page_by: None,
            as_of: Utc::now(),
            options: SyncOptions::default(),
            stop: tokio::sync::watch::Sender::new(false),
        });
        let state = StreamState::<()>::default();
        let e = run_stream::<Boom>(ctx.clone(), state).await.unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("vulnerabilities fetcher failed: it panicked: cannot parse this record"),
            "{msg}"
        );
        assert!(*ctx.stop.borrow(), "the other streams are told to stop");
        server.shutdown().await;
    }
}
