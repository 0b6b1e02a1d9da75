//! What an invocation answers.

use super::*;

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

    pub(super) fn minus(&self, other: &Counts) -> Counts {
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
