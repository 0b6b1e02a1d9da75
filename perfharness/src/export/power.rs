//! The memory sweep's report: one row per size, the chosen size, a chart of
//! duration and cost against memory.

use std::path::Path;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::{Deserialize, Serialize};

use crate::analysis::power::{choose, scores, Candidate, Strategy};
use crate::analysis::stats::Summary;
use crate::export::chart::{Axis, Line, LineChart};
use crate::export::page;
use crate::sample::Sample;

/// What one memory size measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeResult {
    /// Memory size, MB.
    pub memory_mb: u32,
    /// Init Duration of the cold samples, ms.
    pub cold_init_ms: Option<Summary>,
    /// Init + Duration of the cold samples, ms.
    pub cold_total_ms: Option<Summary>,
    /// Duration of the warm samples, ms.
    pub warm_duration_ms: Option<Summary>,
    /// Billed Duration of the warm samples, ms.
    pub warm_billed_ms: Option<Summary>,
    /// Highest Max Memory Used seen, MB.
    pub max_memory_used_mb: Option<u64>,
    /// Mean cost of a warm invocation, USD.
    pub warm_cost_usd: Option<f64>,
    /// Mean cost of a cold invocation (init billed since Aug 2025), USD.
    pub cold_cost_usd: Option<f64>,
    /// Samples that failed or were throttled.
    pub errors: usize,
    /// Samples whose REPORT was never found.
    pub missing: usize,
    /// Samples taken (cold + warm).
    pub samples: usize,
}

impl SizeResult {
    /// Summarizes the cold and warm samples of one size; costs at `price`
    /// (a function of memory and billed ms).
    pub fn from_samples(
        memory_mb: u32,
        cold: &[Sample],
        warm: &[Sample],
        cost: impl Fn(u32, f64) -> f64,
    ) -> Self {
        let ok = |s: &&Sample| !s.is_error();
        let summary = |it: Vec<f64>| Summary::from_values(&it);
        let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let cold_ok: Vec<&Sample> = cold.iter().filter(ok).filter(|s| s.cold).collect();
        let warm_ok: Vec<&Sample> = warm.iter().filter(ok).filter(|s| !s.cold).collect();
        SizeResult {
            memory_mb,
            cold_init_ms: summary(cold_ok.iter().filter_map(|s| s.init_ms).collect()),
            cold_total_ms: summary(cold_ok.iter().filter_map(|s| s.cold_total_ms).collect()),
            warm_duration_ms: summary(warm_ok.iter().filter_map(|s| s.duration_ms).collect()),
            warm_billed_ms: summary(
                warm_ok
                    .iter()
                    .filter_map(|s| s.billed_ms.map(|b| b as f64))
                    .collect(),
            ),
            max_memory_used_mb: cold
                .iter()
                .chain(warm)
                .filter_map(|s| s.max_memory_used_mb)
                .max(),
            warm_cost_usd: mean(
                warm_ok
                    .iter()
                    .filter_map(|s| s.billed_ms)
                    .map(|b| cost(memory_mb, b as f64))
                    .collect(),
            ),
            cold_cost_usd: mean(
                cold_ok
                    .iter()
                    .filter_map(|s| s.billed_ms)
                    .map(|b| cost(memory_mb, b as f64))
                    .collect(),
            ),
            errors: cold.iter().chain(warm).filter(|s| s.is_error()).count(),
            missing: cold.iter().chain(warm).filter(|s| s.is_missing()).count(),
            samples: cold.len() + warm.len(),
        }
    }

    /// The figures the strategies judge: warm p50 duration (the mean when
    /// too few samples for a median) and mean warm cost.
    pub fn candidate(&self) -> Candidate {
        let d = self
            .warm_duration_ms
            .as_ref()
            .map(|s| s.p50.unwrap_or(s.mean))
            .unwrap_or(f64::NAN);
        Candidate {
            memory_mb: self.memory_mb,
            duration_ms: d,
            cost_usd: self.warm_cost_usd.unwrap_or(f64::NAN),
            healthy: self.errors == 0 && d.is_finite() && self.warm_cost_usd.is_some(),
        }
    }
}

/// Everything a sweep produced. Field names are stable (`report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerReport {
    /// The function.
    pub function: String,
    /// Its architecture (prices depend on it).
    pub architecture: String,
    /// Memory size before the sweep, MB.
    pub original_memory_mb: u64,
    /// How the best size was chosen.
    pub strategy: Strategy,
    /// Weight of cost in the balanced strategy.
    pub balanced_weight: f64,
    /// One entry per size, ascending.
    pub sizes: Vec<SizeResult>,
    /// Strategy score per size (lower is better; `None` = not eligible).
    pub scores: Vec<Option<f64>>,
    /// The chosen size, MB.
    pub best_memory_mb: Option<u32>,
    /// Whether the original configuration was restored and verified.
    pub restored: bool,
    /// Sizes not measured because the run stopped early.
    pub skipped_memory_mb: Vec<u32>,
    /// Every sample, tagged by size.
    pub samples: Vec<(u32, Sample)>,
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.digits$}"))
}

impl PowerReport {
    /// Builds the report and chooses the best size.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        function: &str,
        architecture: &str,
        original_memory_mb: u64,
        strategy: Strategy,
        balanced_weight: f64,
        sizes: Vec<SizeResult>,
        skipped_memory_mb: Vec<u32>,
        samples: Vec<(u32, Sample)>,
        restored: bool,
    ) -> Self {
        let cands: Vec<Candidate> = sizes.iter().map(SizeResult::candidate).collect();
        let best = choose(&cands, strategy, balanced_weight).map(|i| cands[i].memory_mb);
        PowerReport {
            function: function.into(),
            architecture: architecture.into(),
            original_memory_mb,
            strategy,
            balanced_weight,
            scores: scores(&cands, strategy, balanced_weight),
            sizes,
            best_memory_mb: best,
            restored,
            skipped_memory_mb,
            samples,
        }
    }

    fn header() -> Vec<&'static str> {
        vec![
            "memory MB",
            "cold init p50 ms",
            "cold total p50 ms",
            "warm p50 ms",
            "warm p99 ms",
            "billed mean ms",
            "max used MB",
            "$ / 1M warm",
            "errors",
            "score",
        ]
    }

    fn rows(&self) -> Vec<Vec<String>> {
        self.sizes
            .iter()
            .zip(&self.scores)
            .map(|(s, score)| {
                let best = if Some(s.memory_mb) == self.best_memory_mb {
                    " ◀ best"
                } else {
                    ""
                };
                vec![
                    format!("{}{best}", s.memory_mb),
                    fmt_opt(s.cold_init_ms.as_ref().and_then(|x| x.p50), 2),
                    fmt_opt(s.cold_total_ms.as_ref().and_then(|x| x.p50), 2),
                    fmt_opt(s.warm_duration_ms.as_ref().and_then(|x| x.p50), 2),
                    fmt_opt(s.warm_duration_ms.as_ref().and_then(|x| x.p99), 2),
                    fmt_opt(s.warm_billed_ms.as_ref().map(|x| x.mean), 1),
                    s.max_memory_used_mb.map_or("n/a".into(), |m| m.to_string()),
                    fmt_opt(s.warm_cost_usd.map(|c| c * 1e6), 4),
                    s.errors.to_string(),
                    fmt_opt(*score, 4),
                ]
            })
            .collect()
    }

    /// One line naming the chosen size and why.
    pub fn verdict(&self) -> String {
        let restored = if self.restored {
            "original configuration restored and verified"
        } else {
            "ORIGINAL CONFIGURATION NOT VERIFIED: check the function"
        };
        match self.best_memory_mb {
            Some(m) => format!(
                "best by {} (weight {}): {m} MB ({}; was {} MB); {restored}",
                self.strategy, self.balanced_weight, self.architecture, self.original_memory_mb
            ),
            None => format!("no size ran without errors: no best size; {restored}"),
        }
    }

    /// The table for a terminal.
    pub fn to_table(&self) -> String {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED).set_header(Self::header());
        for r in self.rows() {
            t.add_row(r);
        }
        format!("{t}\n{}", self.verdict())
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let h = Self::header();
        let mut s = format!(
            "### Memory sweep: {}\n\n| {} |\n|{}\n",
            self.function,
            h.join(" | "),
            "---|".repeat(h.len())
        );
        for r in self.rows() {
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        s.push('\n');
        s.push_str(&self.verdict());
        s.push('\n');
        s
    }

    /// Duration and cost against memory.
    pub fn chart(&self) -> LineChart {
        let pts = |f: &dyn Fn(&SizeResult) -> Option<f64>| {
            self.sizes
                .iter()
                .map(|s| (f64::from(s.memory_mb), f(s)))
                .collect()
        };
        LineChart {
            title: format!("{}: duration and cost by memory", self.function),
            x_label: "memory (MB)".into(),
            left_label: "ms".into(),
            right_label: "USD per 1M warm invocations".into(),
            lines: vec![
                Line {
                    name: "warm p50".into(),
                    colour: "#2a7",
                    axis: Axis::Left,
                    points: pts(&|s| s.warm_duration_ms.as_ref().and_then(|x| x.p50)),
                },
                Line {
                    name: "cold total p50".into(),
                    colour: "#57c",
                    axis: Axis::Left,
                    points: pts(&|s| s.cold_total_ms.as_ref().and_then(|x| x.p50)),
                },
                Line {
                    name: "cost".into(),
                    colour: "#d22",
                    axis: Axis::Right,
                    points: pts(&|s| s.warm_cost_usd.map(|c| c * 1e6)),
                },
            ],
        }
    }

    /// The answer first: the chosen size with its warm p50 and cost.
    pub fn headline(&self) -> Vec<(String, String)> {
        let best = self
            .sizes
            .iter()
            .find(|s| Some(s.memory_mb) == self.best_memory_mb);
        let mut h = vec![(
            format!("best by {}", self.strategy),
            self.best_memory_mb.map_or("none".into(), |m| {
                format!("{m} MB (was {} MB)", self.original_memory_mb)
            }),
        )];
        if let Some(b) = best {
            h.push((
                "its warm p50".into(),
                format!(
                    "{} ms",
                    fmt_opt(b.warm_duration_ms.as_ref().and_then(|x| x.p50), 2)
                ),
            ));
            h.push((
                "its cost".into(),
                format!(
                    "${} per 1M warm",
                    fmt_opt(b.warm_cost_usd.map(|c| c * 1e6), 4)
                ),
            ));
        }
        h.push((
            "configuration".into(),
            if self.restored {
                "restored"
            } else {
                "NOT VERIFIED"
            }
            .into(),
        ));
        h
    }

    /// A self-contained HTML page.
    pub fn to_html(&self) -> String {
        page::document(
            &format!("Memory sweep: {}", self.function),
            &format!(
                "{} sizes, {}; {}",
                self.sizes.len(),
                self.architecture,
                self.verdict()
            ),
            &self.headline(),
            &format!(
                "<h2>Sizes</h2>{}{}",
                page::table(&Self::header(), &self.rows()),
                page::charts(&[self.chart().to_svg()])
            ),
        )
    }

    /// Writes `report.json`, `report.md` and `report.html` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)? + "\n";
        page::write_files(
            dir,
            &[
                ("report.json", &json),
                ("report.md", &self.to_markdown()),
                ("report.html", &self.to_html()),
            ],
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Phase;

    fn s(phase: Phase, cold: bool, duration: f64, billed: u64, status: &str) -> Sample {
        let mut x = Sample::new(phase, 0, chrono::Utc::now(), duration + 1.0);
        x.request_id = Some("r".into());
        x.report_source = Some(crate::sample::ReportSource::Tail);
        x.cold = cold;
        x.init_ms = cold.then_some(20.0);
        x.duration_ms = Some(duration);
        x.cold_total_ms = cold.then_some(20.0 + duration);
        x.billed_ms = Some(billed);
        x.max_memory_used_mb = Some(30);
        x.status = status.into();
        x
    }

    fn size(mem: u32, warm_ms: f64, errors: bool) -> SizeResult {
        let cold = vec![s(
            Phase::Cold,
            true,
            warm_ms,
            (warm_ms + 20.0) as u64,
            "success",
        )];
        let mut warm: Vec<Sample> = (0..4)
            .map(|_| {
                s(
                    Phase::Warm,
                    false,
                    warm_ms,
                    warm_ms.ceil() as u64,
                    "success",
                )
            })
            .collect();
        if errors {
            warm.push(s(Phase::Warm, false, 3000.0, 3000, "timeout"));
        }
        SizeResult::from_samples(mem, &cold, &warm, |m, b| f64::from(m) / 1024.0 * b / 1000.0)
    }

    #[test]
    fn size_figures_exclude_failures_and_cold_from_warm() {
        let r = size(256, 10.0, true);
        assert_eq!(r.errors, 1);
        assert_eq!(r.warm_duration_ms.as_ref().unwrap().n, 4);
        assert_eq!(r.cold_total_ms.as_ref().unwrap().n, 1);
        assert!((r.warm_cost_usd.unwrap() - 0.25 * 0.010).abs() < 1e-12);
        assert!(!r.candidate().healthy);
        assert!(size(256, 10.0, false).candidate().healthy);
    }

    #[test]
    fn best_size_and_rendering() {
        let sizes = vec![
            size(128, 40.0, false),
            size(256, 18.0, false),
            size(512, 9.5, true),
        ];
        let r = PowerReport::build(
            "fn",
            "arm64",
            256,
            Strategy::Speed,
            0.5,
            sizes,
            vec![],
            vec![],
            true,
        );
        // 512 is fastest but failed: 256 wins on speed.
        assert_eq!(r.best_memory_mb, Some(256));
        assert_eq!(r.scores[2], None);
        let table = r.to_table();
        assert!(
            table.contains("256 ◀ best") && table.contains("restored"),
            "{table}"
        );
        let md = r.to_markdown();
        assert!(
            md.lines().filter(|l| l.starts_with("| ")).count() == 4,
            "{md}"
        );
        let html = r.to_html();
        assert!(html.contains("<svg") && html.contains("USD per 1M"));
        assert!(html.find("256 MB (was 256 MB)").unwrap() < html.find("<table").unwrap());
        let dir = tempfile::tempdir().unwrap();
        r.write(dir.path()).unwrap();
        let back: PowerReport =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(back.best_memory_mb, Some(256));
    }

    #[test]
    fn unverified_restore_is_loud() {
        let r = PowerReport::build(
            "fn",
            "x86_64",
            128,
            Strategy::Cost,
            0.5,
            vec![],
            vec![128],
            vec![],
            false,
        );
        assert_eq!(r.best_memory_mb, None);
        assert!(r.verdict().contains("NOT VERIFIED"));
    }
}
