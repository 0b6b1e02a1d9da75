//! perfharness: cold, warm and load benchmarks of AWS Lambda functions from
//! their REPORT lines, against AWS or the local emulator with the same code.
//!
//! The modules form layers, read bottom-up; a module imports only from the
//! layers below it (the `layers` test checks it):
//!
//! 1. [`error`], [`options`] (what every command is told), [`platform`] (the
//!    parser of Lambda's REPORT / INIT_REPORT / RESTORE_REPORT lines) and
//!    [`sample`] (one measured invocation).
//! 2. [`analysis`]: summaries and percentiles (one definition), the metric
//!    catalogue, cost, targets and the power-tuning score.
//! 3. [`aws`]: the SDK session, configuration reads and waits, the
//!    configuration guard, CloudWatch Logs.
//! 4. [`bench`] (the benchmark stack a run against AWS points the function
//!    at) and [`local`] (the in-process emulator stack of `--local`).
//! 5. [`measure`]: forced cold starts, timed warm invokes, the load engine
//!    and its schedules.
//! 6. [`export`]: `report.json`, Markdown, the terminal, and the HTML pages
//!    and SVG charts every command writes.
//! 7. [`commands`]: `full`/`cold`/`warm`/`report`, `load`, `power`, `gate`,
//!    `parse-logs`.
//! 8. [`cli`]: clap and dispatch only; nothing imports it.

pub mod error;
pub mod options;
pub mod platform;
pub mod sample;

pub mod analysis;
pub mod aws;

pub mod bench;
pub mod local;

pub mod measure;

pub mod export;

pub mod commands;

pub mod cli;

pub use error::HarnessError;
