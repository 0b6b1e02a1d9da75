//! The load run's report: figures, time series and samples, written as
//! `report.json`, `report.md` and a self-contained `report.html`.

use std::collections::BTreeMap;
use std::path::Path;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::{Deserialize, Serialize};

use super::chart::{Axis, Line, LineChart};
use super::page;
use crate::analysis::stats::{fmt_opt, Summary};
use crate::measure::schedule::StopReason;
use crate::measure::series::{peak_in_flight, per_second, LoadSample, Outcome, SecondStats};

/// What was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadPlan {
    /// `open` (a rate) or `closed` (workers).
    pub model: String,
    /// Target rate after the ramp, per second (open model).
    pub rate_per_s: Option<f64>,
    /// Workers (closed model).
    pub concurrency: Option<u32>,
    /// Duration bound, s.
    pub duration_s: f64,
    /// Ramp, s.
    pub ramp_s: f64,
    /// Count bound.
    pub max_invocations: u64,
    /// Open model: most invocations outstanding at once.
    pub max_in_flight: usize,
}

/// Everything a load run measured. Field names are stable (`report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The function.
    pub function: String,
    /// Endpoint (`aws` or the emulator's URL).
    pub target: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// What was asked for.
    pub plan: LoadPlan,
    /// Why it stopped.
    pub stop: StopReason,
    /// Wall time, s.
    pub elapsed_s: f64,
    /// Invocations that completed (any outcome).
    pub invocations: u64,
    /// Successful invocations.
    pub ok: u64,
    /// 429 answers.
    pub throttles: u64,
    /// Failures by error type.
    pub errors: BTreeMap<String, u64>,
    /// Completions that were cold starts.
    pub cold_starts: u64,
    /// Successful invocations whose REPORT was not found in the tail.
    pub missing_reports: u64,
    /// Invocations abandoned in flight after Ctrl-C's grace period.
    pub abandoned: u64,
    /// Successful invocations per second over the whole run.
    pub throughput_ok_per_s: f64,
    /// Best one-second successful throughput.
    pub peak_ok_per_s: u64,
    /// Most invocations in flight at once.
    pub peak_in_flight: u64,
    /// Client latency from the scheduled start, ms (successes only).
    pub client_latency_ms: Option<Summary>,
    /// Round trip from the moment the request left, ms (successes only).
    pub service_ms: Option<Summary>,
    /// Lambda Duration from REPORT, ms.
    pub lambda_duration_ms: Option<Summary>,
    /// Lambda Init Duration of the cold starts under load, ms.
    pub init_ms: Option<Summary>,
    /// Per-second time series.
    pub series: Vec<SecondStats>,
    /// Every invocation.
    pub samples: Vec<LoadSample>,
}

impl LoadReport {
    /// Builds the report from a run's samples.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        function: &str,
        target: &str,
        started_at: &str,
        plan: LoadPlan,
        stop: StopReason,
        elapsed_s: f64,
        abandoned: u64,
        samples: Vec<LoadSample>,
    ) -> Self {
        let series = per_second(&samples);
        let mut errors = BTreeMap::new();
        let (mut ok, mut throttles, mut missing) = (0u64, 0u64, 0u64);
        for s in &samples {
            match &s.outcome {
                Outcome::Ok => {
                    ok += 1;
                    if s.duration_ms.is_none() {
                        missing += 1;
                    }
                }
                Outcome::Throttled => throttles += 1,
                Outcome::FunctionError(t) | Outcome::ClientError(t) => {
                    *errors.entry(t.clone()).or_insert(0) += 1
                }
            }
        }
        let oks = || samples.iter().filter(|s| s.outcome == Outcome::Ok);
        let summary = |v: Vec<f64>| Summary::from_values(&v);
        LoadReport {
            function: function.to_string(),
            target: target.to_string(),
            started_at: started_at.to_string(),
            plan,
            stop,
            elapsed_s,
            invocations: samples.len() as u64,
            ok,
            throttles,
            errors,
            cold_starts: samples.iter().filter(|s| s.cold).count() as u64,
            missing_reports: missing,
            abandoned,
            throughput_ok_per_s: if elapsed_s > 0.0 {
                ok as f64 / elapsed_s
            } else {
                0.0
            },
            peak_ok_per_s: series.iter().map(|s| s.ok).max().unwrap_or(0),
            peak_in_flight: peak_in_flight(&samples),
            client_latency_ms: summary(oks().map(LoadSample::latency_ms).collect()),
            service_ms: summary(oks().map(LoadSample::service_ms).collect()),
            lambda_duration_ms: summary(samples.iter().filter_map(|s| s.duration_ms).collect()),
            init_ms: summary(samples.iter().filter_map(|s| s.init_ms).collect()),
            series,
            samples,
        }
    }

    fn plan_line(&self) -> String {
        let p = &self.plan;
        let what = match (p.rate_per_s, p.concurrency) {
            (Some(r), _) => format!("open model, {r} invocations/s"),
            (_, Some(c)) => format!("closed model, {c} workers"),
            _ => p.model.clone(),
        };
        format!(
            "{what}, duration {}s, ramp {}s, max {} invocations; stopped by {}",
            p.duration_s,
            p.ramp_s,
            p.max_invocations,
            match self.stop {
                StopReason::Duration => "duration",
                StopReason::MaxCount => "count",
                StopReason::Interrupted => "interrupt (report covers what ran)",
            }
        )
    }

    fn rows(&self) -> Vec<(String, String)> {
        let f = |s: &Option<Summary>, p: fn(&Summary) -> Option<f64>| {
            s.as_ref()
                .and_then(p)
                .map_or("n/a".to_string(), |v| format!("{v:.2}"))
        };
        let errors: u64 = self.errors.values().sum();
        let mut rows = vec![
            ("invocations".into(), self.invocations.to_string()),
            ("ok".into(), self.ok.to_string()),
            (
                "throughput (ok/s, whole run)".into(),
                format!("{:.1}", self.throughput_ok_per_s),
            ),
            (
                "peak ok/s (one second)".into(),
                self.peak_ok_per_s.to_string(),
            ),
            ("throttles (429)".into(), self.throttles.to_string()),
            ("errors".into(), errors.to_string()),
        ];
        for (t, n) in &self.errors {
            rows.push((format!("  {t}"), n.to_string()));
        }
        rows.extend([
            ("cold starts".into(), self.cold_starts.to_string()),
            ("peak in flight".into(), self.peak_in_flight.to_string()),
            ("REPORT missing".into(), self.missing_reports.to_string()),
        ]);
        for (name, s) in [
            ("client latency", &self.client_latency_ms),
            ("lambda duration", &self.lambda_duration_ms),
            ("init (cold under load)", &self.init_ms),
        ] {
            rows.push((
                format!("{name} p50 / p90 / p99 / max (ms)"),
                format!(
                    "{} / {} / {} / {}",
                    f(s, |s| s.p50),
                    f(s, |s| s.p90),
                    f(s, |s| s.p99),
                    f(s, |s| Some(s.max))
                ),
            ));
        }
        if self.abandoned > 0 {
            rows.push(("abandoned in flight".into(), self.abandoned.to_string()));
        }
        rows
    }

    /// The summary table for a terminal.
    pub fn to_table(&self) -> String {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED)
            .set_header(vec!["load", &self.function]);
        for (k, v) in self.rows() {
            t.add_row(vec![k, v]);
        }
        format!("{}\n{t}", self.plan_line())
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "### Load test: {}\n\n{}\n\n| figure | value |\n|---|---:|\n",
            self.function,
            self.plan_line()
        );
        for (k, v) in self.rows() {
            s.push_str(&format!("| {} | {} |\n", k.trim(), v));
        }
        s
    }

    /// The answer first: throughput, latency, what failed, cold starts.
    pub fn headline(&self) -> Vec<(String, String)> {
        let lat = self.client_latency_ms.as_ref();
        vec![
            (
                "throughput".into(),
                format!(
                    "{:.1} ok/s (peak {}/s)",
                    self.throughput_ok_per_s, self.peak_ok_per_s
                ),
            ),
            (
                "client latency".into(),
                format!(
                    "p50 {} ms, p99 {} ms",
                    fmt_opt(lat.and_then(|s| s.p50)),
                    fmt_opt(lat.and_then(|s| s.p99))
                ),
            ),
            (
                "throttled / errors".into(),
                format!(
                    "{} / {} of {}",
                    self.throttles,
                    self.errors.values().sum::<u64>(),
                    self.invocations
                ),
            ),
            ("cold starts".into(), self.cold_starts.to_string()),
        ]
    }

    /// Throughput (offered, ok, throttled, errors, in flight) and client
    /// latency (p50, p99) per second.
    pub fn charts(&self) -> Vec<LineChart> {
        let pts = |f: &dyn Fn(&SecondStats) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
            self.series
                .iter()
                .map(|s| (s.second as f64, f(s)))
                .collect()
        };
        let line = |name: &str, colour, axis, points| Line {
            name: name.into(),
            colour,
            axis,
            points,
        };
        vec![
            LineChart {
                title: "Throughput per second".into(),
                x_label: "seconds since start".into(),
                left_label: "invocations / s".into(),
                right_label: "in flight".into(),
                lines: vec![
                    line(
                        "offered",
                        "#888",
                        Axis::Left,
                        pts(&|s| Some(s.offered as f64)),
                    ),
                    line("ok", "#2a7", Axis::Left, pts(&|s| Some(s.ok as f64))),
                    line(
                        "throttled",
                        "#e80",
                        Axis::Left,
                        pts(&|s| Some(s.throttles as f64)),
                    ),
                    line(
                        "errors",
                        "#d22",
                        Axis::Left,
                        pts(&|s| Some(s.errors.values().sum::<u64>() as f64)),
                    ),
                    line(
                        "in flight",
                        "#57c",
                        Axis::Right,
                        pts(&|s| Some(s.max_in_flight as f64)),
                    ),
                ],
            },
            LineChart {
                title: "Client latency per second (from scheduled start)".into(),
                x_label: "seconds since start".into(),
                left_label: "ms".into(),
                right_label: String::new(),
                lines: vec![
                    line("p50", "#2a7", Axis::Left, pts(&|s| s.latency_p50_ms)),
                    line("p99", "#d22", Axis::Left, pts(&|s| s.latency_p99_ms)),
                ],
            },
        ]
    }

    /// A self-contained HTML page: the headline, the table and the
    /// time-series charts.
    pub fn to_html(&self) -> String {
        let rows: Vec<Vec<String>> = self.rows().into_iter().map(|(k, v)| vec![k, v]).collect();
        let svgs: Vec<String> = self.charts().iter().map(LineChart::to_svg).collect();
        page::document(
            &format!("Load test: {}", self.function),
            &format!(
                "{}; target {}; started {}",
                self.plan_line(),
                self.target,
                self.started_at
            ),
            &self.headline(),
            &format!(
                "<h2>Figures</h2>{}<h2>Per second</h2>{}",
                page::table(&["figure", "value"], &rows),
                page::charts(&svgs)
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

    fn sample(at: f64, outcome: Outcome, duration: Option<f64>) -> LoadSample {
        LoadSample {
            scheduled_ms: at,
            sent_ms: at,
            done_ms: at + 5.0,
            request_id: None,
            outcome,
            cold: at == 0.0,
            duration_ms: duration,
            init_ms: (at == 0.0).then_some(12.0),
            billed_ms: duration,
        }
    }

    fn report() -> LoadReport {
        let samples = vec![
            sample(0.0, Outcome::Ok, Some(2.0)),
            sample(100.0, Outcome::Ok, None),
            sample(200.0, Outcome::Throttled, None),
            sample(
                1200.0,
                Outcome::FunctionError("Runtime.ExitError".into()),
                Some(3.0),
            ),
        ];
        let plan = LoadPlan {
            model: "open".into(),
            rate_per_s: Some(10.0),
            concurrency: None,
            duration_s: 2.0,
            ramp_s: 0.0,
            max_invocations: 100,
            max_in_flight: 10,
        };
        LoadReport::build(
            "f<x>",
            "local",
            "2026-11-26T17:00:00Z",
            plan,
            StopReason::Duration,
            2.0,
            0,
            samples,
        )
    }

    #[test]
    fn counts_and_summaries() {
        let r = report();
        assert_eq!(
            (
                r.invocations,
                r.ok,
                r.throttles,
                r.cold_starts,
                r.missing_reports
            ),
            (4, 2, 1, 1, 1)
        );
        assert_eq!(r.errors.get("Runtime.ExitError"), Some(&1));
        assert_eq!(r.throughput_ok_per_s, 1.0);
        assert_eq!(r.client_latency_ms.as_ref().unwrap().n, 2);
        assert_eq!(r.lambda_duration_ms.as_ref().unwrap().n, 2);
        assert_eq!(r.series.len(), 2);
    }

    #[test]
    fn renders_everywhere() {
        let r = report();
        let dir = tempfile::tempdir().unwrap();
        r.write(dir.path()).unwrap();
        let back: LoadReport =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(back.ok, 2);
        assert_eq!(back.series, r.series);
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(html.contains("<svg") && html.contains("f&lt;x&gt;") && !html.contains("<script"));
        assert!(r.to_markdown().contains("| throttles (429) | 1 |"));
        assert!(r.to_table().contains("Runtime.ExitError"));
        assert_eq!(r.charts().len(), 2);
        assert!(html.find("throughput").unwrap() < html.find("<table").unwrap());
    }
}
