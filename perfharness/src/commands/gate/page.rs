//! The gate's `report.html`, in the page frame and with the charts every
//! report shares: the verdict and each tier's change first, the one table
//! of both tiers, then the wall tier's init distributions (function and
//! reference overlaid) and its rounds.

use super::compare::{fmt_change, Comparison};
use super::GateReport;
use crate::export::chart::{cdf, histogram, Axis, Line, LineChart, Series};
use crate::export::page::{charts, document, esc, table};

const FUNCTION: &str = "#d55e00";
const REFERENCE: &str = "#0072b2";

/// The answer first: the verdict, then each tier's change against its limit.
fn headline(report: &GateReport, c: Option<&Comparison>) -> Vec<(String, String)> {
    let mut h = Vec::new();
    match c {
        Some(c) => {
            h.push(("gate".to_string(), c.verdict_word().to_string()));
            if let Some(i) = &c.instructions {
                h.push((
                    "init instructions".into(),
                    format!("{} (limit +{:.2}%)", fmt_change(i.change), i.limit * 100.0),
                ));
            }
            if let Some(d) = &c.wall {
                h.push((
                    format!("wall ({})", c.mode),
                    format!(
                        "{} [{}, {}] (limit +{:.0}%)",
                        fmt_change(d.change),
                        fmt_change(d.low),
                        fmt_change(d.high),
                        d.limit * 100.0
                    ),
                ));
            }
        }
        None if report.baseline.is_some() => {
            h.push(("gate".into(), "baseline written".into()));
        }
        None => {}
    }
    if let Some(f) = report.function.as_ref().and_then(|f| f.figures) {
        h.push(("init p50".into(), format!("{:.2} ms (n={})", f.p50_ms, f.n)));
    }
    if let Some(r) = report.reference.as_ref().and_then(|r| r.figures) {
        h.push(("reference p50".into(), format!("{:.2} ms", r.p50_ms)));
    }
    h
}

/// The wall tier's charts: both functions' round inits overlaid, and each
/// round's init (with the ratio on the right axis when paired).
fn wall_charts(report: &GateReport) -> String {
    let Some(rounds) = &report.rounds else {
        return String::new();
    };
    let fname = report
        .function
        .as_ref()
        .map_or("function", |f| f.function.as_str());
    let rname = report
        .reference
        .as_ref()
        .map_or("reference", |r| r.function.as_str());
    let series = [
        Series {
            label: fname,
            values: &rounds.function,
            colour: FUNCTION,
        },
        Series {
            label: rname,
            values: &rounds.reference,
            colour: REFERENCE,
        },
    ];
    let per_round = |v: &[f64]| -> Vec<(f64, Option<f64>)> {
        v.iter()
            .enumerate()
            .map(|(i, x)| (i as f64 + 1.0, Some(*x)))
            .collect()
    };
    let mut lines = vec![Line {
        name: fname.to_string(),
        colour: FUNCTION,
        axis: Axis::Left,
        points: per_round(&rounds.function),
    }];
    if rounds.paired() {
        lines.push(Line {
            name: rname.to_string(),
            colour: REFERENCE,
            axis: Axis::Left,
            points: per_round(&rounds.reference),
        });
        let ratios: Vec<f64> = rounds
            .function
            .iter()
            .zip(&rounds.reference)
            .map(|(f, r)| f / r)
            .collect();
        lines.push(Line {
            name: "ratio".into(),
            colour: "#777",
            axis: Axis::Right,
            points: per_round(&ratios),
        });
    }
    let by_round = LineChart {
        title: "Init of each round (fastest of its repeats)".into(),
        x_label: "round".into(),
        left_label: "ms".into(),
        right_label: "init / reference".into(),
        lines,
    };
    format!(
        "<h2>Wall tier: init duration</h2>{}",
        charts(&[
            histogram("Init per round: histogram", "ms", &series, 20),
            cdf("Init per round: CDF", "ms", &series),
            by_round.to_svg(),
        ])
    )
}

/// The gate's page; `markdown` is the report's Markdown, shown as text when
/// a baseline was written instead of compared.
pub fn render(report: &GateReport, markdown: &str) -> String {
    let c = report.comparison.as_ref();
    let mut body = String::new();
    match c {
        Some(c) => {
            body.push_str(&format!(
                "<h2>Both tiers</h2>{}<ul>",
                table(&Comparison::HEADER, &c.text_rows())
            ));
            for line in c.summary_lines() {
                body.push_str(&format!("<li>{}</li>", esc(&line)));
            }
            body.push_str("</ul>");
        }
        None => body.push_str(&format!("<pre>{}</pre>", esc(markdown))),
    }
    body.push_str(&wall_charts(report));
    let tiers: Vec<String> = report.tiers.iter().map(ToString::to_string).collect();
    let meta = format!(
        "tiers {}; {} compared by {}; took {:.1} s",
        tiers.join(", "),
        c.map_or_else(
            || report.function.as_ref().map_or("", |f| f.function.as_str()),
            |c| c.function.as_str()
        ),
        report.mode,
        report.elapsed_s
    );
    document(
        &format!("Init gate: {}", c.map_or("baseline", |c| c.verdict_word())),
        &meta,
        &headline(report, c),
        &body,
    )
}
