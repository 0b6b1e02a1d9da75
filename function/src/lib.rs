//! vanta-vuln-sync: the sync engine behind the Lambda function.
//!
//! It pages Vanta's three vulnerability endpoints concurrently, streams each
//! page into Parquet row groups uploaded to S3 with multipart uploads,
//! computes the statistics of `docs/statistics.md` on the way, and commits a
//! snapshot (parts, `stats.json`, `_manifest.json`, then `latest.json`).
//! Before the invocation deadline it checkpoints and continues itself.

#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod event;
pub mod handler;
pub mod logging;
pub mod metrics;
pub mod runtime;
pub mod sink;
pub mod stats;
pub mod tls;
pub mod vanta;
