//! The checkpoint model and the run's key layout: what a run has written
//! so far, enough to continue it in a fresh invocation.

use super::*;

pub(super) const CHECKPOINT_VERSION: u32 = 1;

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
    pub(super) fn counts(&self) -> Counts {
        Counts {
            vulnerabilities: self.vulnerabilities.records,
            remediations: self.remediations.records,
            vulnerable_assets: self.vulnerable_assets.records,
        }
    }

    pub(super) fn pages(&self) -> u64 {
        self.vulnerabilities.pages + self.remediations.pages + self.vulnerable_assets.pages
    }

    pub(super) fn stats(&self) -> SyncStats {
        SyncStats {
            vulnerabilities: self.vulnerabilities.stats.clone(),
            assets: self.vulnerable_assets.stats.clone(),
            remediations: self.remediations.stats.clone(),
        }
    }

    pub(super) fn all_done(&self) -> bool {
        self.vulnerabilities.done && self.remediations.done && self.vulnerable_assets.done
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

pub(super) fn part_key(run_prefix: &str, dataset: &str, index: usize, attempt: &str) -> String {
    format!("{run_prefix}{dataset}/part-{index:05}-{attempt}.parquet")
}

/// The checkpoint written at the end of invocation `n` of a run (the step
/// that resumes it is invocation `n + 1`). Its conditional create is what
/// fences a step: only the execution that creates it advances the run.
pub(super) fn checkpoint_key(run_prefix: &str, n: u32) -> String {
    format!("{run_prefix}_checkpoints/{n:05}.json")
}

/// Written once the continuation of checkpoint `n` has been invoked, so a
/// later duplicate knows it need not invoke it again.
pub(super) fn continued_key(run_prefix: &str, n: u32) -> String {
    format!("{run_prefix}_checkpoints/{n:05}.continued")
}

pub(super) fn manifest_key(run_prefix: &str) -> String {
    format!("{run_prefix}_manifest.json")
}

impl Engine {
    pub(super) fn new_run(&self, as_of: Option<DateTime<Utc>>) -> Checkpoint {
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

    pub(super) async fn load_checkpoint(&self, key: &str) -> Result<Checkpoint, SyncError> {
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
}
