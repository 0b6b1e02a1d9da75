//! The run report: its data model (`report.json`, stable field names), the
//! writers of the run directory (`report.json`, `report.md`, `report.html`)
//! and the terminal rendering. [`line`] is the platform-line parser.

pub mod html;
pub mod line;
pub mod markdown;
pub mod terminal;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config_guard::RestoreReport;
use crate::driver::FunctionInfo;
use crate::error::HarnessError;
use crate::metrics::Metrics;
use crate::report::line::MalformedLine;
use crate::sample::Sample;
use crate::targets::TargetResult;

/// Identifier of the `report.json` format; bumped only on breaking changes.
pub const SCHEMA: &str = "perfharness.run/1";

/// Where and how the run was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// Region.
    pub region: String,
    /// Custom endpoint, if any.
    pub endpoint_url: Option<String>,
    /// True for `--local` (mock-vanta + emulator).
    pub local: bool,
    /// perfharness version.
    pub harness_version: String,
}

/// The settings the run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Cold samples asked for.
    pub cold_samples: usize,
    /// Warm samples asked for (sequential; the same again in parallel).
    pub warm_samples: usize,
    /// Parallel invokes in the concurrent phase.
    pub concurrency: usize,
    /// Re-force limit per cold sample.
    pub max_reforce: u32,
    /// `tail`, `logs` or `both`.
    pub log_source: crate::cli::LogSource,
    /// CloudWatch Logs polling bound, s.
    pub logs_timeout_s: f64,
    /// Payload size, bytes.
    pub payload_bytes: usize,
}

/// How REPORT retrieval went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogsSummary {
    /// Samples whose REPORT came from the Invoke tail.
    pub from_tail: usize,
    /// Samples whose REPORT came from CloudWatch Logs.
    pub from_logs: usize,
    /// Samples cross-checked against CloudWatch Logs (`both`).
    pub cross_checked: usize,
    /// Samples whose tail and Logs REPORTs differ.
    pub discrepancies: usize,
    /// Samples whose REPORT was never found (request ids listed).
    pub missing: Vec<String>,
    /// Platform lines that could not be parsed.
    pub malformed: Vec<MalformedLine>,
    /// Why CloudWatch Logs could not be read, if it could not.
    pub error: Option<String>,
}

/// Control-plane retries made during the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlPlane {
    /// ResourceConflictException answers retried.
    pub conflicts_retried: u64,
    /// Throttles retried.
    pub throttles_retried: u64,
    /// Other retried errors.
    pub other_retried: u64,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// `completed`, `interrupted` or `failed`.
    pub status: String,
    /// The error of a failed run.
    pub error: Option<String>,
    /// True when every target passed (and the run completed).
    pub targets_met: bool,
}

/// Everything about one run; serialised as `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// `full`, `cold` or `warm`.
    pub command: String,
    /// Start of the run.
    pub started_at: DateTime<Utc>,
    /// End of the run.
    pub finished_at: DateTime<Utc>,
    /// The function measured.
    pub function: FunctionInfo,
    /// Where the run was made.
    pub context: RunContext,
    /// Settings used.
    pub settings: Settings,
    /// Every sample, warm-up included (marked by its phase).
    pub samples: Vec<Sample>,
    /// Every statistic.
    pub metrics: Metrics,
    /// The targets file used, if any.
    pub targets_file: Option<String>,
    /// Target verdicts.
    pub targets: Vec<TargetResult>,
    /// REPORT retrieval.
    pub logs: LogsSummary,
    /// Control-plane retries.
    pub control_plane: ControlPlane,
    /// Restore of the configuration (`None` only if no snapshot was taken).
    pub restore: Option<RestoreReport>,
    /// How the run ended.
    pub outcome: Outcome,
}

impl RunReport {
    /// Reads `report.json` from a run directory.
    pub fn load(run_dir: &Path) -> Result<RunReport, HarnessError> {
        let path = run_dir.join("report.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            HarnessError::Usage(format!(
                "cannot read {} ({e}); is {} a run directory?",
                path.display(),
                run_dir.display()
            ))
        })?;
        serde_json::from_str(&text).map_err(|e| {
            HarnessError::Usage(format!(
                "{} is not a perfharness report ({e})",
                path.display()
            ))
        })
    }

    /// Writes `report.json`, `report.md` and `report.html` into `dir`
    /// (created if needed) and appends the Markdown to
    /// `$GITHUB_STEP_SUMMARY` when that is set. Returns the paths written.
    pub fn write_all(&self, dir: &Path) -> Result<Vec<PathBuf>, HarnessError> {
        std::fs::create_dir_all(dir).map_err(|e| HarnessError::io(dir, e))?;
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| HarnessError::Infrastructure(e.to_string()))?;
        let md = markdown::render(self);
        let html = html::render(self);
        let mut written = Vec::new();
        for (name, body) in [
            ("report.json", json),
            ("report.md", md.clone()),
            ("report.html", html),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, body).map_err(|e| HarnessError::io(&p, e))?;
            written.push(p);
        }
        if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
            use std::io::Write;
            let p = PathBuf::from(summary);
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map_err(|e| HarnessError::io(&p, e))?;
            writeln!(f, "{md}").map_err(|e| HarnessError::io(&p, e))?;
        }
        Ok(written)
    }

    /// Samples of `phase` (warm-up excluded unless asked for).
    pub fn samples_of(&self, phase: crate::sample::Phase) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(move |s| s.phase == phase)
    }
}

/// Formats a figure for people: integers without decimals, others with 2,
/// tiny values (costs) with 6.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    if v == v.trunc() && v.abs() < 1e12 {
        format!("{v:.0}")
    } else if v.abs() >= 0.01 {
        format!("{v:.2}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').to_string()
    }
}

/// Formats an optional statistic (`n/a` when unavailable).
pub fn fmt_opt(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "n/a".to_string())
}

/// The headline metrics charted in every report.
pub const HEADLINES: &[&str] = &[
    "cold.init_ms",
    "cold.total_ms",
    "warm.duration_ms",
    "warm.client_ms",
];

/// Rows of a metric table: (metric, description, summary) for metrics with data.
pub(crate) fn metric_rows(
    r: &RunReport,
) -> Vec<(&'static str, &'static str, &crate::stats::Summary)> {
    crate::metrics::DISTRIBUTIONS
        .iter()
        .filter_map(|(k, d)| r.metrics.distributions.get(*k).map(|s| (*k, *d, s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(fmt_num(30.0), "30");
        assert_eq!(fmt_num(12.3456), "12.35");
        assert_eq!(fmt_num(0.000413), "0.000413");
        assert_eq!(fmt_num(f64::NAN), "n/a");
        assert_eq!(fmt_opt(None), "n/a");
    }
}
