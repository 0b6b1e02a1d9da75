//! REPORT lines from CloudWatch Logs: FilterLogEvents over the run's time
//! window, polled until every sample's REPORT is found or a bound passes
//! (delivery is eventually consistent; no fixed waits).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::aws::session::Session;
use crate::error::HarnessError;
use crate::platform::{self, LineOutcome, MalformedLine, PlatformRecord, RecordKind};
use crate::sample::{ReportSource, Sample};

/// What a Logs pass found.
#[derive(Debug, Clone, Default)]
pub struct LogsOutcome {
    /// Samples whose REPORT was found in Logs.
    pub found: usize,
    /// Samples still without a REPORT when the bound passed.
    pub missing: usize,
    /// Samples whose tail REPORT and Logs REPORT disagree.
    pub discrepancies: usize,
    /// Platform lines in Logs that could not be parsed.
    pub malformed: Vec<MalformedLine>,
    /// Polls made.
    pub polls: u32,
}

fn logs_err<E, R>(
    op: &'static str,
    e: aws_sdk_cloudwatchlogs::error::SdkError<E, R>,
) -> HarnessError
where
    E: aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    crate::error::from_sdk(op, e)
}

/// Reads every platform record of `log_group` from `since_ms` on.
pub async fn read_reports(
    session: &Session,
    log_group: &str,
    since_ms: i64,
) -> Result<(Vec<PlatformRecord>, Vec<MalformedLine>), HarnessError> {
    let mut records = Vec::new();
    let mut malformed = Vec::new();
    let mut token: Option<String> = None;
    let mut n = 0usize;
    loop {
        let res = session
            .logs
            .filter_log_events()
            .log_group_name(log_group)
            .start_time(since_ms)
            // Text REPORT, INIT_REPORT, RESTORE_REPORT and JSON platform.*
            // reports all contain one of these terms.
            .filter_pattern("?REPORT ?Report ?report")
            .set_next_token(token.clone())
            .send()
            .await;
        let out = match res {
            Ok(o) => o,
            Err(e) => {
                let err = logs_err("FilterLogEvents", e);
                if err.aws_code() == Some("ResourceNotFoundException") {
                    // The log group appears with the first log line.
                    return Ok((records, malformed));
                }
                return Err(err);
            }
        };
        for ev in out.events() {
            n += 1;
            let msg = ev.message().unwrap_or_default();
            match platform::parse_message(msg) {
                LineOutcome::Record(r) => records.push(r),
                LineOutcome::Malformed(reason) => malformed.push(MalformedLine {
                    line_no: n,
                    reason,
                    line: msg.chars().take(200).collect(),
                }),
                LineOutcome::NotReport => {}
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok((records, malformed))
}

/// Fills in REPORTs from CloudWatch Logs for `samples`, polling until each
/// sample with a request id has one or `bound` passes. With `cross_check`,
/// samples that already have a tail REPORT are compared with the Logs copy
/// (and count as found); otherwise only samples without a REPORT are
/// looked for.
pub async fn fill_from_logs(
    session: &Session,
    log_group: &str,
    samples: &mut [Sample],
    since_ms: i64,
    bound: Duration,
    cross_check: bool,
) -> Result<LogsOutcome, HarnessError> {
    let start = Instant::now();
    let mut outcome = LogsOutcome::default();
    let wanted = |s: &Sample, checked: &[bool], i: usize| {
        s.request_id.is_some()
            && !s.is_rejected()
            && !checked[i]
            && (cross_check || s.report_source.is_none())
    };
    let mut checked = vec![false; samples.len()];
    let mut interval = Duration::from_millis(100);
    // Log events can carry a timestamp slightly before the client's clock.
    let since = since_ms - 5_000;
    loop {
        if !samples
            .iter()
            .enumerate()
            .any(|(i, s)| wanted(s, &checked, i))
        {
            break;
        }
        outcome.polls += 1;
        let (records, malformed) = read_reports(session, log_group, since).await?;
        outcome.malformed = malformed;
        let by_id: HashMap<&str, &PlatformRecord> = records
            .iter()
            .filter(|r| r.kind == RecordKind::Report)
            .filter_map(|r| r.request_id.as_deref().map(|id| (id, r)))
            .collect();
        for (i, s) in samples.iter_mut().enumerate() {
            if !wanted(s, &checked, i) {
                continue;
            }
            let Some(rec) = s.request_id.as_deref().and_then(|id| by_id.get(id)) else {
                continue;
            };
            checked[i] = true;
            outcome.found += 1;
            if s.report_source.is_some() {
                let same = s.duration_ms == rec.duration_ms && s.init_ms == rec.init_duration_ms;
                if !same {
                    outcome.discrepancies += 1;
                    tracing::warn!(request_id = ?s.request_id, "tail and CloudWatch REPORT differ");
                }
            } else {
                s.apply_report(rec, ReportSource::Logs);
            }
        }
        if start.elapsed() >= bound {
            break;
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_secs(2));
    }
    outcome.missing = samples.iter().filter(|s| s.is_missing()).count();
    Ok(outcome)
}
