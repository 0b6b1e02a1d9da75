//! The lines Lambda itself writes to CloudWatch Logs (INIT_START, START, END,
//! REPORT, INIT_REPORT in text format, `platform.*` records in JSON format)
//! and the 2025 billing rule that REPORT states.

use serde_json::{json, Map, Value};

/// Runtime version AWS names for `provided.al2023`.
pub(crate) const RUNTIME_VERSION: &str = "provided:al2023.v97";
/// Hash part of the runtime version ARN (stable, like AWS's for one release).
const RUNTIME_VERSION_HASH: &str =
    "5ba2b8c2d4c0e4bd0f1dc3e6c5f7b6a1e0a7d0e3f1b2c4a6d8e9f0a1b2c3d4e5";

/// `arn:aws:lambda:REGION::runtime:HASH`.
pub(crate) fn runtime_version_arn() -> String {
    format!(
        "arn:aws:lambda:{}::runtime:{RUNTIME_VERSION_HASH}",
        crate::REGION
    )
}

/// `2024-12-28T19:04:46.553Z` for the JSON records' `time`.
pub(crate) fn rfc3339_ms_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Hundredths of a millisecond, the precision REPORT prints.
fn hundredths(ms: f64) -> u64 {
    (ms.max(0.0) * 100.0).round() as u64
}

/// Rounds to the two decimals REPORT prints, so the printed figures and the
/// billed figure are consistent with each other.
pub(crate) fn round2(ms: f64) -> f64 {
    hundredths(ms) as f64 / 100.0
}

/// Billed Duration since 1 Aug 2025: warm `ceil(Duration)`, cold
/// `ceil(Duration + Init Duration)`, 1 ms granularity, computed on the
/// printed (two-decimal) figures.
pub fn billed_duration_ms(duration_ms: f64, init_duration_ms: Option<f64>) -> u64 {
    let total = hundredths(duration_ms) + init_duration_ms.map_or(0, hundredths);
    total.div_ceil(100)
}

/// How an invocation ended, as REPORT states it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReportStatus {
    /// No `Status` field in text; `success` in JSON.
    Success,
    /// A function error the runtime posted: no `Status` in text (AWS prints
    /// none), `error` with its type in JSON.
    FunctionError(String),
    /// `Status: error` with an `Error Type`.
    Error(String),
    /// `Status: timeout`.
    Timeout,
}

/// Everything a REPORT line carries.
#[derive(Debug, Clone)]
pub(crate) struct Report<'a> {
    pub request_id: &'a str,
    pub duration_ms: f64,
    pub init_duration_ms: Option<f64>,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: u64,
    pub status: ReportStatus,
}

impl Report<'_> {
    fn billed(&self) -> u64 {
        billed_duration_ms(self.duration_ms, self.init_duration_ms)
    }

    /// `REPORT RequestId: ID\tDuration: … ms\t…\t\n`.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
            self.request_id,
            round2(self.duration_ms),
            self.billed(),
            self.memory_size_mb,
            self.max_memory_used_mb
        );
        if let Some(init) = self.init_duration_ms {
            let _ = write!(line, "Init Duration: {:.2} ms\t", round2(init));
        }
        match &self.status {
            ReportStatus::Success | ReportStatus::FunctionError(_) => {}
            ReportStatus::Timeout => line.push_str("Status: timeout\t"),
            ReportStatus::Error(kind) => {
                let _ = write!(line, "Status: error\tError Type: {kind}\t");
            }
        }
        line.push('\n');
        line
    }

    /// The `platform.report` record.
    pub fn json(&self) -> String {
        let mut metrics = Map::new();
        metrics.insert("durationMs".into(), json!(round2(self.duration_ms)));
        metrics.insert("billedDurationMs".into(), json!(self.billed()));
        metrics.insert("memorySizeMB".into(), json!(self.memory_size_mb));
        metrics.insert("maxMemoryUsedMB".into(), json!(self.max_memory_used_mb));
        if let Some(init) = self.init_duration_ms {
            metrics.insert("initDurationMs".into(), json!(round2(init)));
        }
        let mut record = Map::new();
        record.insert("requestId".into(), json!(self.request_id));
        let (status, error_type) = match &self.status {
            ReportStatus::Success => ("success", None),
            ReportStatus::FunctionError(kind) | ReportStatus::Error(kind) => {
                ("error", Some(kind.as_str()))
            }
            ReportStatus::Timeout => ("timeout", None),
        };
        record.insert("status".into(), json!(status));
        if let Some(kind) = error_type {
            record.insert("errorType".into(), json!(kind));
        }
        record.insert("metrics".into(), Value::Object(metrics));
        platform_record("platform.report", Value::Object(record))
    }
}

fn platform_record(kind: &str, record: Value) -> String {
    json!({"time": rfc3339_ms_now(), "type": kind, "record": record}).to_string()
}

/// `INIT_START Runtime Version: …\tRuntime Version ARN: …\n`.
pub(crate) fn init_start_text() -> String {
    format!(
        "INIT_START Runtime Version: {RUNTIME_VERSION}\tRuntime Version ARN: {}\n",
        runtime_version_arn()
    )
}

/// The `platform.initStart` record.
pub(crate) fn init_start_json(
    function_name: &str,
    instance_id: &str,
    memory_mb: u32,
    phase: &str,
) -> String {
    platform_record(
        "platform.initStart",
        json!({
            "initializationType": "on-demand",
            "phase": phase,
            "runtimeVersion": RUNTIME_VERSION,
            "runtimeVersionArn": runtime_version_arn(),
            "functionName": function_name,
            "functionVersion": "$LATEST",
            "instanceId": instance_id,
            "instanceMaxMemory": memory_mb,
        }),
    )
}

/// `START RequestId: ID Version: $LATEST\n`.
pub(crate) fn start_text(request_id: &str) -> String {
    format!("START RequestId: {request_id} Version: $LATEST\n")
}

/// The `platform.start` record.
pub(crate) fn start_json(request_id: &str, function_arn: &str) -> String {
    platform_record(
        "platform.start",
        json!({"requestId": request_id, "functionArn": function_arn, "version": "$LATEST"}),
    )
}

/// `END RequestId: ID\n`.
pub(crate) fn end_text(request_id: &str) -> String {
    format!("END RequestId: {request_id}\n")
}

/// How a failed init ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitPhase {
    /// The regular init phase before the first invoke.
    Init,
    /// Init re-run inside an invoke ("suppressed init").
    Invoke,
}

impl InitPhase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            InitPhase::Init => "init",
            InitPhase::Invoke => "invoke",
        }
    }
}

/// `INIT_REPORT Init Duration: N ms\tPhase: …\tStatus: …\t[Error Type: …\t]\n`.
pub(crate) fn init_report_text(
    duration_ms: f64,
    phase: InitPhase,
    timed_out: bool,
    error_type: Option<&str>,
) -> String {
    let mut line = format!(
        "INIT_REPORT Init Duration: {:.2} ms\tPhase: {}\tStatus: {}\t",
        round2(duration_ms),
        phase.as_str(),
        if timed_out { "timeout" } else { "error" }
    );
    if let Some(kind) = error_type {
        line.push_str("Error Type: ");
        line.push_str(kind);
        line.push('\t');
    }
    line.push('\n');
    line
}

/// The `platform.initReport` record.
pub(crate) fn init_report_json(
    duration_ms: f64,
    phase: InitPhase,
    timed_out: bool,
    error_type: Option<&str>,
) -> String {
    let mut record = json!({
        "initializationType": "on-demand",
        "phase": phase.as_str(),
        "status": if timed_out { "timeout" } else { "error" },
        "metrics": {"durationMs": round2(duration_ms)},
    });
    if let Some(kind) = error_type {
        record["errorType"] = json!(kind);
    }
    platform_record("platform.initReport", record)
}

/// The last `limit` bytes of `log`, cut on a character boundary (what
/// `X-Amz-Log-Result` carries).
pub(crate) fn tail(log: &str, limit: usize) -> &str {
    if log.len() <= limit {
        return log;
    }
    let mut start = log.len() - limit;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billed_follows_the_2025_rule() {
        assert_eq!(billed_duration_ms(12.68, Some(295.33)), 309);
        assert_eq!(billed_duration_ms(3.01, None), 4);
        assert_eq!(billed_duration_ms(3.0, None), 3);
        assert_eq!(billed_duration_ms(0.004, None), 0);
        assert_eq!(billed_duration_ms(3000.0, None), 3000);
    }

    #[test]
    fn report_text_matches_aws_layout() {
        let report = Report {
            request_id: "abc",
            duration_ms: 3.012,
            init_duration_ms: Some(110.1),
            memory_size_mb: 128,
            max_memory_used_mb: 36,
            status: ReportStatus::Success,
        };
        assert_eq!(
            report.text(),
            "REPORT RequestId: abc\tDuration: 3.01 ms\tBilled Duration: 114 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n"
        );
        let timeout = Report {
            status: ReportStatus::Timeout,
            init_duration_ms: None,
            duration_ms: 3000.0,
            ..report.clone()
        };
        assert!(timeout
            .text()
            .ends_with("Max Memory Used: 36 MB\tStatus: timeout\t\n"));
        let oom = Report {
            status: ReportStatus::Error("Runtime.OutOfMemory".into()),
            ..report
        };
        assert!(oom
            .text()
            .ends_with("Status: error\tError Type: Runtime.OutOfMemory\t\n"));
        let json: Value = serde_json::from_str(&oom.json()).unwrap();
        assert_eq!(json["type"], "platform.report");
        assert_eq!(json["record"]["status"], "error");
        assert_eq!(json["record"]["metrics"]["billedDurationMs"], 114);
        assert_eq!(json["record"]["metrics"]["initDurationMs"], 110.1);
    }

    #[test]
    fn tail_cuts_on_char_boundary() {
        let s = "ééé";
        assert_eq!(tail(s, 3), "é");
        assert_eq!(tail("abc", 10), "abc");
    }
}
