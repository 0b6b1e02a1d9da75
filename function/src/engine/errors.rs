//! Why a sync fails.

use super::*;

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
