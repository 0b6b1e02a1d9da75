//! Tuning of the engine.

use super::*;

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
