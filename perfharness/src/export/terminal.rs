//! Terminal rendering: comfy-table tables, ASCII histograms, and colour
//! through `console`: only on a terminal and never with `NO_COLOR` (or
//! `CLICOLOR=0`, or `TERM=dumb`).

use comfy_table::{presets::UTF8_FULL_CONDENSED, CellAlignment, Table};

use super::{fmt_num, fmt_opt, metric_rows, RunReport, HEADLINES};
use crate::analysis::stats::{histogram_bins, STAT_NAMES};
use crate::analysis::targets::Verdict;
use crate::platform::PlatformRecord;
use crate::sample::Phase;

/// True when stdout is a colour terminal and `NO_COLOR` is not set.
pub fn colour_enabled_stdout() -> bool {
    console::colors_enabled()
}

/// True when stderr is a colour terminal and `NO_COLOR` is not set.
pub fn colour_enabled_stderr() -> bool {
    console::colors_enabled_stderr()
}

fn table(header: Vec<String>) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(header);
    t
}

fn right_align(t: &mut Table, from: usize) {
    let n = t.column_count();
    for i in from..n {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// The distribution metrics as a table (one row per metric, one column per
/// statistic).
pub fn metrics_table(r: &RunReport, group: &str) -> Option<String> {
    let rows: Vec<_> = metric_rows(r)
        .into_iter()
        .filter(|(k, _, _)| k.starts_with(group))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut header = vec!["metric".to_string()];
    header.extend(STAT_NAMES.iter().map(|s| s.to_string()));
    let mut t = table(header);
    for (k, _, s) in rows {
        let mut row = vec![k.to_string()];
        row.extend(STAT_NAMES.iter().map(|st| fmt_opt(s.get(st))));
        t.add_row(row);
    }
    right_align(&mut t, 1);
    Some(t.to_string())
}

/// The scalar metrics as a table.
pub fn scalars_table(r: &RunReport) -> String {
    let mut t = table(vec!["figure".into(), "value".into(), "meaning".into()]);
    for (k, d) in crate::analysis::metrics::SCALARS {
        if let Some(v) = r.metrics.scalars.get(*k) {
            t.add_row(vec![k.to_string(), fmt_num(*v), d.to_string()]);
        }
    }
    if let Some(c) = t.column_mut(1) {
        c.set_cell_alignment(CellAlignment::Right);
    }
    t.to_string()
}

/// The targets with PASS / FAIL / NO DATA.
pub fn targets_table(r: &RunReport) -> String {
    let mut t = table(vec![
        "target".into(),
        "condition".into(),
        "measured".into(),
        "result".into(),
    ]);
    for tr in &r.targets {
        let measured = match (&tr.value, &tr.note) {
            (Some(v), _) => fmt_num(*v),
            (None, Some(n)) => format!("n/a ({n})"),
            (None, None) => "n/a".into(),
        };
        t.add_row(vec![
            tr.key.clone(),
            tr.condition.clone(),
            measured,
            verdict_word(tr.verdict).to_string(),
        ]);
    }
    t.to_string()
}

/// The word shown for a verdict.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::NoData => "NO DATA",
    }
}

/// A horizontal ASCII histogram of `values`.
pub fn ascii_histogram(values: &[f64], bins: usize, width: usize) -> String {
    let b = histogram_bins(values, bins);
    let peak = b.iter().map(|x| x.2).max().unwrap_or(0).max(1);
    let labels: Vec<String> = b
        .iter()
        .map(|(lo, hi, _)| format!("{} – {}", fmt_num(*lo), fmt_num(*hi)))
        .collect();
    let lw = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for ((_, _, count), label) in b.iter().zip(labels) {
        let bar = (*count * width).div_ceil(peak);
        let pad = lw - label.chars().count();
        out.push_str(&format!(
            "  {}{label} │{} {count}\n",
            " ".repeat(pad),
            "█".repeat(bar)
        ));
    }
    out
}

/// Parsed platform records as a table (for `parse-logs --format table`).
pub fn records_table(records: &[PlatformRecord]) -> String {
    let mut t = table(
        [
            "kind",
            "request_id",
            "duration",
            "billed",
            "mem",
            "max used",
            "init",
            "restore",
            "status",
            "error_type",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    for r in records {
        t.add_row(vec![
            format!("{:?}", r.kind).to_lowercase(),
            r.request_id.clone().unwrap_or_default(),
            fmt_opt(r.duration_ms),
            fmt_opt(r.billed_duration_ms.map(|v| v as f64)),
            fmt_opt(r.memory_size_mb.map(|v| v as f64)),
            fmt_opt(r.max_memory_used_mb.map(|v| v as f64)),
            fmt_opt(r.init_duration_ms),
            fmt_opt(r.restore_duration_ms),
            r.status.clone(),
            r.error_type.clone().unwrap_or_default(),
        ]);
    }
    t.to_string()
}

/// `word` in the colour of its verdict (PASS green, FAIL bold red, NO DATA
/// yellow), or plain when `colour` is false.
pub fn paint_verdict(word: &str, colour: bool) -> String {
    let s = console::style(word).force_styling(colour);
    match word {
        "PASS" => s.green(),
        "FAIL" => s.red().bold(),
        _ => s.yellow(),
    }
    .to_string()
}

fn paint(text: &str, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    // Colouring after layout keeps comfy-table's width computation right.
    ["PASS", "FAIL", "NO DATA"]
        .iter()
        .fold(text.to_string(), |t, w| {
            t.replace(&format!(" {w} "), &format!(" {} ", paint_verdict(w, true)))
        })
}

fn values_of(r: &RunReport, metric: &str) -> Vec<f64> {
    let (group, field) = metric.split_once('.').unwrap_or((metric, ""));
    let phase = match group {
        "cold" => Phase::Cold,
        "concurrent" => Phase::Concurrent,
        _ => Phase::Warm,
    };
    r.samples_of(phase)
        .filter(|s| {
            if phase == Phase::Cold {
                s.cold
            } else {
                !s.cold
            }
        })
        .filter_map(|s| match field {
            "init_ms" => s.init_ms,
            "total_ms" => s.cold_total_ms,
            "duration_ms" => s.duration_ms,
            "client_ms" => (!s.is_rejected()).then_some(s.client_ms),
            "max_memory_used_mb" => s.max_memory_used_mb.map(|v| v as f64),
            _ => None,
        })
        .collect()
}

/// Values of a headline metric, for the charts of every renderer.
pub(crate) fn headline_values(r: &RunReport, metric: &str) -> Vec<f64> {
    values_of(r, metric)
}

/// The whole report for a terminal.
pub fn render(r: &RunReport, colour: bool) -> String {
    let mut out = String::new();
    let f = &r.function;
    out.push_str(&format!(
        "perfharness {} — {} ({} MB, {}, {}, log format {}) in {}{}\n",
        r.command,
        f.name,
        f.memory_mb,
        f.architecture,
        f.runtime.as_deref().unwrap_or("no runtime"),
        f.log_format,
        r.context.region,
        r.context
            .local_cpus()
            .map(|cpus| format!(" — local emulator + mock-vanta; {cpus}"))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "started {} — finished {} — {}\n\n",
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        r.finished_at.format("%H:%M:%S UTC"),
        r.outcome.status
    ));
    for (label, value) in super::headline(r) {
        out.push_str(&format!("{label}: {value}\n"));
    }
    out.push('\n');
    for (group, title) in [
        ("cold.", "Cold starts (verified)"),
        ("warm.", "Warm, sequential"),
        ("concurrent.", "Warm, parallel"),
        ("memory.", "Memory"),
    ] {
        if let Some(t) = metrics_table(r, group) {
            out.push_str(&format!("{title}\n{t}\n\n"));
        }
    }
    out.push_str(&format!(
        "{}\n\nRun figures\n{}\n\n",
        super::NA_RULE,
        scalars_table(r)
    ));
    for m in HEADLINES {
        let v = values_of(r, m);
        if v.len() >= 2 {
            out.push_str(&format!(
                "{m} (n = {})\n{}\n",
                v.len(),
                ascii_histogram(&v, 10, 40)
            ));
        }
    }
    let warm_cold = r
        .samples
        .iter()
        .filter(|s| matches!(s.phase, Phase::Warm | Phase::Concurrent) && s.cold)
        .count();
    if warm_cold > 0 {
        out.push_str(&format!(
            "note: {warm_cold} warm sample(s) came back cold; they are counted in cold_start.rate and kept out of the warm figures\n"
        ));
    }
    if !r.logs.missing.is_empty() {
        out.push_str(&format!(
            "warning: {} sample(s) have no REPORT line (not found in the tail nor in CloudWatch Logs): {}\n",
            r.logs.missing.len(),
            r.logs.missing.join(", ")
        ));
    }
    if !r.logs.malformed.is_empty() {
        out.push_str(&format!(
            "warning: {} platform line(s) could not be parsed:\n",
            r.logs.malformed.len()
        ));
        for m in r.logs.malformed.iter().take(5) {
            out.push_str(&format!("  {}: {}\n", m.reason, m.line));
        }
    }
    if let Some(e) = &r.logs.error {
        out.push_str(&format!(
            "warning: CloudWatch Logs could not be read: {e}\n"
        ));
    }
    if r.logs.discrepancies > 0 {
        out.push_str(&format!(
            "warning: {} sample(s) differ between the Invoke tail and CloudWatch Logs\n",
            r.logs.discrepancies
        ));
    }
    if !r.targets.is_empty() {
        out.push_str(&format!(
            "\nTargets ({})\n{}\n",
            r.targets_file.as_deref().unwrap_or("-"),
            paint(&targets_table(r), colour)
        ));
    }
    match &r.restore {
        Some(rs) => out.push_str(&format!("\n{}\n", rs.message)),
        None => out.push_str("\nconfiguration was not changed\n"),
    }
    if let Some(e) = &r.outcome.error {
        out.push_str(&format!("run {}: {e}\n", r.outcome.status));
    }
    out
}
