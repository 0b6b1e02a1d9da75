//! Parser for the platform lines Lambda writes: `REPORT`, `INIT_REPORT` and
//! `RESTORE_REPORT` in AWS's text format and `platform.report`,
//! `platform.initReport` and `platform.restoreReport` in its JSON format.
//!
//! The parser keys on field names, never on positions or tabs: Lambda
//! separates the fields of a text record with tabs, but the order is not a
//! contract, and text copied from a console or an export often has each tab
//! turned into a single space. So fields may come in any order, separated by
//! tabs, spaces or both, with or without a trailing separator, with junk
//! before the marker (timestamps of exports), and with the X-Ray fields
//! (`XRAY TraceId: ... SegmentId: ... Sampled: ...`) either on a line of
//! their own or on the same line after the last field. A numeric field is
//! its first word (with its unit); the X-Ray part is never read. It
//! never panics; a line that names a platform record but cannot be read is
//! returned as [`LineOutcome::Malformed`] so callers can report it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which platform record a line carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// `REPORT` / `platform.report`: one per invocation.
    Report,
    /// `INIT_REPORT` / `platform.initReport`: an init that failed or timed out.
    InitReport,
    /// `RESTORE_REPORT` / `platform.restoreReport`: SnapStart restore.
    RestoreReport,
}

/// One parsed platform record. Field names are the `parse-logs` output
/// contract: scripts depend on them, so they never change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformRecord {
    /// Which record this is.
    pub kind: RecordKind,
    /// `RequestId` (absent from INIT_REPORT / RESTORE_REPORT text lines).
    pub request_id: Option<String>,
    /// `Duration` in ms.
    pub duration_ms: Option<f64>,
    /// `Billed Duration` in ms.
    pub billed_duration_ms: Option<u64>,
    /// `Memory Size` in MB.
    pub memory_size_mb: Option<u64>,
    /// `Max Memory Used` in MB.
    pub max_memory_used_mb: Option<u64>,
    /// `Init Duration` in ms: present on a cold start only.
    pub init_duration_ms: Option<f64>,
    /// `Restore Duration` in ms (SnapStart).
    pub restore_duration_ms: Option<f64>,
    /// `Billed Restore Duration` in ms (SnapStart).
    pub billed_restore_duration_ms: Option<u64>,
    /// `success` when the line names no status, else `error`, `timeout`, `failure`...
    pub status: String,
    /// `Error Type`, e.g. `Runtime.OutOfMemory`.
    pub error_type: Option<String>,
    /// `Phase` of an INIT_REPORT (`init` or `invoke`).
    pub phase: Option<String>,
}

impl PlatformRecord {
    fn empty(kind: RecordKind) -> Self {
        Self {
            kind,
            request_id: None,
            duration_ms: None,
            billed_duration_ms: None,
            memory_size_mb: None,
            max_memory_used_mb: None,
            init_duration_ms: None,
            restore_duration_ms: None,
            billed_restore_duration_ms: None,
            status: "success".to_string(),
            error_type: None,
            phase: None,
        }
    }

    /// True when the record proves a cold start: a REPORT with Init Duration.
    pub fn is_cold(&self) -> bool {
        self.kind == RecordKind::Report && self.init_duration_ms.is_some()
    }
}

/// What one line turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum LineOutcome {
    /// A platform record.
    Record(PlatformRecord),
    /// Not a platform record (START, END, XRAY, application output, junk).
    NotReport,
    /// It names a platform record but could not be read; the reason says why.
    Malformed(String),
}

/// A line the parser could not read, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MalformedLine {
    /// 1-based number of the physical line in the input.
    pub line_no: usize,
    /// Why it could not be read.
    pub reason: String,
    /// The line itself (truncated to 200 characters).
    pub line: String,
}

/// Everything found in a block of log text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedLog {
    /// Records in input order.
    pub records: Vec<PlatformRecord>,
    /// Lines that looked like platform records but could not be read.
    pub malformed: Vec<MalformedLine>,
}

#[derive(Clone, Copy)]
enum Field {
    RequestId,
    Duration,
    Billed,
    MemorySize,
    MaxMemory,
    Init,
    Restore,
    BilledRestore,
    Status,
    ErrorType,
    Phase,
}

// Longest labels first wherever one is a suffix of another, so that
// "Billed Restore Duration:" is never read as "Restore Duration:".
const LABELS: &[(&str, Field)] = &[
    ("Billed Restore Duration:", Field::BilledRestore),
    ("Billed Duration:", Field::Billed),
    ("Restore Duration:", Field::Restore),
    ("Init Duration:", Field::Init),
    ("Max Memory Used:", Field::MaxMemory),
    ("Memory Size:", Field::MemorySize),
    ("Duration:", Field::Duration),
    ("RequestId:", Field::RequestId),
    ("Error Type:", Field::ErrorType),
    ("Status:", Field::Status),
    ("Phase:", Field::Phase),
];

/// Parses one physical line (no embedded `\n`; see [`parse_message`] for
/// whole log events).
pub fn parse_line(line: &str) -> LineOutcome {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return LineOutcome::NotReport;
    }
    if trimmed.starts_with('{') {
        if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
            return parse_json_value(&value);
        }
        // A JSON-looking line that is not JSON may still hold a text REPORT
        // (e.g. a truncated wrapper); fall through to the text scan.
    }
    parse_text_line(trimmed)
}

/// Parses one log event's message, which can hold several lines (a REPORT
/// followed by its XRAY line) and returns the first platform record found.
pub fn parse_message(message: &str) -> LineOutcome {
    let mut outcome = LineOutcome::NotReport;
    for line in message.split('\n') {
        match parse_line(line) {
            LineOutcome::Record(r) => return LineOutcome::Record(r),
            LineOutcome::Malformed(m) => outcome = LineOutcome::Malformed(m),
            LineOutcome::NotReport => {}
        }
    }
    outcome
}

/// Parses a block of log text line by line, collecting records and
/// unreadable lines.
pub fn parse_text(text: &str) -> ParsedLog {
    let mut parsed = ParsedLog::default();
    for (i, line) in text.lines().enumerate() {
        push_outcome(&mut parsed, i + 1, line, parse_line(line));
    }
    parsed
}

pub(crate) fn push_outcome(
    parsed: &mut ParsedLog,
    line_no: usize,
    line: &str,
    outcome: LineOutcome,
) {
    match outcome {
        LineOutcome::Record(r) => parsed.records.push(r),
        LineOutcome::NotReport => {}
        LineOutcome::Malformed(reason) => parsed.malformed.push(MalformedLine {
            line_no,
            reason,
            line: line.chars().take(200).collect(),
        }),
    }
}

fn find_marker(line: &str) -> Option<(RecordKind, usize)> {
    // INIT_REPORT and RESTORE_REPORT contain "REPORT", so they are looked
    // for first; a plain REPORT must be a word of its own.
    if let Some(p) = line.find("INIT_REPORT") {
        return Some((RecordKind::InitReport, p + "INIT_REPORT".len()));
    }
    if let Some(p) = line.find("RESTORE_REPORT") {
        return Some((RecordKind::RestoreReport, p + "RESTORE_REPORT".len()));
    }
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(off) = line[from..].find("REPORT") {
        let p = from + off;
        let before_ok = p == 0 || !bytes[p - 1].is_ascii_alphanumeric() && bytes[p - 1] != b'_';
        let end = p + "REPORT".len();
        let after_ok = end == bytes.len() || bytes[end].is_ascii_whitespace();
        let rest = line[end..].trim_start();
        if before_ok && after_ok && LABELS.iter().any(|(l, _)| rest.starts_with(l)) {
            return Some((RecordKind::Report, end));
        }
        from = end;
    }
    None
}

fn parse_text_line(line: &str) -> LineOutcome {
    let Some((kind, start)) = find_marker(line) else {
        return LineOutcome::NotReport;
    };
    let body = without_xray(&line[start..]);
    let bytes = body.as_bytes();
    // (field, value start, label start)
    let mut found: Vec<(Field, usize, usize)> = Vec::with_capacity(12);
    let mut i = 0;
    while i < bytes.len() {
        let at_boundary = i == 0 || bytes[i - 1].is_ascii_whitespace();
        if at_boundary && bytes[i].is_ascii_uppercase() {
            let rest = &body[i..];
            if let Some((label, field)) = LABELS.iter().find(|(l, _)| rest.starts_with(l)) {
                found.push((*field, i + label.len(), i));
                i += label.len();
                continue;
            }
        }
        i += 1;
    }
    if found.is_empty() {
        return LineOutcome::Malformed(format!("{} line without any known field", kind_name(kind)));
    }
    let mut rec = PlatformRecord::empty(kind);
    for (n, &(field, vstart, _)) in found.iter().enumerate() {
        let vend = found.get(n + 1).map(|f| f.2).unwrap_or(body.len());
        // CSV exports close the quoted message right after the last field.
        let raw = body[vstart..vend]
            .trim()
            .trim_end_matches(['"', ','])
            .trim_end();
        if let Err(reason) = apply_text_field(&mut rec, field, raw) {
            return LineOutcome::Malformed(reason);
        }
    }
    match validate(&rec) {
        Ok(()) => LineOutcome::Record(rec),
        Err(reason) => LineOutcome::Malformed(reason),
    }
}

/// The record without the X-Ray fields a console puts on the same line
/// (`... Init Duration: 5.1 ms XRAY TraceId: ...`).
fn without_xray(body: &str) -> &str {
    let bytes = body.as_bytes();
    let mut from = 0;
    while let Some(off) = body[from..].find("XRAY") {
        let p = from + off;
        let end = p + "XRAY".len();
        if (p == 0 || bytes[p - 1].is_ascii_whitespace())
            && (end == bytes.len() || bytes[end].is_ascii_whitespace())
        {
            return &body[..p];
        }
        from = end;
    }
    body
}

fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Report => "REPORT",
        RecordKind::InitReport => "INIT_REPORT",
        RecordKind::RestoreReport => "RESTORE_REPORT",
    }
}

fn number(raw: &str, unit: &str, name: &str) -> Result<f64, String> {
    // The number is the first word ("3.01" of "3.01 ms"; "3.01ms" too).
    let first = raw.split_whitespace().next().unwrap_or("");
    let v = first.strip_suffix(unit).unwrap_or(first);
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{name}: cannot read {raw:?} as a number of {unit}")),
    }
}

fn whole(x: f64) -> u64 {
    x.round() as u64
}

fn apply_text_field(rec: &mut PlatformRecord, field: Field, raw: &str) -> Result<(), String> {
    match field {
        Field::RequestId => {
            let id = raw.split_whitespace().next().unwrap_or("");
            if id.is_empty() {
                return Err("RequestId is empty".to_string());
            }
            rec.request_id = Some(id.to_string());
        }
        Field::Duration => rec.duration_ms = Some(number(raw, "ms", "Duration")?),
        Field::Billed => {
            rec.billed_duration_ms = Some(whole(number(raw, "ms", "Billed Duration")?))
        }
        Field::MemorySize => rec.memory_size_mb = Some(whole(number(raw, "MB", "Memory Size")?)),
        Field::MaxMemory => {
            rec.max_memory_used_mb = Some(whole(number(raw, "MB", "Max Memory Used")?))
        }
        Field::Init => rec.init_duration_ms = Some(number(raw, "ms", "Init Duration")?),
        Field::Restore => rec.restore_duration_ms = Some(number(raw, "ms", "Restore Duration")?),
        Field::BilledRestore => {
            rec.billed_restore_duration_ms =
                Some(whole(number(raw, "ms", "Billed Restore Duration")?))
        }
        Field::Status => {
            let s = raw.split_whitespace().next().unwrap_or("");
            if s.is_empty() {
                return Err("Status is empty".to_string());
            }
            rec.status = s.to_string();
        }
        Field::ErrorType => {
            if !raw.is_empty() {
                rec.error_type = Some(raw.to_string());
            }
        }
        Field::Phase => {
            if !raw.is_empty() {
                rec.phase = Some(raw.split_whitespace().next().unwrap_or(raw).to_string());
            }
        }
    }
    Ok(())
}

fn validate(rec: &PlatformRecord) -> Result<(), String> {
    match rec.kind {
        RecordKind::Report => {
            if rec.request_id.is_none() {
                return Err("REPORT without RequestId".to_string());
            }
            if rec.duration_ms.is_none() {
                return Err("REPORT without Duration".to_string());
            }
        }
        RecordKind::InitReport => {
            if rec.init_duration_ms.is_none() {
                return Err("INIT_REPORT without Init Duration".to_string());
            }
        }
        RecordKind::RestoreReport => {
            if rec.restore_duration_ms.is_none() {
                return Err("RESTORE_REPORT without Restore Duration".to_string());
            }
        }
    }
    Ok(())
}

/// Parses an already-decoded JSON value: a `platform.*` record, or a
/// CloudWatch event (`{"message": ...}`) whose message holds one.
pub fn parse_json_value(value: &Value) -> LineOutcome {
    let Some(obj) = value.as_object() else {
        return LineOutcome::NotReport;
    };
    if let Some(ty) = obj.get("type").and_then(Value::as_str) {
        let kind = match ty {
            "platform.report" => RecordKind::Report,
            "platform.initReport" => RecordKind::InitReport,
            "platform.restoreReport" => RecordKind::RestoreReport,
            _ => return LineOutcome::NotReport,
        };
        return match obj.get("record").and_then(Value::as_object) {
            Some(record) => json_record(kind, record),
            None => LineOutcome::Malformed(format!("{ty} without a record object")),
        };
    }
    if let Some(msg) = obj.get("message").and_then(Value::as_str) {
        return parse_message(msg);
    }
    LineOutcome::NotReport
}

fn json_number(v: Option<&Value>, name: &str) -> Result<Option<f64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
            _ => Err(format!("{name} is not a non-negative number")),
        },
        // Some producers quote numbers; accept them rather than lose a sample.
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(Some)
            .ok_or_else(|| format!("{name} is not a number: {s:?}")),
        Some(_) => Err(format!("{name} is not a number")),
    }
}

fn json_record(kind: RecordKind, record: &serde_json::Map<String, Value>) -> LineOutcome {
    let mut rec = PlatformRecord::empty(kind);
    rec.request_id = record
        .get("requestId")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(s) = record.get("status").and_then(Value::as_str) {
        rec.status = s.to_string();
    }
    rec.error_type = record
        .get("errorType")
        .and_then(Value::as_str)
        .map(str::to_string);
    rec.phase = record
        .get("phase")
        .and_then(Value::as_str)
        .map(str::to_string);
    let empty = serde_json::Map::new();
    let metrics = record
        .get("metrics")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let parsed = (|| -> Result<(), String> {
        match kind {
            RecordKind::Report => {
                rec.duration_ms = json_number(metrics.get("durationMs"), "durationMs")?;
                rec.billed_duration_ms =
                    json_number(metrics.get("billedDurationMs"), "billedDurationMs")?.map(whole);
                rec.memory_size_mb =
                    json_number(metrics.get("memorySizeMB"), "memorySizeMB")?.map(whole);
                rec.max_memory_used_mb =
                    json_number(metrics.get("maxMemoryUsedMB"), "maxMemoryUsedMB")?.map(whole);
                rec.init_duration_ms =
                    json_number(metrics.get("initDurationMs"), "initDurationMs")?;
                rec.restore_duration_ms =
                    json_number(metrics.get("restoreDurationMs"), "restoreDurationMs")?;
                rec.billed_restore_duration_ms = json_number(
                    metrics.get("billedRestoreDurationMs"),
                    "billedRestoreDurationMs",
                )?
                .map(whole);
            }
            RecordKind::InitReport => {
                rec.init_duration_ms = json_number(metrics.get("durationMs"), "durationMs")?;
            }
            RecordKind::RestoreReport => {
                rec.restore_duration_ms = json_number(metrics.get("durationMs"), "durationMs")?;
            }
        }
        Ok(())
    })();
    if let Err(reason) = parsed {
        return LineOutcome::Malformed(reason);
    }
    match validate(&rec) {
        Ok(()) => LineOutcome::Record(rec),
        Err(reason) => {
            LineOutcome::Malformed(reason.replace("REPORT without", "platform.report without"))
        }
    }
}

/// Reads any of the inputs `parse-logs` accepts: raw log lines (with or
/// without export timestamps), JSON Lines of CloudWatch events or
/// `platform.*` records, an `aws logs filter-log-events` / `get-log-events`
/// JSON document, or a JSON array of events.
pub fn parse_any(input: &str) -> ParsedLog {
    let start = input.trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        // A sequence of JSON documents (one document, JSON Lines, or
        // pretty-printed objects back to back).
        let mut values = Vec::new();
        let mut ok = true;
        for v in serde_json::Deserializer::from_str(input).into_iter::<Value>() {
            match v {
                Ok(v) => values.push(v),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            let mut parsed = ParsedLog::default();
            let mut n = 0;
            for v in &values {
                walk_json(&mut parsed, &mut n, v);
            }
            return parsed;
        }
    }
    parse_text(input)
}

fn walk_json(parsed: &mut ParsedLog, n: &mut usize, v: &Value) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk_json(parsed, n, i)),
        Value::Object(obj) if obj.get("events").map(Value::is_array).unwrap_or(false) => {
            walk_json(parsed, n, &obj["events"]);
        }
        _ => {
            *n += 1;
            let outcome = parse_json_value(v);
            let text = match v.get("message").and_then(Value::as_str) {
                Some(m) => m.to_string(),
                None => v.to_string(),
            };
            push_outcome(parsed, *n, &text, outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> PlatformRecord {
        match parse_line(line) {
            LineOutcome::Record(r) => r,
            other => panic!("expected a record from {line:?}, got {other:?}"),
        }
    }

    #[test]
    fn canonical_cold_report_with_trailing_tab() {
        let r = rec("REPORT RequestId: 8f5a\tDuration: 3.01 ms\tBilled Duration: 114 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n");
        assert_eq!(r.kind, RecordKind::Report);
        assert_eq!(r.request_id.as_deref(), Some("8f5a"));
        assert_eq!(r.duration_ms, Some(3.01));
        assert_eq!(r.billed_duration_ms, Some(114));
        assert_eq!(r.memory_size_mb, Some(128));
        assert_eq!(r.max_memory_used_mb, Some(36));
        assert_eq!(r.init_duration_ms, Some(110.10));
        assert_eq!(r.status, "success");
        assert!(r.is_cold());
    }

    #[test]
    fn warm_report_without_trailing_tab_and_with_spaces() {
        let a = rec("REPORT RequestId: abc\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 256 MB\tMax Memory Used: 40 MB");
        let b = rec("REPORT RequestId: abc  Duration: 1.50 ms  Billed Duration: 2 ms Memory Size: 256 MB Max Memory Used: 40 MB ");
        let c = rec("REPORT RequestId: abc \tDuration: 1.50 ms \tBilled Duration: 2 ms \tMemory Size: 256 MB \tMax Memory Used: 40 MB \t");
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert!(!a.is_cold());
        assert_eq!(a.init_duration_ms, None);
    }

    /// Every record Lambda writes, with each tab turned into one space (as
    /// text copied from a console or an export has it).
    #[test]
    fn single_spaces_instead_of_tabs() {
        let cold = rec("REPORT RequestId: 8f5a Duration: 3.01 ms Billed Duration: 114 ms Memory Size: 128 MB Max Memory Used: 36 MB Init Duration: 110.10 ms ");
        assert_eq!(cold.request_id.as_deref(), Some("8f5a"));
        assert_eq!(cold.duration_ms, Some(3.01));
        assert_eq!(cold.billed_duration_ms, Some(114));
        assert_eq!(cold.max_memory_used_mb, Some(36));
        assert_eq!(cold.init_duration_ms, Some(110.10));
        let warm = rec("REPORT RequestId: abc Duration: 1.50 ms Billed Duration: 2 ms Memory Size: 256 MB Max Memory Used: 40 MB");
        assert_eq!(warm.memory_size_mb, Some(256));
        assert_eq!(warm.init_duration_ms, None);
        let status = rec("REPORT RequestId: e Duration: 50.00 ms Billed Duration: 50 ms Memory Size: 128 MB Max Memory Used: 128 MB Status: error Error Type: Runtime.OutOfMemory");
        assert_eq!(status.status, "error");
        assert_eq!(status.error_type.as_deref(), Some("Runtime.OutOfMemory"));
        let snap = rec("REPORT RequestId: s Duration: 10.00 ms Billed Duration: 200 ms Memory Size: 512 MB Max Memory Used: 90 MB Restore Duration: 150.25 ms Billed Restore Duration: 190 ms");
        assert_eq!(snap.restore_duration_ms, Some(150.25));
        assert_eq!(snap.billed_restore_duration_ms, Some(190));
        let init = rec("INIT_REPORT Init Duration: 10006.58 ms Phase: init Status: timeout");
        assert_eq!(init.init_duration_ms, Some(10006.58));
        assert_eq!(init.phase.as_deref(), Some("init"));
        assert_eq!(init.status, "timeout");
        let restore = rec(
            "RESTORE_REPORT Restore Duration: 420.00 ms Status: error Error Type: Runtime.Unknown",
        );
        assert_eq!(restore.restore_duration_ms, Some(420.0));
        assert_eq!(restore.error_type.as_deref(), Some("Runtime.Unknown"));
    }

    /// With X-Ray tracing the console shows the trace fields after the last
    /// field, with tabs, with spaces, or with both.
    #[test]
    fn xray_fields_after_init_duration() {
        for line in [
            "REPORT RequestId: xr Duration: 2.00 ms Billed Duration: 3 ms Memory Size: 128 MB Max Memory Used: 30 MB Init Duration: 5.10 ms XRAY TraceId: 1-5f-abc SegmentId: 12ab Sampled: true",
            "REPORT RequestId: xr\tDuration: 2.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB\tInit Duration: 5.10 ms\tXRAY TraceId: 1-5f-abc\tSegmentId: 12ab\tSampled: true\t",
            "REPORT RequestId: xr\tDuration: 2.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB\tInit Duration: 5.10 ms XRAY TraceId: 1-5f-abc SegmentId: 12ab Sampled: true",
            "2024-12-28T19:04:46.553Z REPORT RequestId: xr Duration: 2.00 ms Billed Duration: 3 ms Memory Size: 128 MB Max Memory Used: 30 MB Init Duration: 5.10 ms XRAY TraceId: 1-5f-abc SegmentId: 12ab Sampled: false ",
        ] {
            let r = rec(line);
            assert_eq!(r.request_id.as_deref(), Some("xr"), "{line}");
            assert_eq!(r.init_duration_ms, Some(5.10), "{line}");
            assert_eq!(r.max_memory_used_mb, Some(30), "{line}");
            assert!(r.is_cold(), "{line}");
        }
        let warm = rec("REPORT RequestId: w Duration: 2.00 ms Billed Duration: 3 ms Memory Size: 128 MB Max Memory Used: 30 MB XRAY TraceId: 1-5f-abc SegmentId: 12ab Sampled: true");
        assert_eq!(warm.max_memory_used_mb, Some(30));
        assert!(!warm.is_cold());
    }

    #[test]
    fn field_order_does_not_matter() {
        // The runtime interface emulator prints Init Duration before Duration.
        let r = rec("REPORT RequestId: x Init Duration: 0.40 ms Duration: 120.00 ms Billed Duration: 121 ms Memory Size: 3008 MB Max Memory Used: 3008 MB");
        assert_eq!(r.init_duration_ms, Some(0.40));
        assert_eq!(r.duration_ms, Some(120.0));
        assert_eq!(r.billed_duration_ms, Some(121));
        let s = rec("REPORT Max Memory Used: 9 MB\tRequestId: y\tBilled Duration: 100 ms\tDuration: 0.91 ms\tMemory Size: 128 MB");
        assert_eq!(s.request_id.as_deref(), Some("y"));
        assert_eq!(s.max_memory_used_mb, Some(9));
        assert_eq!(s.billed_duration_ms, Some(100));
    }

    #[test]
    fn snapstart_restore_fields() {
        let r = rec("REPORT RequestId: s\tDuration: 10.00 ms\tBilled Duration: 200 ms\tMemory Size: 512 MB\tMax Memory Used: 90 MB\tRestore Duration: 150.25 ms\tBilled Restore Duration: 190 ms\t");
        assert_eq!(r.restore_duration_ms, Some(150.25));
        assert_eq!(r.billed_restore_duration_ms, Some(190));
        assert_eq!(r.init_duration_ms, None);
    }

    #[test]
    fn status_and_error_type() {
        let t = rec("REPORT RequestId: t\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tStatus: timeout");
        assert_eq!(t.status, "timeout");
        assert_eq!(t.error_type, None);
        let e = rec("REPORT RequestId: e\tDuration: 50.00 ms\tBilled Duration: 50 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory\t");
        assert_eq!(e.status, "error");
        assert_eq!(e.error_type.as_deref(), Some("Runtime.OutOfMemory"));
    }

    #[test]
    fn init_and_restore_report_lines() {
        let i = rec("INIT_REPORT Init Duration: 10006.58 ms\tPhase: init\tStatus: timeout");
        assert_eq!(i.kind, RecordKind::InitReport);
        assert_eq!(i.init_duration_ms, Some(10006.58));
        assert_eq!(i.phase.as_deref(), Some("init"));
        assert_eq!(i.status, "timeout");
        let e = rec("INIT_REPORT Init Duration: 3.20 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ExitError");
        assert_eq!(e.phase.as_deref(), Some("invoke"));
        assert_eq!(e.error_type.as_deref(), Some("Runtime.ExitError"));
        let r = rec("RESTORE_REPORT Restore Duration: 420.00 ms\tStatus: error\tError Type: Runtime.Unknown");
        assert_eq!(r.kind, RecordKind::RestoreReport);
        assert_eq!(r.restore_duration_ms, Some(420.0));
        assert!(!r.is_cold());
    }

    #[test]
    fn xray_line_in_the_same_event() {
        let msg = "REPORT RequestId: xr\tDuration: 2.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB\t\nXRAY TraceId: 1-5f-abc\tSegmentId: 12ab\tSampled: true\n";
        match parse_message(msg) {
            LineOutcome::Record(r) => {
                assert_eq!(r.request_id.as_deref(), Some("xr"));
                assert_eq!(r.max_memory_used_mb, Some(30));
            }
            other => panic!("{other:?}"),
        }
        let parsed = parse_text(msg);
        assert_eq!(parsed.records.len(), 1);
        assert!(parsed.malformed.is_empty());
    }

    #[test]
    fn export_prefixes_and_junk_around() {
        let text = "garbage\n2024-12-28T19:04:46.553Z REPORT RequestId: p\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 10 MB\n\
                    START RequestId: p Version: $LATEST\nEND RequestId: p\nINIT_START Runtime Version: provided:al2023.v97\tRuntime Version ARN: arn\n\
                    my app says REPORTING is fun and REPORT is a word\n\u{0}\u{7f}binary\n";
        let parsed = parse_text(text);
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].request_id.as_deref(), Some("p"));
        assert!(parsed.malformed.is_empty(), "{:?}", parsed.malformed);
    }

    #[test]
    fn console_csv_export() {
        let csv = "timestamp,message\n1732640000000,\"REPORT RequestId: c\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB\t\"\n";
        let parsed = parse_any(csv);
        assert!(parsed.malformed.is_empty(), "{:?}", parsed.malformed);
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].max_memory_used_mb, Some(30));
    }

    #[test]
    fn old_100ms_billing() {
        let r = rec("REPORT RequestId: o Duration: 0.91 ms Billed Duration: 100 ms Memory Size: 128 MB Max Memory Used: 9 MB");
        assert_eq!(r.billed_duration_ms, Some(100));
    }

    #[test]
    fn malformed_lines_are_reported_not_fatal() {
        for line in [
            "REPORT RequestId: m\tDuration: fast ms\tBilled Duration: 1 ms",
            "REPORT RequestId: m\tBilled Duration: 1 ms",
            "REPORT RequestId:\tDuration: 1.00 ms",
            "INIT_REPORT Phase: init",
            "INIT_REPORT",
            "REPORT RequestId: m\tDuration: -5 ms",
            "REPORT RequestId: m\tDuration: NaN ms",
            r#"{"type":"platform.report","record":{"requestId":"j"}}"#,
            r#"{"type":"platform.report"}"#,
            r#"{"type":"platform.report","record":{"requestId":"j","metrics":{"durationMs":"x"}}}"#,
        ] {
            assert!(
                matches!(parse_line(line), LineOutcome::Malformed(_)),
                "{line}"
            );
        }
        let parsed = parse_text(
            "ok\nREPORT RequestId: m\tDuration: fast ms\nREPORT RequestId: n\tDuration: 1.00 ms\n",
        );
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.malformed.len(), 1);
        assert_eq!(parsed.malformed[0].line_no, 2);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut rng = fastrand::Rng::with_seed(7);
        let alphabet: Vec<char> =
            "REPORT RequestId: Duration: Billed Memory Size MB ms \t\n{}\":.0123456789é😀INIT_"
                .chars()
                .collect();
        for _ in 0..5000 {
            let len = rng.usize(0..120);
            let s: String = (0..len)
                .map(|_| alphabet[rng.usize(0..alphabet.len())])
                .collect();
            let _ = parse_line(&s);
            let _ = parse_any(&s);
        }
    }

    #[test]
    fn json_platform_report_cold_warm_and_floats() {
        let cold = rec(
            r#"{"time":"2024-12-28T19:04:46.553Z","type":"platform.report","record":{"requestId":"c1","metrics":{"durationMs":12.68,"billedDurationMs":309,"memorySizeMB":128,"maxMemoryUsedMB":36,"initDurationMs":295.33},"status":"success"}}"#,
        );
        assert_eq!(cold.init_duration_ms, Some(295.33));
        assert_eq!(cold.billed_duration_ms, Some(309));
        assert!(cold.is_cold());
        let warm = rec(
            r#"{"time":"t","type":"platform.report","record":{"requestId":"w1","metrics":{"durationMs":1.5,"billedDurationMs":2.0,"memorySizeMB":128.0,"maxMemoryUsedMB":36.0},"status":"error","errorType":"Runtime.Unknown","tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1"}}}"#,
        );
        assert!(!warm.is_cold());
        assert_eq!(warm.billed_duration_ms, Some(2));
        assert_eq!(warm.memory_size_mb, Some(128));
        assert_eq!(warm.status, "error");
        assert_eq!(warm.error_type.as_deref(), Some("Runtime.Unknown"));
        // Lambda Managed Instances report only durationMs.
        let lmi = rec(
            r#"{"type":"platform.report","record":{"requestId":"m","metrics":{"durationMs":4}}}"#,
        );
        assert_eq!(lmi.duration_ms, Some(4.0));
        assert_eq!(lmi.memory_size_mb, None);
        let init = rec(
            r#"{"type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"timeout","metrics":{"durationMs":3000.0}}}"#,
        );
        assert_eq!(init.kind, RecordKind::InitReport);
        assert_eq!(init.init_duration_ms, Some(3000.0));
        assert_eq!(init.status, "timeout");
    }

    #[test]
    fn json_other_records_are_not_reports() {
        assert_eq!(
            parse_line(r#"{"type":"platform.start","record":{"requestId":"a"}}"#),
            LineOutcome::NotReport
        );
        assert_eq!(
            parse_line(r#"{"timestamp":"t","level":"INFO","requestId":"a","message":"REPORTING"}"#),
            LineOutcome::NotReport
        );
        assert_eq!(parse_line("[1,2,3]"), LineOutcome::NotReport);
        assert_eq!(parse_line("{not json"), LineOutcome::NotReport);
    }

    #[test]
    fn filter_log_events_document_and_jsonl() {
        let doc = r#"{"events":[
            {"logStreamName":"2024/12/28/[$LATEST]ab","timestamp":1,"message":"START RequestId: a Version: $LATEST\n","ingestionTime":2,"eventId":"1"},
            {"logStreamName":"s","timestamp":3,"message":"REPORT RequestId: a\tDuration: 2.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB\t\n","ingestionTime":4,"eventId":"2"},
            {"logStreamName":"s","timestamp":5,"message":"{\"time\":\"t\",\"type\":\"platform.report\",\"record\":{\"requestId\":\"b\",\"metrics\":{\"durationMs\":1.0,\"billedDurationMs\":1,\"memorySizeMB\":128,\"maxMemoryUsedMB\":20}}}","ingestionTime":6,"eventId":"3"}
        ],"searchedLogStreams":[]}"#;
        let parsed = parse_any(doc);
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.records[1].request_id.as_deref(), Some("b"));
        // Pretty-printed platform records back to back (a power-tuning failure mode).
        let pretty = "{\n \"type\": \"platform.report\",\n \"record\": {\"requestId\": \"p\", \"metrics\": {\"durationMs\": 1}}\n}\n{\"type\":\"platform.start\",\"record\":{}}\n";
        let parsed = parse_any(pretty);
        assert_eq!(parsed.records.len(), 1);
        // Mixed text and JSON falls back to line by line.
        let mixed = "{\"type\":\"platform.report\",\"record\":{\"requestId\":\"q\",\"metrics\":{\"durationMs\":1}}}\nREPORT RequestId: r Duration: 1 ms\n";
        let parsed = parse_any(mixed);
        assert_eq!(parsed.records.len(), 2);
    }
}
