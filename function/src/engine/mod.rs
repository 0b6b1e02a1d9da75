//! The sync itself: three concurrent pagers streaming into Parquet on S3, the
//! commit protocol, and checkpoint/continue before the invocation deadline.
//!
//! Each pager owns its stream's cursor, open part file and statistics, so a
//! checkpoint taken at a page boundary captures exactly the records written:
//! resuming from it neither loses nor repeats one.
//!
//! This module runs one invocation ([`Engine::run`]); the parts, one at a
//! time:
//! - `options`: tuning ([`SyncOptions`]);
//! - `checkpoint`: the checkpoint model and the run's key layout, starting
//!   and loading runs;
//! - `stream`: one stream's fetcher and Parquet writer ([`SyncRecord`]);
//! - `commit`: the fence against duplicates and replays, the commit
//!   (`stats.json`, `_manifest.json`) and publication (symlink files,
//!   `latest.json` by compare-and-swap);
//! - `continuation`: invoking the next step ([`Continuer`]);
//! - `outcome` and `errors`: what an invocation answers.

mod checkpoint;
mod commit;
mod continuation;
mod errors;
mod options;
mod outcome;
mod stream;

// Imports shared with the submodules (each has `use super::*`).
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::event::SyncEvent;
use crate::sink::parquet::{Columns, ParquetRecord, PartWriter, SCHEMA_VERSION};
use crate::sink::s3::{Bucket, S3Error, Upload, MIN_PART_BYTES};
use crate::stats::{AssetStats, RemediationStats, SyncStats, VulnerabilityStats};
use crate::vanta::model::{Page, RawPage, Remediation, Vulnerability, VulnerableAsset};
use crate::vanta::{Endpoint, VantaClient, VantaError};

pub use checkpoint::{join_key, Checkpoint, PartFile, StreamState};
pub use continuation::Continuer;
pub use errors::SyncError;
pub use options::{Batching, SyncOptions};
pub use outcome::{Counts, Status, SyncOutcome};
pub use stream::SyncRecord;

use checkpoint::*;
use stream::*;

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
            running: std::sync::atomic::AtomicUsize::new(0),
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
}
