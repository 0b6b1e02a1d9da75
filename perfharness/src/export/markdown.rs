//! `report.md`: the tables a pull request or a job summary shows.

use super::terminal::verdict_word;
use super::{fmt_num, fmt_opt, metric_rows, RunReport};
use crate::analysis::stats::STAT_NAMES;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Renders the report as GitHub-flavoured Markdown.
pub fn render(r: &RunReport) -> String {
    let mut o = String::new();
    let f = &r.function;
    let verdict = if r.outcome.targets_met {
        "✅ all targets met"
    } else {
        "❌ targets missed"
    };
    o.push_str(&format!(
        "## perfharness {}: `{}` — {}\n\n",
        r.command,
        cell(&f.name),
        verdict
    ));
    o.push_str(&format!(
        "{} MB, {}, {}, log format {}, {}{} — {} — run {}\n\n",
        f.memory_mb,
        f.architecture,
        f.runtime.as_deref().unwrap_or("no runtime"),
        f.log_format,
        r.context.region,
        r.context
            .local_cpus()
            .map(|cpus| format!(" (local emulator; {cpus})"))
            .unwrap_or_default(),
        r.started_at.format("%Y-%m-%d %H:%M UTC"),
        r.outcome.status
    ));
    for (label, value) in super::headline(r) {
        o.push_str(&format!("- **{label}**: {}\n", cell(&value)));
    }
    o.push('\n');
    if !r.targets.is_empty() {
        o.push_str("| target | condition | measured | result |\n|---|---|---:|---|\n");
        for t in &r.targets {
            let measured = match (&t.value, &t.note) {
                (Some(v), _) => fmt_num(*v),
                (None, Some(n)) => format!("n/a ({n})"),
                (None, None) => "n/a".into(),
            };
            o.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                cell(&t.key),
                cell(&t.condition),
                cell(&measured),
                verdict_word(t.verdict)
            ));
        }
        o.push('\n');
    }
    let rows = metric_rows(r);
    if !rows.is_empty() {
        o.push_str("| metric |");
        for s in STAT_NAMES {
            o.push_str(&format!(" {s} |"));
        }
        o.push_str("\n|---|");
        for _ in STAT_NAMES {
            o.push_str("---:|");
        }
        o.push('\n');
        for (k, _, s) in rows {
            o.push_str(&format!("| `{k}` |"));
            for st in STAT_NAMES {
                o.push_str(&format!(" {} |", fmt_opt(s.get(st))));
            }
            o.push('\n');
        }
        o.push_str(&format!("\n{}\n\n", super::NA_RULE));
    }
    o.push_str("| figure | value |\n|---|---:|\n");
    for (k, _) in crate::analysis::metrics::SCALARS {
        if let Some(v) = r.metrics.scalars.get(*k) {
            o.push_str(&format!("| `{k}` | {} |\n", fmt_num(*v)));
        }
    }
    o.push('\n');
    if !r.logs.missing.is_empty() {
        o.push_str(&format!(
            "**{} sample(s) without a REPORT line.**\n\n",
            r.logs.missing.len()
        ));
    }
    if let Some(rs) = &r.restore {
        o.push_str(&format!(
            "{}{}\n",
            if rs.verified { "" } else { "**⚠** " },
            cell(&rs.message)
        ));
    }
    if let Some(e) = &r.outcome.error {
        o.push_str(&format!("\nRun {}: {}\n", r.outcome.status, cell(e)));
    }
    o
}
