//! `report.html`: one self-contained file (inline CSS and SVG, no scripts,
//! no network fetches) with histograms and CDFs of init, duration and
//! memory, cold against warm. The markup is well-formed XML apart from the
//! doctype, so it can be checked mechanically.

use super::terminal::{headline_values, verdict_word};
use super::{fmt_num, fmt_opt, metric_rows, RunReport};
use crate::analysis::stats::STAT_NAMES;
use crate::sample::Phase;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

const W: f64 = 560.0;
const H: f64 = 240.0;
const ML: f64 = 50.0;
const MR: f64 = 15.0;
const MT: f64 = 44.0;
const MB: f64 = 40.0;

/// One data series of a chart.
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Values.
    pub values: &'a [f64],
    /// CSS colour.
    pub colour: &'a str,
}

/// A round tick step (1, 2 or 5 times a power of ten) for about `span / 4`.
fn nice_step(span: f64) -> f64 {
    let raw = (span / 4.0).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

fn frame(
    title: &str,
    unit: &str,
    (lo, hi, step): (f64, f64, f64),
    ymax_label: &str,
    body: &str,
    series: &[Series],
) -> String {
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\"><title>{t}</title>",
        t = esc(title)
    );
    s.push_str(&format!(
        "<text x=\"{ML}\" y=\"16\" class=\"ct\">{}</text>",
        esc(title)
    ));
    let (x0, x1, y0, y1) = (ML, W - MR, H - MB, MT);
    s.push_str(&format!(
        "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" class=\"ax\"/><line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\" class=\"ax\"/>"
    ));
    let ticks = ((hi - lo) / step).round() as usize;
    for i in 0..=ticks {
        let v = lo + step * i as f64;
        let x = x0 + (x1 - x0) * (v - lo) / (hi - lo);
        s.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{:.1}\" class=\"tk\" text-anchor=\"middle\">{}</text>",
            y0 + 14.0,
            esc(&fmt_num(v))
        ));
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tk\" text-anchor=\"middle\">{}</text>",
        (x0 + x1) / 2.0,
        H - 6.0,
        esc(unit)
    ));
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tk\" text-anchor=\"end\">{}</text>",
        x0 - 4.0,
        y1 + 4.0,
        esc(ymax_label)
    ));
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tk\" text-anchor=\"end\">0</text>",
        x0 - 4.0,
        y0
    ));
    s.push_str(body);
    // The legend on its own line under the title, so the two never overlap.
    let mut lx = ML;
    for se in series.iter().filter(|se| !se.values.is_empty()) {
        let text = format!("{} (n={})", se.label, se.values.len());
        s.push_str(&format!(
            "<rect x=\"{lx:.1}\" y=\"22\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"31\" class=\"tk\">{}</text>",
            esc(se.colour),
            lx + 14.0,
            esc(&text),
        ));
        lx += 24.0 + 6.0 * text.len() as f64;
    }
    s.push_str("</svg>");
    s
}

/// The x axis of `series`: from and to round ticks around the values, and
/// the tick step.
fn range(series: &[Series]) -> Option<(f64, f64, f64)> {
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    if all.is_empty() {
        return None;
    }
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let mut hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if hi <= lo {
        hi = lo + 1.0;
    }
    let step = nice_step(hi - lo);
    let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    Some((lo, hi.max(lo + step), step))
}

/// An SVG histogram of several series over shared bins (bars side by side).
pub fn svg_histogram(title: &str, unit: &str, series: &[Series], bins: usize) -> String {
    let Some((lo, hi, step)) = range(series) else {
        return String::new();
    };
    let width = (hi - lo) / bins as f64;
    let counts: Vec<Vec<usize>> = series
        .iter()
        .map(|s| {
            let mut c = vec![0usize; bins];
            for v in s.values.iter().filter(|v| v.is_finite()) {
                c[(((v - lo) / width) as usize).min(bins - 1)] += 1;
            }
            c
        })
        .collect();
    let peak = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
    let (x0, x1, y0, y1) = (ML, W - MR, H - MB, MT);
    let bw = (x1 - x0) / bins as f64;
    let sub = bw / series.len().max(1) as f64;
    let mut body = String::new();
    for (si, (se, c)) in series.iter().zip(&counts).enumerate() {
        for (bi, n) in c.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let h = (y0 - y1) * *n as f64 / peak as f64;
            body.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {} in [{}, {})</title></rect>",
                x0 + bw * bi as f64 + sub * si as f64,
                y0 - h,
                (sub - 1.0).max(1.0),
                esc(se.colour),
                esc(se.label),
                n,
                esc(&fmt_num(lo + width * bi as f64)),
                esc(&fmt_num(lo + width * (bi + 1) as f64)),
            ));
        }
    }
    frame(
        title,
        unit,
        (lo, hi, step),
        &peak.to_string(),
        &body,
        series,
    )
}

/// An SVG empirical CDF of several series.
pub fn svg_cdf(title: &str, unit: &str, series: &[Series]) -> String {
    let Some((lo, hi, step)) = range(series) else {
        return String::new();
    };
    let (x0, x1, y0, y1) = (ML, W - MR, H - MB, MT);
    let mut body = String::new();
    for se in series {
        let mut v: Vec<f64> = se
            .values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len() as f64;
        let mut pts = format!("{x0:.1},{y0:.1}");
        for (i, x) in v.iter().enumerate() {
            let px = x0 + (x1 - x0) * (x - lo) / (hi - lo);
            let py_before = y0 - (y0 - y1) * i as f64 / n;
            let py = y0 - (y0 - y1) * (i + 1) as f64 / n;
            pts.push_str(&format!(" {px:.1},{py_before:.1} {px:.1},{py:.1}"));
        }
        body.push_str(&format!(
            "<polyline points=\"{pts}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            esc(se.colour)
        ));
    }
    frame(title, unit, (lo, hi, step), "1", &body, series)
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}.PASS{color:#070;font-weight:bold}.FAIL{color:#b00;font-weight:bold}\
.NODATA{color:#a60;font-weight:bold}.ct{font-size:13px;font-weight:bold}.tk{font-size:10px;fill:#444}\
.ax{stroke:#444;stroke-width:1}.charts{display:flex;flex-wrap:wrap;gap:12px}.warn{color:#b00}\
.headline{display:flex;flex-wrap:wrap;gap:12px;margin:1em 0;padding:0}\
.headline div{border:1px solid #ccc;border-radius:6px;padding:8px 14px;background:#f7f9fc}\
.headline dt{font-size:12px;color:#555;margin:0}.headline dd{font-size:20px;font-weight:bold;margin:2px 0 0 0}";

const COLD: &str = "#d9534f";
const WARM: &str = "#337ab7";

fn chart_pair(
    o: &mut String,
    r: &RunReport,
    title: &str,
    unit: &str,
    cold: &str,
    warm: Option<&str>,
) {
    let c = headline_values(r, cold);
    let w = warm.map(|m| headline_values(r, m)).unwrap_or_default();
    if c.is_empty() && w.is_empty() {
        return;
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
    o.push_str(&format!("<h3>{}</h3><div class=\"charts\">", esc(title)));
    o.push_str(&svg_histogram(
        &format!("{title}: histogram"),
        unit,
        &series,
        20,
    ));
    o.push_str(&svg_cdf(&format!("{title}: CDF"), unit, &series));
    o.push_str("</div>");
}

/// Renders the whole report as one HTML document.
pub fn render(r: &RunReport) -> String {
    let f = &r.function;
    let mut o = String::with_capacity(64 * 1024);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>");
    o.push_str(&format!(
        "<title>perfharness {} {}</title><style>{CSS}</style></head><body>",
        esc(&r.command),
        esc(&f.name)
    ));
    o.push_str(&format!(
        "<h1>perfharness {}: {}</h1><p>{} MB, {}, {}, log format {}, {}{} — started {} — {}</p>",
        esc(&r.command),
        esc(&f.name),
        f.memory_mb,
        esc(&f.architecture),
        esc(f.runtime.as_deref().unwrap_or("no runtime")),
        esc(&f.log_format),
        esc(&r.context.region),
        if r.context.local {
            " (local emulator + mock-vanta)"
        } else {
            ""
        },
        esc(&r.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        esc(&r.outcome.status.to_string())
    ));
    let head = super::headline(r);
    if !head.is_empty() {
        o.push_str("<dl class=\"headline\">");
        for (label, value) in head {
            o.push_str(&format!(
                "<div><dt>{}</dt><dd>{}</dd></div>",
                esc(label),
                esc(&value)
            ));
        }
        o.push_str("</dl>");
    }
    if let Some(rs) = &r.restore {
        o.push_str(&format!(
            "<p class=\"{}\">{}</p>",
            if rs.verified { "ok" } else { "warn" },
            esc(&rs.message)
        ));
    }
    if let Some(e) = &r.outcome.error {
        o.push_str(&format!("<p class=\"warn\">{}</p>", esc(e)));
    }
    if !r.targets.is_empty() {
        o.push_str(&format!("<h2>Targets</h2><p>{}</p><table><tr><th>target</th><th>condition</th><th>measured</th><th>result</th></tr>", esc(r.targets_file.as_deref().unwrap_or(""))));
        for t in &r.targets {
            let word = verdict_word(t.verdict);
            o.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                esc(&t.key),
                esc(&t.condition),
                esc(&t
                    .value
                    .map(fmt_num)
                    .unwrap_or_else(|| format!("n/a ({})", t.note.as_deref().unwrap_or("")))),
                word.replace(' ', ""),
                word
            ));
        }
        o.push_str("</table>");
    }
    o.push_str("<h2>Statistics</h2><table><tr><th>metric</th>");
    for s in STAT_NAMES {
        o.push_str(&format!("<th>{s}</th>"));
    }
    o.push_str("</tr>");
    for (k, d, s) in metric_rows(r) {
        o.push_str(&format!("<tr><td title=\"{}\">{}</td>", esc(d), esc(k)));
        for st in STAT_NAMES {
            o.push_str(&format!("<td>{}</td>", esc(&fmt_opt(s.get(st)))));
        }
        o.push_str("</tr>");
    }
    o.push_str(&format!(
        "</table><p>{}</p><table><tr><th>figure</th><th>value</th><th>meaning</th></tr>",
        esc(super::NA_RULE)
    ));
    for (k, d) in crate::analysis::metrics::SCALARS {
        if let Some(v) = r.metrics.scalars.get(*k) {
            o.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(k),
                esc(&fmt_num(*v)),
                esc(d)
            ));
        }
    }
    o.push_str("</table><h2>Distributions: cold against warm</h2>");
    let charts: [(&str, &str, &str, Option<&str>); 5] = [
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
    for (title, unit, cold, warm) in charts {
        chart_pair(&mut o, r, title, unit, cold, warm);
    }
    if !r.logs.missing.is_empty() {
        o.push_str(&format!(
            "<p class=\"warn\">{} sample(s) without a REPORT line: {}</p>",
            r.logs.missing.len(),
            esc(&r.logs.missing.join(", "))
        ));
    }
    o.push_str("<h2>Samples</h2><details><summary>every sample</summary><table><tr><th>phase</th><th>#</th><th>request id</th><th>cold</th><th>init ms</th><th>duration ms</th><th>billed ms</th><th>max MB</th><th>client ms</th><th>status</th><th>error</th><th>source</th></tr>");
    for s in &r.samples {
        o.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.phase.as_str(),
            s.index,
            esc(s.request_id.as_deref().unwrap_or("")),
            if s.cold { "yes" } else { "" },
            fmt_opt(s.init_ms),
            fmt_opt(s.duration_ms),
            fmt_opt(s.billed_ms.map(|b| b as f64)),
            fmt_opt(s.max_memory_used_mb.map(|b| b as f64)),
            fmt_num(s.client_ms),
            esc(&s.status),
            esc(s.error_type.as_deref().unwrap_or("")),
            match s.report_source {
                Some(crate::sample::ReportSource::Tail) => "tail",
                Some(crate::sample::ReportSource::Logs) => "logs",
                None if s.phase == Phase::Warmup || s.is_rejected() => "",
                None => "missing",
            }
        ));
    }
    o.push_str("</table></details></body></html>\n");
    o
}

#[cfg(test)]
mod axis_tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_numbers() {
        assert_eq!(nice_step(29.88), 10.0);
        assert_eq!(nice_step(4.7), 2.0);
        assert_eq!(nice_step(0.3), 0.1);
        let v = [2.65, 32.53];
        let (lo, hi, step) = range(&[Series {
            label: "c",
            values: &v,
            colour: "red",
        }])
        .unwrap();
        assert_eq!((lo, hi, step), (0.0, 40.0, 10.0));
    }
}
