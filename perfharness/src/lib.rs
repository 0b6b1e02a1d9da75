//! perfharness: cold, warm and load benchmarks of AWS Lambda functions from
//! their REPORT lines, against AWS or the local emulator with the same code.
//!
//! - [`bench`]: the benchmark stack a run against AWS uses (mock-vanta,
//!   benchmark bucket) and the default sample counts.
//! - [`cli`]: the command line ([`cli::CommonArgs`] is shared by every
//!   measuring subcommand).
//! - [`session`]: SDK clients (timed invokes without retries, control plane
//!   with adaptive retries, Logs) and the `--local` stack.
//! - [`driver`]: configuration reads and waits, forced cold starts, timed
//!   invokes, REPORT retrieval from CloudWatch Logs.
//! - [`config_guard`]: snapshot, restore and verification of the
//!   function's configuration, also on failure and Ctrl-C.
//! - [`report::line`]: the REPORT / INIT_REPORT / RESTORE_REPORT parser.
//! - [`stats`], [`metrics`], [`cost`], [`targets`]: statistics, the metric
//!   catalogue, the cost estimate and target evaluation.
//! - [`report`]: `report.json`, `report.md`, `report.html` and the terminal.
//! - [`run`]: the `full` / `cold` / `warm` / `report` commands.
//! - [`local`]: the `--local` stack (mock-vanta + emulator in-process).
//! - [`load`], [`power`], [`gate`]: load tests, memory sweeps and the CI
//!   regression gate, built on the same drivers.

pub mod bench;
pub mod cli;
pub mod config_guard;
pub mod cost;
pub mod driver;
pub mod error;
pub mod local;
pub mod metrics;
pub mod recorder;
pub mod report;
pub mod run;
pub mod sample;
pub mod session;
pub mod stats;
pub mod targets;

pub mod gate;
pub mod load;
pub mod power;

pub use error::HarnessError;
