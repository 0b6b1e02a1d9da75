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
    /// When rows reach the Parquet writer in batches rather than page by page.
    pub batching: Batching,
}

/// When a stream hands its rows to the Parquet writer in batches of
/// [`BATCH_ROWS`](crate::sink::parquet::BATCH_ROWS) rather than after every
/// page. A batch costs less CPU (9 % of the function's CPU in a sync) but is
/// one long stretch of work, and on a single thread every fetcher's next
/// request waits behind it: batching pays when the function is short of
/// CPU, and costs when it is waiting on Vanta's chain of pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batching {
    /// Always: a function with well under a vCPU is short of CPU for the
    /// whole sync (at 512 MB a sync of 100,000 vulnerabilities took 1.55-1.64
    /// s batched against 1.84-1.88 s page by page, and at 1,024 MB one of
    /// 1,000,000 5.9 s against 6.8 s).
    Always,
    /// While more than one stream is running, when the streams compete for
    /// the CPU; page by page once one runs alone, when its requests wait on
    /// the CPU least (with one vCPU, batching throughout made a sync of
    /// 1,000,000 vulnerabilities 6-9 % longer).
    WhileStreamsOverlap,
}

/// A function with less than this share of a vCPU (about 1,330 MB of
/// memory) batches throughout ([`Batching::Always`]).
pub const SHORT_OF_CPU_BELOW: f64 = 0.75;

impl SyncOptions {
    /// The production values for a function with `vcpus` of CPU (its
    /// memory's share of a vCPU; `None` when not known).
    pub fn for_vcpus(vcpus: Option<f64>) -> Self {
        let batching = match vcpus {
            Some(v) if v < SHORT_OF_CPU_BELOW => Batching::Always,
            _ => Batching::WhileStreamsOverlap,
        };
        Self {
            batching,
            ..Self::default()
        }
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            rows_per_row_group: 10_000,
            max_file_bytes: 32 * 1024 * 1024,
            part_bytes: MIN_PART_BYTES,
            prefetch_pages: 4,
            checkpoint_margin: Duration::from_secs(60),
            batching: Batching::WhileStreamsOverlap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_short_of_cpu_batches_throughout() {
        // 512 MB and 1,024 MB: under 0.75 vCPU.
        for vcpus in [512.0 / 1769.0, 1024.0 / 1769.0] {
            assert_eq!(
                SyncOptions::for_vcpus(Some(vcpus)).batching,
                Batching::Always
            );
        }
        // 1,536 MB and more, or not on Lambda: only while streams overlap.
        for vcpus in [Some(1536.0 / 1769.0), Some(1.0), Some(6.0), None] {
            assert_eq!(
                SyncOptions::for_vcpus(vcpus).batching,
                Batching::WhileStreamsOverlap
            );
        }
        assert_eq!(
            SyncOptions::default().batching,
            Batching::WhileStreamsOverlap
        );
    }
}
