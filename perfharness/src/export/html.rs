//! `report.html` of `full`, `cold` and `warm`: the headline, targets and
//! statistics tables, then histograms and CDFs of init, duration and memory,
//! cold against warm, in the shared page frame ([`super::page`]) with the
//! shared charts ([`super::chart`]).

use super::chart::{cdf, histogram, Series};
use super::page::{charts, document, esc, table};
use super::terminal::{headline_values, verdict_word};
use super::{fmt_num, fmt_opt, metric_rows, RunReport};
use crate::analysis::stats::STAT_NAMES;
use crate::sample::Phase;

const COLD: &str = "#d9534f";
const WARM: &str = "#337ab7";

fn chart_pair(r: &RunReport, title: &str, unit: &str, cold: &str, warm: Option<&str>) -> String {
    let c = headline_values(r, cold);
    let w = warm.map(|m| headline_values(r, m)).unwrap_or_default();
    if c.is_empty() && w.is_empty() {
        return String::new();
    }
    let mut series = vec![Series {
        label: "cold",
        values: &c,
        colour: COLD,
    }];
    if warm.is_some() {
        series.push(Series {
            label: "warm",
            values: &w,
            colour: WARM,
        });
    }
    format!(
        "<h3>{}</h3>{}",
        esc(title),
        charts(&[
            histogram(&format!("{title}: histogram"), unit, &series, 20),
            cdf(&format!("{title}: CDF"), unit, &series),
        ])
    )
}

/// Renders the whole report as one HTML document.
pub fn render(r: &RunReport) -> String {
    let f = &r.function;
    let mut o = String::with_capacity(64 * 1024);
    let meta = format!(
        "{} MB, {}, {}, log format {}, {}{} — started {} — {}",
        f.memory_mb,
        f.architecture,
        f.runtime.as_deref().unwrap_or("no runtime"),
        f.log_format,
        r.context.region,
        r.context
            .local_cpus()
            .map(|cpus| format!(" (local emulator + mock-vanta; {cpus})"))
            .unwrap_or_default(),
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        r.outcome.status
    );
    let head: Vec<(String, String)> = super::headline(r)
        .into_iter()
        .map(|(l, v)| (l.to_string(), v))
        .collect();
    if let Some(rs) = &r.restore {
        o.push_str(&format!(
            "<p class=\"{}\">{}</p>",
            if rs.verified { "note" } else { "warn" },
            esc(&rs.message)
        ));
    }
    if let Some(e) = &r.outcome.error {
        o.push_str(&format!("<p class=\"warn\">{}</p>", esc(e)));
    }
    if !r.targets.is_empty() {
        let rows: Vec<Vec<String>> = r
            .targets
            .iter()
            .map(|t| {
                vec![
                    t.key.clone(),
                    t.condition.clone(),
                    t.value
                        .map(fmt_num)
                        .unwrap_or_else(|| format!("n/a ({})", t.note.as_deref().unwrap_or(""))),
                    verdict_word(t.verdict).to_string(),
                ]
            })
            .collect();
        o.push_str(&format!(
            "<h2>Targets</h2><p class=\"note\">{}</p>{}",
            esc(r.targets_file.as_deref().unwrap_or("")),
            table(&["target", "condition", "measured", "result"], &rows)
        ));
    }
    let mut header = vec!["metric"];
    header.extend(STAT_NAMES.iter().copied());
    let rows: Vec<Vec<String>> = metric_rows(r)
        .into_iter()
        .map(|(k, _, s)| {
            let mut row = vec![k.to_string()];
            row.extend(STAT_NAMES.iter().map(|st| fmt_opt(s.get(st))));
            row
        })
        .collect();
    let scalars: Vec<Vec<String>> = crate::analysis::metrics::SCALARS
        .iter()
        .filter_map(|(k, d)| {
            let v = r.metrics.scalars.get(*k)?;
            Some(vec![k.to_string(), fmt_num(*v), d.to_string()])
        })
        .collect();
    o.push_str(&format!(
        "<h2>Statistics</h2>{}<p class=\"note\">{}</p>{}<h2>Distributions: cold against warm</h2>",
        table(&header, &rows),
        esc(super::NA_RULE),
        table(&["figure", "value", "meaning"], &scalars)
    ));
    let pairs: [(&str, &str, &str, Option<&str>); 5] = [
        ("Init duration", "ms", "cold.init_ms", None),
        (
            "Duration",
            "ms",
            "cold.duration_ms",
            Some("warm.duration_ms"),
        ),
        (
            "Cold total (init + duration) against warm duration",
            "ms",
            "cold.total_ms",
            Some("warm.duration_ms"),
        ),
        (
            "Client round trip",
            "ms",
            "cold.client_ms",
            Some("warm.client_ms"),
        ),
        (
            "Max memory used",
            "MB",
            "cold.max_memory_used_mb",
            Some("warm.max_memory_used_mb"),
        ),
    ];
    for (title, unit, cold, warm) in pairs {
        o.push_str(&chart_pair(r, title, unit, cold, warm));
    }
    if !r.logs.missing.is_empty() {
        o.push_str(&format!(
            "<p class=\"warn\">{} sample(s) without a REPORT line: {}</p>",
            r.logs.missing.len(),
            esc(&r.logs.missing.join(", "))
        ));
    }
    let samples: Vec<Vec<String>> = r
        .samples
        .iter()
        .map(|s| {
            vec![
                s.phase.as_str().to_string(),
                s.index.to_string(),
                s.request_id.clone().unwrap_or_default(),
                if s.cold { "yes" } else { "" }.to_string(),
                fmt_opt(s.init_ms),
                fmt_opt(s.duration_ms),
                fmt_opt(s.billed_ms.map(|b| b as f64)),
                fmt_opt(s.max_memory_used_mb.map(|b| b as f64)),
                fmt_num(s.client_ms),
                s.status.clone(),
                s.error_type.clone().unwrap_or_default(),
                match s.report_source {
                    Some(crate::sample::ReportSource::Tail) => "tail",
                    Some(crate::sample::ReportSource::Logs) => "logs",
                    None if s.phase == Phase::Warmup || s.is_rejected() => "",
                    None => "missing",
                }
                .to_string(),
            ]
        })
        .collect();
    o.push_str(&format!(
        "<h2>Samples</h2><details><summary>every sample</summary>{}</details>",
        table(
            &[
                "phase",
                "#",
                "request id",
                "cold",
                "init ms",
                "duration ms",
                "billed ms",
                "max MB",
                "client ms",
                "status",
                "error",
                "source",
            ],
            &samples
        )
    ));
    document(
        &format!("perfharness {}: {}", r.command, f.name),
        &meta,
        &head,
        &o,
    )
}
