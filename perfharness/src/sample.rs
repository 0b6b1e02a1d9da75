//! One measured invocation, as every driver records it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::platform::PlatformRecord;

/// Which part of a run a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// A forced cold start.
    Cold,
    /// Invocations made to warm environments up; excluded from statistics.
    Warmup,
    /// Sequential warm invocations.
    Warm,
    /// Warm invocations issued `--concurrency` at a time.
    Concurrent,
    /// Invocations of a load test (used by `load`).
    Load,
}

impl Phase {
    /// The name used in report keys (`cold`, `warm`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Cold => "cold",
            Phase::Warmup => "warmup",
            Phase::Warm => "warm",
            Phase::Concurrent => "concurrent",
            Phase::Load => "load",
        }
    }
}

/// Where a sample's REPORT came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportSource {
    /// The `X-Amz-Log-Result` tail of the Invoke response.
    Tail,
    /// CloudWatch Logs (FilterLogEvents).
    Logs,
}

/// One invocation with everything measured about it. Field names are part
/// of `report.json`'s stable format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Phase of the run.
    pub phase: Phase,
    /// Index within the phase, from 0.
    pub index: usize,
    /// Lambda's request id (`x-amzn-RequestId`); `None` when the call failed
    /// before Lambda assigned one.
    pub request_id: Option<String>,
    /// When the invoke was sent.
    pub started_at: DateTime<Utc>,
    /// Client round trip of the Invoke call, ms.
    pub client_ms: f64,
    /// True when the REPORT carried Init Duration (a cold start).
    pub cold: bool,
    /// Init Duration, ms (cold starts only).
    pub init_ms: Option<f64>,
    /// Duration, ms.
    pub duration_ms: Option<f64>,
    /// Billed Duration, ms.
    pub billed_ms: Option<u64>,
    /// Init + Duration, ms: what a caller waits for on a cold start.
    pub cold_total_ms: Option<f64>,
    /// Max Memory Used, MB.
    pub max_memory_used_mb: Option<u64>,
    /// Memory Size, MB.
    pub memory_size_mb: Option<u64>,
    /// `success`, `error`, `timeout`, `failure` (from REPORT), `throttled`
    /// or `invoke_error` (the Invoke call itself failed).
    pub status: String,
    /// Error Type from REPORT, or the API error code for a failed call.
    pub error_type: Option<String>,
    /// `X-Amz-Function-Error` of the response (`Unhandled`), if any.
    pub function_error: Option<String>,
    /// Where the REPORT came from; `None` when it was never found.
    pub report_source: Option<ReportSource>,
    /// For cold samples: how many forced updates it took to get a verified
    /// cold start (1 = first try).
    pub force_attempts: u32,
}

impl Sample {
    /// A sample for a sent invoke whose REPORT is not known yet.
    pub fn new(phase: Phase, index: usize, started_at: DateTime<Utc>, client_ms: f64) -> Self {
        Self {
            phase,
            index,
            request_id: None,
            started_at,
            client_ms,
            cold: false,
            init_ms: None,
            duration_ms: None,
            billed_ms: None,
            cold_total_ms: None,
            max_memory_used_mb: None,
            memory_size_mb: None,
            status: "success".to_string(),
            error_type: None,
            function_error: None,
            report_source: None,
            force_attempts: 0,
        }
    }

    /// Fills the Lambda-side figures from a REPORT record.
    pub fn apply_report(&mut self, rec: &PlatformRecord, source: ReportSource) {
        self.cold = rec.is_cold();
        self.init_ms = rec.init_duration_ms;
        self.duration_ms = rec.duration_ms;
        self.billed_ms = rec.billed_duration_ms;
        self.cold_total_ms = match (rec.init_duration_ms, rec.duration_ms) {
            (Some(i), Some(d)) => Some(i + d),
            _ => None,
        };
        self.max_memory_used_mb = rec.max_memory_used_mb;
        self.memory_size_mb = rec.memory_size_mb;
        // An invoke-level failure (throttle) has no REPORT; a REPORT's own
        // status is authoritative for everything else.
        self.status = rec.status.clone();
        if rec.error_type.is_some() {
            self.error_type = rec.error_type.clone();
        }
        self.report_source = Some(source);
    }

    /// True when the invocation did not succeed.
    pub fn is_error(&self) -> bool {
        self.status != "success"
    }

    /// True when the REPORT line for this sample was never found.
    pub fn is_missing(&self) -> bool {
        self.report_source.is_none() && self.request_id.is_some() && !self.is_rejected()
    }

    /// True when the Invoke call itself was refused (throttle or API error),
    /// so no REPORT can exist.
    pub fn is_rejected(&self) -> bool {
        self.status == "throttled" || self.status == "invoke_error"
    }
}
