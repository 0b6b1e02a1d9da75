//! `compare`'s report: each variant's figures (init p50, cold total p50,
//! warm p50 and p99, billed p50, cost), each relative to the fastest variant
//! with a bootstrap interval, the ratio targets, and the terminal table,
//! Markdown and HTML page (histograms of every variant overlaid).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::chart::{cdf, histogram, Series};
use super::page::{charts, document, esc, table, write_files};
use super::{fmt_num, RunStatus};
use crate::analysis::interval::{interval, Estimate, RESAMPLES, SEED};
use crate::analysis::stats::{min_samples_for, percentile};
use crate::analysis::targets::{TargetResult, Verdict};
use crate::aws::guard::RestoreReport;
use crate::sample::{Phase, Sample};

/// Identifier of `compare`'s `report.json` format.
pub const SCHEMA: &str = "perfharness.compare/1";

/// Which samples and which value a figure reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Init,
    ColdTotal,
    WarmDuration,
    WarmBilled,
    WarmCost,
}

/// A figure the variants are compared on.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    /// Name in `report.json` and in targets (`compare.<key>_ratio`).
    pub key: &'static str,
    /// Column heading.
    pub label: &'static str,
    /// Unit of the value.
    pub unit: &'static str,
    /// The percentile (0..1) of the samples' values.
    pub q: f64,
    /// What a smaller value is ("faster", "cheaper").
    pub better: &'static str,
    source: Source,
}

/// The figures, in table order.
pub const FIGURES: &[Figure] = &[
    Figure {
        key: "init_p50",
        label: "init p50",
        unit: "ms",
        q: 0.5,
        better: "faster",
        source: Source::Init,
    },
    Figure {
        key: "cold_total_p50",
        label: "cold total p50",
        unit: "ms",
        q: 0.5,
        better: "faster",
        source: Source::ColdTotal,
    },
    Figure {
        key: "warm_p50",
        label: "warm p50",
        unit: "ms",
        q: 0.5,
        better: "faster",
        source: Source::WarmDuration,
    },
    Figure {
        key: "warm_p99",
        label: "warm p99",
        unit: "ms",
        q: 0.99,
        better: "faster",
        source: Source::WarmDuration,
    },
    Figure {
        key: "billed_p50",
        label: "billed p50",
        unit: "ms",
        q: 0.5,
        better: "faster",
        source: Source::WarmBilled,
    },
    Figure {
        key: "cost_per_1k",
        label: "cost / 1k warm",
        unit: "USD",
        q: 0.5,
        better: "cheaper",
        source: Source::WarmCost,
    },
];

/// The target name of a figure's ratio: `compare.<figure>_ratio`.
pub fn ratio_key(figure: &str) -> String {
    format!("compare.{figure}_ratio")
}

/// Whether `key` names a ratio a target can refer to.
pub fn validate_ratio_key(key: &str) -> Result<(), String> {
    if FIGURES.iter().any(|f| ratio_key(f.key) == key) {
        return Ok(());
    }
    Err(format!(
        "unknown statistic {key:?}; compare's are {}",
        FIGURES
            .iter()
            .map(|f| ratio_key(f.key))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// A valid cold sample: verified cold, successful, with Init Duration.
fn valid_cold(s: &Sample) -> bool {
    s.phase == Phase::Cold && s.cold && s.init_ms.is_some() && !s.is_error()
}

/// A valid warm sample: warm, successful, with a REPORT.
fn valid_warm(s: &Sample) -> bool {
    s.phase == Phase::Warm && !s.cold && !s.is_error() && s.duration_ms.is_some()
}

/// One thing compared: a function, at a memory size, with a payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// Label in tables and charts (only the dimensions that vary).
    pub label: String,
    /// The function.
    pub function: String,
    /// Its memory size during the run, MB.
    pub memory_mb: u64,
    /// The payload as given (`{}` by default).
    pub payload: String,
    /// Its architecture (for the price).
    pub architecture: String,
    /// Valid cold samples.
    pub cold_valid: usize,
    /// Valid warm samples.
    pub warm_valid: usize,
    /// Samples that failed (error, throttle, no REPORT).
    pub failed: usize,
    /// Every sample (cold, warm-up and warm).
    pub samples: Vec<Sample>,
}

impl Variant {
    /// A variant with its samples, counting the valid and failed ones.
    pub fn new(
        label: String,
        function: String,
        memory_mb: u64,
        payload: String,
        architecture: String,
        samples: Vec<Sample>,
    ) -> Variant {
        let measured = samples.iter().filter(|s| s.phase != Phase::Warmup);
        Variant {
            cold_valid: samples.iter().filter(|s| valid_cold(s)).count(),
            warm_valid: samples.iter().filter(|s| valid_warm(s)).count(),
            failed: measured.filter(|s| s.is_error() || s.is_missing()).count(),
            label,
            function,
            memory_mb,
            payload,
            architecture,
            samples,
        }
    }

    /// The values a figure reads, in sample order.
    fn values(&self, source: Source, cost: &dyn Fn(&Variant, f64) -> f64) -> Vec<f64> {
        let cold = self.samples.iter().filter(|s| valid_cold(s));
        let warm = self.samples.iter().filter(|s| valid_warm(s));
        match source {
            Source::Init => cold.filter_map(|s| s.init_ms).collect(),
            Source::ColdTotal => cold
                .filter_map(|s| Some(s.init_ms? + s.duration_ms?))
                .collect(),
            Source::WarmDuration => warm.filter_map(|s| s.duration_ms).collect(),
            Source::WarmBilled => warm.filter_map(|s| s.billed_ms.map(|b| b as f64)).collect(),
            Source::WarmCost => warm
                .filter_map(|s| s.billed_ms.map(|b| cost(self, b as f64) * 1000.0))
                .collect(),
        }
    }
}

/// One variant's value of a figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Samples behind it.
    pub n: usize,
    /// The figure; `None` when there are too few samples (the n/a rule).
    pub value: Option<f64>,
    /// Value / the fastest variant's value, with its 95 % bootstrap
    /// interval (1 for the fastest).
    pub ratio: Option<Estimate>,
}

/// One figure across the variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureRow {
    /// Figure name (`warm_p50`).
    pub figure: String,
    /// Unit.
    pub unit: String,
    /// Index of the fastest variant (smallest value), when any has a value.
    pub fastest: Option<usize>,
    /// The slowest variant's value / the fastest's: what
    /// `compare.<figure>_ratio` targets check.
    pub ratio: Option<f64>,
    /// One cell per variant, in variant order.
    pub cells: Vec<Cell>,
}

/// The percentile `q` of `values` by the crate's one definition, or `None`
/// below the n/a rule's count.
fn figure_of(values: &[f64], q: f64) -> Option<f64> {
    if values.len() < min_samples_for(q * 100.0).max(1) {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, q)
}

/// `pct(a) / pct(b)` with a bootstrap interval: both samples resampled on
/// their own, [`RESAMPLES`] times with the crate's fixed seed.
pub fn ratio_estimate(a: &[f64], b: &[f64], q: f64) -> Option<Estimate> {
    let (fa, fb) = (figure_of(a, q)?, figure_of(b, q)?);
    if fb <= 0.0 {
        return None;
    }
    let mut rng = fastrand::Rng::with_seed(SEED);
    let (mut ra, mut rb) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    let mut figures = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        ra.clear();
        rb.clear();
        ra.extend((0..a.len()).map(|_| a[rng.usize(..a.len())]));
        rb.extend((0..b.len()).map(|_| b[rng.usize(..b.len())]));
        ra.sort_by(f64::total_cmp);
        rb.sort_by(f64::total_cmp);
        if let (Some(x), Some(y)) = (percentile(&ra, q), percentile(&rb, q)) {
            if y > 0.0 {
                figures.push(x / y);
            }
        }
    }
    interval(fa / fb, figures)
}

/// Computes every figure of every variant; `cost(variant, billed_ms)` is
/// the price of one invocation.
pub fn figure_rows(variants: &[Variant], cost: &dyn Fn(&Variant, f64) -> f64) -> Vec<FigureRow> {
    FIGURES
        .iter()
        .map(|f| {
            let values: Vec<Vec<f64>> = variants.iter().map(|v| v.values(f.source, cost)).collect();
            let figures: Vec<Option<f64>> = values.iter().map(|v| figure_of(v, f.q)).collect();
            let fastest = figures
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i, v)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| i);
            let cells: Vec<Cell> = values
                .iter()
                .zip(&figures)
                .enumerate()
                .map(|(i, (vals, value))| Cell {
                    n: vals.len(),
                    value: *value,
                    ratio: match fastest {
                        Some(j) if j == i => value.map(|_| Estimate {
                            value: 1.0,
                            low: 1.0,
                            high: 1.0,
                        }),
                        Some(j) => ratio_estimate(vals, &values[j], f.q),
                        None => None,
                    },
                })
                .collect();
            let ratio = cells
                .iter()
                .filter_map(|c| c.ratio.map(|r| r.value))
                .max_by(f64::total_cmp)
                .filter(|_| cells.iter().filter(|c| c.ratio.is_some()).count() >= 2);
            FigureRow {
                figure: f.key.to_string(),
                unit: f.unit.to_string(),
                fastest,
                ratio,
                cells,
            }
        })
        .collect()
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareOutcome {
    /// Completed, interrupted or failed.
    pub status: RunStatus,
    /// The error of a failed run.
    pub error: Option<String>,
    /// True when the run completed and every target passed.
    pub targets_met: bool,
}

/// What `compare` writes to `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// When the run started.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// When it ended.
    pub finished_at: chrono::DateTime<chrono::Utc>,
    /// Where it ran (`local`, `aws eu-west-1`, an endpoint).
    pub target: String,
    /// Cold samples per variant asked for.
    pub cold_samples: usize,
    /// Warm samples per variant asked for.
    pub warm_samples: usize,
    /// The variants, in the order given.
    pub variants: Vec<Variant>,
    /// Each figure across the variants.
    pub figures: Vec<FigureRow>,
    /// The ratio targets.
    pub targets: Vec<TargetResult>,
    /// How each function's configuration was restored.
    pub restore: Vec<RestoreReport>,
    /// How the run ended.
    pub outcome: CompareOutcome,
}

/// A ratio for people: `2.40 x (2.10–2.70)`.
fn ratio_text(r: &Estimate) -> String {
    format!("{:.2} x ({:.2}–{:.2})", r.value, r.low, r.high)
}

fn value_text(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "n/a".into(),
        Some(v) if unit == "USD" => format!("${v:.6}"),
        Some(v) => format!("{} {unit}", fmt_num(v)),
    }
}

impl CompareReport {
    /// The answer in sentences, one per figure with data: "warm p50: B ran
    /// 2.40 x faster than A (95 % interval 2.10–2.70)".
    pub fn summary_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (f, row) in FIGURES.iter().zip(&self.figures) {
            let Some(best) = row.fastest else { continue };
            let others: Vec<String> = row
                .cells
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != best)
                .filter_map(|(i, c)| {
                    let r = c.ratio?;
                    let other = &self.variants[i].label;
                    Some(if r.value < 1.005 {
                        format!("as {} as {other}", f.better.trim_end_matches("er"))
                    } else if r.low <= 1.0 {
                        format!(
                            "{:.2} x {} than {other} ({:.2}–{:.2}: the interval holds 1, no clear difference)",
                            r.value, f.better, r.low, r.high
                        )
                    } else {
                        format!(
                            "{:.2} x {} than {other} ({:.2}–{:.2})",
                            r.value, f.better, r.low, r.high
                        )
                    })
                })
                .collect();
            if others.is_empty() {
                continue;
            }
            out.push(format!(
                "{}: {} is {}",
                f.label,
                self.variants[best].label,
                others.join(", ")
            ));
        }
        out
    }

    fn cell_text(&self, row: &FigureRow, i: usize) -> (String, String) {
        let c = &row.cells[i];
        let second = match (&c.ratio, row.fastest) {
            (Some(_), Some(j)) if j == i => "fastest".to_string(),
            (Some(r), _) => ratio_text(r),
            (None, _) if c.n > 0 && c.value.is_none() => format!("({} samples)", c.n),
            (None, _) => String::new(),
        };
        (value_text(c.value, &row.unit), second)
    }

    /// The terminal table: a row per variant, a column per figure, each
    /// cell the value and its multiple of the fastest with the interval.
    pub fn to_table(&self) -> String {
        use comfy_table::{presets::UTF8_FULL_CONDENSED, CellAlignment, Table};
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        let mut header = vec!["variant".to_string()];
        header.extend(FIGURES.iter().map(|f| f.label.to_string()));
        t.set_header(header);
        for (i, v) in self.variants.iter().enumerate() {
            let mut row = vec![v.label.clone()];
            for r in &self.figures {
                let (a, b) = self.cell_text(r, i);
                row.push(if b.is_empty() { a } else { format!("{a}\n{b}") });
            }
            t.add_row(row);
        }
        for i in 1..=FIGURES.len() {
            if let Some(c) = t.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        let mut s = format!("{}\n{t}\n", self.plan_line());
        for l in self.summary_lines() {
            s.push_str(&format!("{l}\n"));
        }
        s.push_str(LEGEND);
        s.push('\n');
        if !self.targets.is_empty() {
            let mut tt = Table::new();
            tt.load_style(UTF8_FULL_CONDENSED);
            tt.set_header(vec!["target", "condition", "measured", "result"]);
            for r in &self.targets {
                tt.add_row(vec![
                    r.key.clone(),
                    r.condition.clone(),
                    r.value
                        .map(|v| format!("{v:.3}"))
                        .unwrap_or_else(|| "n/a".into()),
                    verdict_word(r.verdict).to_string(),
                ]);
            }
            s.push_str(&format!("{tt}\n"));
        }
        for r in &self.restore {
            s.push_str(&format!("{}\n", r.message));
        }
        s
    }

    /// One line saying what was compared and how.
    pub fn plan_line(&self) -> String {
        format!(
            "compare: {} variants on {}, {} cold starts and {} warm invokes each, interleaved; {}",
            self.variants.len(),
            self.target,
            self.cold_samples,
            self.warm_samples,
            self.outcome.status
        )
    }

    /// The report as Markdown (`report.md`, the step summary).
    pub fn to_markdown(&self) -> String {
        let mut s = format!("### perfharness compare\n\n{}\n\n", self.plan_line());
        for l in self.summary_lines() {
            s.push_str(&format!("- {l}\n"));
        }
        s.push_str("\n| variant |");
        for f in FIGURES {
            s.push_str(&format!(" {} |", f.label));
        }
        s.push_str("\n|---|");
        s.push_str(&"---:|".repeat(FIGURES.len()));
        s.push('\n');
        for (i, v) in self.variants.iter().enumerate() {
            s.push_str(&format!("| {} |", v.label.replace('|', "\\|")));
            for r in &self.figures {
                let (a, b) = self.cell_text(r, i);
                if b.is_empty() {
                    s.push_str(&format!(" {a} |"));
                } else {
                    s.push_str(&format!(" {a} ({b}) |"));
                }
            }
            s.push('\n');
        }
        if !self.targets.is_empty() {
            s.push_str("\n| target | condition | measured | result |\n|---|---|---:|---|\n");
            for r in &self.targets {
                s.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    r.key,
                    r.condition,
                    r.value
                        .map(|v| format!("{v:.3}"))
                        .unwrap_or_else(|| "n/a".into()),
                    verdict_word(r.verdict)
                ));
            }
        }
        s
    }

    /// The headline cards: per figure, the fastest variant and how many
    /// times faster it is than the slowest; the targets passed.
    pub fn headline(&self) -> Vec<(String, String)> {
        let mut h = Vec::new();
        for (f, row) in FIGURES.iter().zip(&self.figures) {
            let (Some(best), Some(ratio)) = (row.fastest, row.ratio) else {
                continue;
            };
            if !["init_p50", "warm_p50", "warm_p99", "cost_per_1k"].contains(&f.key) {
                continue;
            }
            h.push((
                format!("{}: fastest", f.label),
                format!("{}, {ratio:.2} x {}", self.variants[best].label, f.better),
            ));
        }
        if !self.targets.is_empty() {
            let passed = self
                .targets
                .iter()
                .filter(|t| t.verdict == Verdict::Pass)
                .count();
            h.push((
                "targets".into(),
                format!("{passed} of {} passed", self.targets.len()),
            ));
        }
        h
    }

    /// The HTML page: the answer first (headline cards and sentences), the
    /// table, the targets, then each distribution with every variant
    /// overlaid.
    pub fn to_html(&self) -> String {
        let mut o = String::new();
        let lines = self.summary_lines();
        if !lines.is_empty() {
            o.push_str("<ul>");
            for l in lines {
                o.push_str(&format!("<li>{}</li>", esc(&l)));
            }
            o.push_str("</ul>");
        }
        if let Some(e) = &self.outcome.error {
            o.push_str(&format!("<p class=\"warn\">{}</p>", esc(e)));
        }
        // Each cell on two lines: the value, then its multiple of the fastest.
        o.push_str("<table><tr><th>variant</th>");
        for f in FIGURES {
            o.push_str(&format!("<th>{}</th>", esc(f.label)));
        }
        o.push_str("</tr>");
        for (i, v) in self.variants.iter().enumerate() {
            o.push_str(&format!("<tr><td>{}</td>", esc(&v.label)));
            for r in &self.figures {
                let (a, b) = self.cell_text(r, i);
                o.push_str(&format!(
                    "<td><b>{}</b><br/><span class=\"note\" style=\"white-space:nowrap\">{}</span></td>",
                    esc(&a),
                    esc(&b)
                ));
            }
            o.push_str("</tr>");
        }
        o.push_str("</table>");
        o.push_str(&format!("<p class=\"note\">{}</p>", esc(LEGEND)));
        if !self.targets.is_empty() {
            let rows: Vec<Vec<String>> = self
                .targets
                .iter()
                .map(|r| {
                    vec![
                        r.key.clone(),
                        r.condition.clone(),
                        r.value
                            .map(|v| format!("{v:.3}"))
                            .unwrap_or_else(|| "n/a".into()),
                        verdict_word(r.verdict).to_string(),
                    ]
                })
                .collect();
            o.push_str("<h2>Targets</h2>");
            o.push_str(&table(
                &["target", "condition", "measured", "result"],
                &rows,
            ));
        }
        for r in &self.restore {
            o.push_str(&format!(
                "<p class=\"{}\">{}</p>",
                if r.verified { "note" } else { "warn" },
                esc(&r.message)
            ));
        }
        o.push_str("<h2>Distributions, every variant overlaid</h2>");
        let no_cost = |_: &Variant, _: f64| 0.0;
        for (title, source) in [
            ("Init duration", Source::Init),
            ("Cold total (init + duration)", Source::ColdTotal),
            ("Warm duration", Source::WarmDuration),
        ] {
            let values: Vec<Vec<f64>> = self
                .variants
                .iter()
                .map(|v| v.values(source, &no_cost))
                .collect();
            let series: Vec<Series> = self
                .variants
                .iter()
                .zip(&values)
                .enumerate()
                .map(|(i, (v, vals))| Series {
                    label: &v.label,
                    values: vals,
                    colour: PALETTE[i % PALETTE.len()],
                })
                .collect();
            let svgs = [
                histogram(&format!("{title}: histogram"), "ms", &series, 20),
                cdf(&format!("{title}: CDF"), "ms", &series),
            ];
            let drawn = charts(&svgs);
            if !drawn.is_empty() {
                o.push_str(&format!("<h3>{}</h3>{drawn}", esc(title)));
            }
        }
        document(
            &format!(
                "perfharness compare: {}",
                self.variants
                    .iter()
                    .map(|v| v.label.as_str())
                    .collect::<Vec<_>>()
                    .join(" vs ")
            ),
            &format!(
                "{} — started {}",
                self.plan_line(),
                self.started_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            &self.headline(),
            &o,
        )
    }

    /// Writes `report.json`, `report.md` and `report.html` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)? + "\n";
        write_files(
            dir,
            &[
                ("report.json", &json),
                ("report.md", &self.to_markdown()),
                ("report.html", &self.to_html()),
            ],
        )
    }
}

/// What the ratios mean, under every table.
const LEGEND: &str = "x: the figure as a multiple of the fastest variant's, with its 95 % bootstrap interval; n/a: too few samples for the percentile (p50 needs 2, p99 100)";

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::NoData => "NO DATA",
    }
}

/// Colours of the variants, in order (distinct for readers with the
/// common colour-vision deficiencies).
const PALETTE: &[&str] = &[
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(phase: Phase, i: usize, init: Option<f64>, duration: f64) -> Sample {
        let mut s = Sample::new(phase, i, chrono::Utc::now(), duration + 1.0);
        s.cold = init.is_some();
        s.init_ms = init;
        s.duration_ms = Some(duration);
        s.billed_ms = Some(duration.ceil() as u64);
        s
    }

    fn variant(label: &str, init: f64, warm: f64) -> Variant {
        let mut samples = Vec::new();
        for i in 0..10 {
            samples.push(sample(Phase::Cold, i, Some(init + i as f64 * 0.1), warm));
        }
        for i in 0..40 {
            samples.push(sample(Phase::Warm, i, None, warm + (i % 5) as f64 * 0.1));
        }
        Variant {
            label: label.into(),
            function: label.into(),
            memory_mb: 128,
            payload: "{}".into(),
            architecture: "x86_64".into(),
            cold_valid: 10,
            warm_valid: 40,
            failed: 0,
            samples,
        }
    }

    #[test]
    fn ratios_are_relative_to_the_fastest_and_hold_their_interval() {
        let vs = vec![variant("slow", 30.0, 8.0), variant("fast", 10.0, 2.0)];
        let cost = |v: &Variant, b: f64| v.memory_mb as f64 * b * 1e-9;
        let rows = figure_rows(&vs, &cost);
        let warm = rows.iter().find(|r| r.figure == "warm_p50").unwrap();
        assert_eq!(warm.fastest, Some(1));
        assert_eq!(warm.cells[1].ratio.unwrap().value, 1.0);
        let r = warm.cells[0].ratio.unwrap();
        let expect = warm.cells[0].value.unwrap() / warm.cells[1].value.unwrap();
        assert!((r.value - expect).abs() < 1e-12);
        assert!(r.low <= r.value && r.value <= r.high);
        assert_eq!(warm.ratio, Some(r.value));
        // p99 needs 100 samples: n/a, and so no ratio.
        let p99 = rows.iter().find(|r| r.figure == "warm_p99").unwrap();
        assert_eq!(p99.cells[0].value, None);
        assert_eq!(p99.ratio, None);
        let init = rows.iter().find(|r| r.figure == "init_p50").unwrap();
        assert!((init.ratio.unwrap() - 30.4 / 10.4).abs() < 0.02);
    }

    #[test]
    fn ratio_keys() {
        assert!(validate_ratio_key("compare.warm_p50_ratio").is_ok());
        let e = validate_ratio_key("compare.warm_p42_ratio").unwrap_err();
        assert!(e.contains("compare.init_p50_ratio"), "{e}");
    }
}
