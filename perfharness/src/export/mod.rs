//! The run report: its data model (`report.json`, stable field names), the
//! writers of the run directory (`report.json`, `report.md`, `report.html`)
//! and the terminal rendering; the load and power pages. Every page is
//! built from the one page frame, escaper and step-summary writer in
//! [`page`] and the one SVG chart module [`chart`].

pub mod chart;
pub mod compare;
pub mod html;
pub mod load;
pub mod markdown;
pub mod page;
pub mod power;
pub mod terminal;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analysis::metrics::Metrics;
use crate::analysis::targets::TargetResult;
use crate::aws::control::FunctionInfo;
use crate::aws::guard::RestoreReport;
use crate::error::HarnessError;
use crate::platform::MalformedLine;
use crate::sample::Sample;

/// Identifier of the `report.json` format; bumped only on breaking changes.
pub const SCHEMA: &str = "perfharness.run/1";

/// Where and how the run was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// Region.
    pub region: String,
    /// Custom endpoint, if any.
    pub endpoint_url: Option<String>,
    /// True for `--local` (mock-vanta + emulator).
    pub local: bool,
    /// With `--local`: the CPUs functions ran on, apart from the harness and
    /// the servers (absent: every CPU shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_cpus: Option<Vec<usize>>,
    /// perfharness version.
    pub harness_version: String,
}

impl RunContext {
    /// How a `--local` run placed the function, for a report's header:
    /// `functions on CPU 1 of their own` or `CPUs shared`; `None` on AWS.
    pub fn local_cpus(&self) -> Option<String> {
        if !self.local {
            return None;
        }
        Some(match &self.function_cpus {
            Some(cpus) => format!(
                "functions on CPU {} of their own",
                emulator::affinity::CpuSet::of(cpus)
            ),
            None => "CPUs shared with the servers".to_string(),
        })
    }
}

/// The settings the run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Cold samples asked for.
    pub cold_samples: usize,
    /// Warm samples asked for (sequential; the same again in parallel).
    pub warm_samples: usize,
    /// Parallel invokes in the concurrent phase.
    pub concurrency: usize,
    /// Re-force limit per cold sample.
    pub max_reforce: u32,
    /// `tail`, `logs` or `both`.
    pub log_source: crate::options::LogSource,
    /// CloudWatch Logs polling bound, s.
    pub logs_timeout_s: f64,
    /// Payload size, bytes.
    pub payload_bytes: usize,
}

/// How REPORT retrieval went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogsSummary {
    /// Samples whose REPORT came from the Invoke tail.
    pub from_tail: usize,
    /// Samples whose REPORT came from CloudWatch Logs.
    pub from_logs: usize,
    /// Samples cross-checked against CloudWatch Logs (`both`).
    pub cross_checked: usize,
    /// Samples whose tail and Logs REPORTs differ.
    pub discrepancies: usize,
    /// Samples whose REPORT was never found (request ids listed).
    pub missing: Vec<String>,
    /// Platform lines that could not be parsed.
    pub malformed: Vec<MalformedLine>,
    /// Why CloudWatch Logs could not be read, if it could not.
    pub error: Option<String>,
}

/// Control-plane retries made during the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlPlane {
    /// ResourceConflictException answers retried.
    pub conflicts_retried: u64,
    /// Throttles retried.
    pub throttles_retried: u64,
    /// Other retried errors.
    pub other_retried: u64,
}

/// How a run ended (`completed`, `interrupted` or `failed` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every planned sample was taken.
    Completed,
    /// Stopped by SIGINT, SIGTERM or SIGHUP (after restoring).
    Interrupted,
    /// Stopped by an error.
    Failed,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Completed => "completed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
        })
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// Completed, interrupted or failed.
    pub status: RunStatus,
    /// The error of a failed run.
    pub error: Option<String>,
    /// True when every target passed (and the run completed).
    pub targets_met: bool,
}

/// Everything about one run; serialised as `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// `full`, `cold` or `warm`.
    pub command: String,
    /// Start of the run.
    pub started_at: DateTime<Utc>,
    /// End of the run.
    pub finished_at: DateTime<Utc>,
    /// The function measured.
    pub function: FunctionInfo,
    /// Where the run was made.
    pub context: RunContext,
    /// Settings used.
    pub settings: Settings,
    /// Every sample, warm-up included (marked by its phase).
    pub samples: Vec<Sample>,
    /// Every statistic.
    pub metrics: Metrics,
    /// The targets file used, if any.
    pub targets_file: Option<String>,
    /// Target verdicts.
    pub targets: Vec<TargetResult>,
    /// REPORT retrieval.
    pub logs: LogsSummary,
    /// Control-plane retries.
    pub control_plane: ControlPlane,
    /// Restore of the configuration (`None` only if no snapshot was taken).
    pub restore: Option<RestoreReport>,
    /// How the run ended.
    pub outcome: RunOutcome,
}

impl RunReport {
    /// Reads `report.json` from a run directory.
    pub fn load(run_dir: &Path) -> Result<RunReport, HarnessError> {
        let path = run_dir.join("report.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            HarnessError::Usage(format!(
                "cannot read {} ({e}); is {} a run directory?",
                path.display(),
                run_dir.display()
            ))
        })?;
        serde_json::from_str(&text).map_err(|e| {
            HarnessError::Usage(format!(
                "{} is not a perfharness report ({e})",
                path.display()
            ))
        })
    }

    /// Writes `report.json`, `report.md` and `report.html` into `dir`
    /// (created if needed) and appends the Markdown to
    /// `$GITHUB_STEP_SUMMARY` when that is set. Returns the paths written.
    pub fn write_all(&self, dir: &Path) -> Result<Vec<PathBuf>, HarnessError> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| HarnessError::Infrastructure(e.to_string()))?;
        let md = markdown::render(self);
        let written = page::write_files(
            dir,
            &[
                ("report.json", &json),
                ("report.md", &md),
                ("report.html", &html::render(self)),
            ],
        )
        .map_err(|e| HarnessError::io(dir, e))?;
        page::append_step_summary(&md).map_err(|e| HarnessError::Infrastructure(e.to_string()))?;
        Ok(written)
    }

    /// Samples of `phase` (warm-up excluded unless asked for).
    pub fn samples_of(&self, phase: crate::sample::Phase) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(move |s| s.phase == phase)
    }
}

pub use crate::analysis::stats::{fmt_num, fmt_opt};

/// The footnote every statistics table carries.
pub const NA_RULE: &str =
    "n/a: a percentile pXX is shown only with n >= 100/(100-XX) samples (p50 2, p90 10, p95 20, p99 100)";

/// The headline metrics charted in every report.
pub const HEADLINES: &[&str] = &[
    "cold.init_ms",
    "cold.total_ms",
    "warm.duration_ms",
    "warm.client_ms",
];

/// The answer first: the figures a reader looks for, as (label, value)
/// pairs every renderer shows at the top (cold penalty in ms with its
/// interval and as a multiple of a warm call, warm p50/p99, memory, targets
/// passed). Figures the run did not measure are left out.
pub fn headline(r: &RunReport) -> Vec<(&'static str, String)> {
    let sc = &r.metrics.scalars;
    let dist = |k: &str| r.metrics.distributions.get(k);
    let mut h = Vec::new();
    if let Some(p) = sc.get("cold.penalty_ms") {
        let interval = match (
            sc.get("cold.penalty_low_ms"),
            sc.get("cold.penalty_high_ms"),
        ) {
            (Some(lo), Some(hi)) => format!(" (95 % interval {}–{})", fmt_num(*lo), fmt_num(*hi)),
            _ => String::new(),
        };
        h.push(("cold penalty", format!("{} ms{interval}", fmt_num(*p))));
    }
    if let Some(x) = sc.get("cold.penalty_x") {
        h.push(("a cold call costs", format!("{x:.1} warm calls")));
    }
    if let Some(w) = dist("warm.duration_ms") {
        let ms = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{} ms", fmt_num(v)));
        h.push((
            "warm duration",
            format!("p50 {}, p99 {}", ms(w.p50), ms(w.p99)),
        ));
    }
    if let Some(m) = dist("memory.max_used_mb") {
        h.push((
            "memory",
            format!("{} MB max of {} MB", fmt_num(m.max), r.function.memory_mb),
        ));
    }
    if !r.targets.is_empty() {
        let passed = r
            .targets
            .iter()
            .filter(|t| t.verdict == crate::analysis::targets::Verdict::Pass)
            .count();
        h.push(("targets", format!("{passed} of {} passed", r.targets.len())));
    }
    h
}

/// Rows of a metric table: (metric, description, summary) for metrics with data.
pub(crate) fn metric_rows(
    r: &RunReport,
) -> Vec<(&'static str, &'static str, &crate::analysis::stats::Summary)> {
    crate::analysis::metrics::DISTRIBUTIONS
        .iter()
        .filter_map(|(k, d)| r.metrics.distributions.get(*k).map(|s| (*k, *d, s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(fmt_num(30.0), "30");
        assert_eq!(fmt_num(12.3456), "12.35");
        assert_eq!(fmt_num(0.000413), "0.000413");
        assert_eq!(fmt_num(f64::NAN), "n/a");
        assert_eq!(fmt_opt(None), "n/a");
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A synthetic run, for the renderers' tests.
    use super::*;
    use crate::sample::{Phase, ReportSource, Sample};

    pub fn sample(phase: Phase, i: usize, cold: bool, duration: f64) -> Sample {
        let mut s = Sample::new(phase, i, chrono::Utc::now(), duration + 5.0);
        s.request_id = Some(format!("{}-{i}", phase.as_str()));
        s.cold = cold;
        s.init_ms = cold.then_some(20.0 + i as f64);
        s.duration_ms = Some(duration);
        s.cold_total_ms = s.init_ms.map(|x| x + duration);
        s.billed_ms = Some((duration + s.init_ms.unwrap_or(0.0)).ceil() as u64);
        s.max_memory_used_mb = Some(30 + i as u64 % 5);
        s.memory_size_mb = Some(128);
        s.report_source = Some(ReportSource::Tail);
        s.force_attempts = u32::from(phase == Phase::Cold);
        s
    }

    pub fn run_report(targets_toml: &str) -> RunReport {
        let mut samples: Vec<Sample> = (0..20)
            .map(|i| sample(Phase::Cold, i, true, 3.0 + i as f64 / 10.0))
            .collect();
        samples
            .extend((0..100).map(|i| sample(Phase::Warm, i, false, 1.0 + (i % 7) as f64 / 10.0)));
        samples.push(sample(Phase::Warm, 100, true, 2.0)); // a warm sample that came back cold
        let mut missing = sample(Phase::Warm, 101, false, 1.0);
        missing.report_source = None;
        missing.duration_ms = None;
        samples.push(missing);
        let prices = crate::analysis::cost::PriceTable::default();
        let metrics = crate::analysis::metrics::compute(&samples, "x86_64", 128, &prices, 1);
        let targets = crate::analysis::targets::parse(targets_toml, "t.toml").unwrap();
        let results = crate::analysis::targets::evaluate(&targets, &metrics);
        let met = crate::analysis::targets::all_met(&results);
        RunReport {
            schema: SCHEMA.into(),
            command: "full".into(),
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
            function: FunctionInfo {
                name: "fn<&>\"".into(),
                arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
                memory_mb: 128,
                timeout_s: 3,
                architecture: "x86_64".into(),
                runtime: Some("provided.al2023".into()),
                log_format: "Text".into(),
                log_group: "/aws/lambda/f".into(),
                revision_id: Some("r1".into()),
                environment: Default::default(),
            },
            context: RunContext {
                region: "us-east-1".into(),
                endpoint_url: None,
                local: true,
                function_cpus: Some(vec![1]),
                harness_version: "0".into(),
            },
            settings: Settings {
                cold_samples: 20,
                warm_samples: 100,
                concurrency: 1,
                max_reforce: 6,
                log_source: crate::options::LogSource::Both,
                logs_timeout_s: 60.0,
                payload_bytes: 2,
            },
            samples,
            metrics,
            targets_file: Some("t.toml".into()),
            targets: results,
            logs: LogsSummary {
                missing: vec!["warm-101".into()],
                malformed: vec![MalformedLine {
                    line_no: 3,
                    reason: "REPORT without Duration".into(),
                    line: "REPORT RequestId: x <b>".into(),
                }],
                ..Default::default()
            },
            control_plane: ControlPlane::default(),
            restore: Some(RestoreReport {
                fields_restored: vec!["Environment".into()],
                verified: true,
                concurrent_change: false,
                leftover_nonce_removed: false,
                message: "configuration restored and verified (Environment)".into(),
            }),
            outcome: RunOutcome {
                status: RunStatus::Completed,
                error: None,
                targets_met: met,
            },
        }
    }
}

#[cfg(test)]
mod render_tests {
    use super::fixtures::run_report;
    use super::*;

    /// Every format's header says where a `--local` run put the function.
    #[test]
    fn headers_say_how_the_cpus_were_shared() {
        let mut r = run_report("");
        assert_eq!(
            r.context.local_cpus().as_deref(),
            Some("functions on CPU 1 of their own")
        );
        let own = "functions on CPU 1 of their own";
        assert!(markdown::render(&r)
            .lines()
            .take(5)
            .any(|l| l.contains(own)));
        assert!(html::render(&r).contains(own));
        assert!(terminal::render(&r, false).contains(own));
        r.context.function_cpus = Some(vec![2, 3]);
        assert!(markdown::render(&r).contains("functions on CPU 2,3 of their own"));
        r.context.function_cpus = None;
        assert!(markdown::render(&r).contains("CPUs shared with the servers"));
        r.context.local = false;
        assert_eq!(r.context.local_cpus(), None);
        let md = markdown::render(&r);
        assert!(!md.contains("of their own") && !md.contains("CPUs shared"));
        let json = serde_json::to_value(&r.context).unwrap();
        assert!(
            json.get("function_cpus").is_none(),
            "absent when shared: {json}"
        );
        let old: RunContext = serde_json::from_value(serde_json::json!({
            "region": "us-east-1", "endpoint_url": null, "local": true, "harness_version": "0"
        }))
        .unwrap();
        assert_eq!(
            old.function_cpus, None,
            "a report from before the field still reads"
        );
    }

    /// The cold penalty of the synthetic run: cold totals 23 + 1.1 i ms
    /// (i < 20, nearest-rank median 32.9), warm durations 1.0-1.6 ms
    /// (median 1.3); a target can name it.
    #[test]
    fn cold_penalty_with_its_interval_and_target() {
        let r = run_report("\"cold.penalty_ms\" = \"<= 30\"\n\"cold.penalty_x\" = \"<= 30\"\n");
        let sc = &r.metrics.scalars;
        let p = sc["cold.penalty_ms"];
        assert!((p - 31.6).abs() < 1e-9, "{p}");
        assert!(sc["cold.penalty_low_ms"] <= p && p <= sc["cold.penalty_high_ms"]);
        assert!(sc["cold.penalty_high_ms"] - sc["cold.penalty_low_ms"] < 10.0);
        assert!((sc["cold.penalty_x"] - 32.9 / 1.3).abs() < 1e-9);
        let verdicts: Vec<_> = r
            .targets
            .iter()
            .map(|t| (t.key.as_str(), t.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("cold.penalty_ms", crate::analysis::targets::Verdict::Fail),
                ("cold.penalty_x", crate::analysis::targets::Verdict::Pass)
            ]
        );
    }

    /// Checks that every tag is closed in order (void elements written as
    /// `<x/>`), attributes are quoted and no raw `<`/`&` leaks from text.
    fn assert_well_formed(html: &str) {
        let body = html.strip_prefix("<!DOCTYPE html>\n").expect("doctype");
        let mut stack: Vec<String> = Vec::new();
        let mut rest = body;
        while let Some(lt) = rest.find('<') {
            let text = &rest[..lt];
            for (i, _) in text.match_indices('&') {
                let ent = &text[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                        .iter()
                        .any(|e| ent.starts_with(e)),
                    "bare & in text: {}",
                    &ent[..ent.len().min(20)]
                );
            }
            let gt = rest[lt..].find('>').expect("unterminated tag") + lt;
            let tag = &rest[lt + 1..gt];
            assert!(!tag.contains('<'), "'<' inside tag {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack
                    .pop()
                    .unwrap_or_else(|| panic!("closing {name} with nothing open"));
                assert_eq!(open, name.trim(), "mismatched tags");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap().to_string();
                assert_eq!(
                    tag.matches('"').count() % 2,
                    0,
                    "unbalanced quotes in <{tag}>"
                );
                stack.push(name);
            }
            rest = &rest[gt + 1..];
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        assert!(
            !html.contains("http://")
                || html
                    .matches("http://")
                    .all(|_| html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
        );
        assert!(!html.contains("<script"), "no scripts");
        assert!(!html.contains("src=\"http"), "no network fetches");
    }

    fn json_close(a: &serde_json::Value, b: &serde_json::Value, path: &str) {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!(
                    (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                    "{path}: {x} != {y}"
                );
            }
            (Value::Object(x), Value::Object(y)) => {
                assert_eq!(x.len(), y.len(), "{path}: keys differ");
                for (k, v) in x {
                    json_close(
                        v,
                        y.get(k).unwrap_or_else(|| panic!("{path}.{k} missing")),
                        &format!("{path}.{k}"),
                    );
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{path}: lengths differ");
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    json_close(v, w, &format!("{path}[{i}]"));
                }
            }
            _ => assert_eq!(a, b, "{path}"),
        }
    }

    #[test]
    fn report_json_round_trips_and_every_file_is_written() {
        let r = run_report("\"cold.init_ms.p50\" = \"<= 100\"\n\"warm.duration_ms.p99\" = \"<= 10\"\n\"errors.rate\" = 0\n");
        let dir = tempfile::tempdir().unwrap();
        let written = r.write_all(dir.path()).unwrap();
        assert_eq!(written.len(), 3);
        let back = RunReport::load(dir.path()).unwrap();
        // serde_json may round the last bit of a float on the way back, so
        // compare as JSON with a relative tolerance.
        json_close(
            &serde_json::to_value(&back).unwrap(),
            &serde_json::to_value(&r).unwrap(),
            "$",
        );
        assert_eq!(back.samples.len(), r.samples.len());
        assert_eq!(back.targets, r.targets);
        assert_eq!(back.restore, r.restore);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
                .unwrap();
        // Stable names scripts read.
        for k in [
            "schema", "samples", "metrics", "targets", "restore", "outcome", "logs",
        ] {
            assert!(json.get(k).is_some(), "{k}");
        }
        assert_eq!(json["metrics"]["distributions"]["cold.init_ms"]["n"], 20);
        assert_eq!(json["samples"][0]["phase"], "cold");
        assert!(
            json["function"].get("environment").is_none(),
            "environment values never reach reports"
        );
        assert!(r.outcome.targets_met);
    }

    #[test]
    fn warm_sample_that_came_back_cold_is_kept_out_of_warm_figures() {
        let r = run_report("");
        assert_eq!(r.metrics.distributions["warm.duration_ms"].n, 100);
        let rate = r.metrics.scalars["cold_start.rate"];
        assert!((rate - 1.0 / 101.0).abs() < 1e-12, "{rate}");
        assert_eq!(r.metrics.scalars["samples.missing"], 1.0);
        assert!(r.metrics.distributions["cold.init_ms"].p95.is_some());
        assert!(r.metrics.distributions["cold.init_ms"].p99.is_none());
    }

    #[test]
    fn html_is_well_formed_and_self_contained() {
        let r = run_report("\"cold.init_ms.p50\" = \"<= 1\"\n");
        let html = html::render(&r);
        assert_well_formed(&html);
        assert!(html.contains("<svg"), "charts present");
        assert!(html.contains("CDF"));
        assert!(html.contains("fn&lt;&amp;&gt;&quot;"), "names escaped");
        assert!(html.contains("class=\"FAIL\""));
    }

    #[test]
    fn markdown_and_terminal_show_targets_missing_and_restore() {
        let r = run_report("\"cold.init_ms.p50\" = \"<= 1\"\n\"cold.init_ms.p99\" = \"<= 1000\"\n");
        let md = markdown::render(&r);
        assert!(md.contains("| `cold.init_ms.p50` | <= 1 |"), "{md}");
        assert!(md.contains("FAIL"));
        assert!(md.contains("NO DATA"));
        assert!(md.contains("1 sample(s) without a REPORT line"));
        assert!(md.contains("restored and verified"));
        let term = terminal::render(&r, false);
        assert!(
            term.contains("FAIL") && !term.contains("\x1b["),
            "no colour when asked for none"
        );
        assert!(term.contains("warm sample(s) came back cold"));
        assert!(term.contains("have no REPORT line"));
        assert!(term.contains("could not be parsed"));
        assert!(term.contains('█'), "ASCII histogram");
        let coloured = terminal::render(&r, true);
        assert!(
            coloured.contains(&terminal::paint_verdict("FAIL", true))
                && terminal::paint_verdict("FAIL", true).contains("\x1b["),
            "{coloured}"
        );
    }

    #[test]
    fn github_step_summary_gets_the_markdown() {
        let dir = tempfile::tempdir().unwrap();
        let summary = dir.path().join("summary.md");
        std::fs::write(&summary, "before\n").unwrap();
        let r = run_report("");
        // SAFETY of set_var: this is the only test touching this variable.
        unsafe { std::env::set_var("GITHUB_STEP_SUMMARY", &summary) };
        r.write_all(&dir.path().join("run")).unwrap();
        unsafe { std::env::remove_var("GITHUB_STEP_SUMMARY") };
        let text = std::fs::read_to_string(&summary).unwrap();
        assert!(text.starts_with("before\n## perfharness full"), "{text}");
    }
}
