//! Comparing a gate run with its baseline, and the table that shows it.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};
use serde::{Deserialize, Serialize};

use super::baseline::{Baseline, CompareMode, Measurement};

/// Default `--max-regression`, as a fraction. Measured: ten local gate
/// runs on an unchanged tree (20 rounds of best-of-3, 2-core machine loaded
/// by concurrent builds) against two baselines moved the ratios by at most
/// 41 % (largest growth +36 %, on p50); 50 % keeps such a machine from
/// failing a good change, while an init regression that matters (tens of
/// ms on a few-ms init) moves the ratios many-fold.
pub const DEFAULT_MAX_REGRESSION: f64 = 0.50;

/// A gate that cannot give a verdict: exit 2, never a pass.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GateError {
    /// `--max-regression` is not a percentage.
    #[error("--max-regression must be a percentage such as 15% (got {0:?})")]
    MaxRegression(String),
    /// Too few cold samples came back valid.
    #[error("only {valid} of {requested} cold samples of {function} were valid (need at least {needed}); the gate cannot judge, see the run's report for the failures")]
    TooFewSamples {
        /// Which function.
        function: String,
        /// Valid samples.
        valid: usize,
        /// Samples requested.
        requested: usize,
        /// Minimum needed.
        needed: usize,
    },
    /// `--samples` too small to give a p90.
    #[error("--samples {0} is too few for a p90; use at least {MIN_SAMPLES}")]
    SamplesTooSmall(usize),
    /// The baseline was made for another function or reference.
    #[error("the baseline is for {baseline}, this run measures {run}; pass the matching --function/--reference or re-create it with --update-baseline")]
    Mismatch {
        /// What the baseline names.
        baseline: String,
        /// What this run names.
        run: String,
    },
    /// The baseline compares in another mode (e.g. recorded on AWS, run locally).
    #[error("the baseline was recorded for {baseline} comparison but this run is {run}; record a baseline where you gate (--update-baseline)")]
    ModeMismatch {
        /// The baseline's mode.
        baseline: CompareMode,
        /// This run's mode.
        run: CompareMode,
    },
    /// A ratio comparison without a reference measurement.
    #[error("a ratio comparison needs the reference function's samples; pass --reference NAME")]
    NoReference,
}

/// The smallest `--samples` the gate accepts: below ten the p90 is the
/// maximum.
pub const MIN_SAMPLES: usize = 10;

/// Parses `--max-regression`: `15%` or `15` mean 15 %.
pub fn parse_max_regression(s: &str) -> Result<f64, GateError> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim();
    match num.parse::<f64>() {
        Ok(p) if p.is_finite() && (0.0..=1000.0).contains(&p) => Ok(p / 100.0),
        _ => Err(GateError::MaxRegression(s.to_string())),
    }
}

/// How many of `requested` cold samples must be valid: at least 80 % and
/// never fewer than [`MIN_SAMPLES`], so a flaky run cannot pass on a handful
/// of lucky samples.
pub fn min_valid(requested: usize) -> usize {
    MIN_SAMPLES.max((requested * 4).div_ceil(5))
}

/// Checks that `valid` of `requested` samples of `function` suffice.
pub fn check_valid(function: &str, valid: usize, requested: usize) -> Result<(), GateError> {
    let needed = min_valid(requested);
    if valid < needed {
        return Err(GateError::TooFewSamples {
            function: function.to_string(),
            valid,
            requested,
            needed,
        });
    }
    Ok(())
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// What is compared, e.g. `init p50 / reference`.
    pub metric: String,
    /// The baseline's figure.
    pub baseline: f64,
    /// This run's figure.
    pub now: f64,
    /// `now / baseline − 1` (0.10 = 10 % slower).
    pub change: f64,
    /// The largest change allowed.
    pub limit: f64,
    /// Whether `change <= limit`.
    pub pass: bool,
}

/// The whole comparison: its rows and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// How the figures were compared.
    pub mode: CompareMode,
    /// The function under test.
    pub function: String,
    /// The reference function, if any.
    pub reference: Option<String>,
    /// One row per compared figure.
    pub rows: Vec<Row>,
    /// True when every row passes.
    pub pass: bool,
    /// What the run measured, for the report.
    pub measured: Measurement,
}

fn row(metric: &str, baseline: f64, now: f64, limit: f64) -> Row {
    let change = if baseline > 0.0 {
        now / baseline - 1.0
    } else {
        f64::INFINITY
    };
    Row {
        metric: metric.to_string(),
        baseline,
        now,
        change,
        limit,
        pass: change <= limit,
    }
}

/// Compares a run with its baseline.
pub fn compare(
    baseline: &Baseline,
    function: &str,
    reference: Option<&str>,
    mode: CompareMode,
    measured: &Measurement,
    max_regression: f64,
) -> Result<Comparison, GateError> {
    if baseline.function != function {
        return Err(GateError::Mismatch {
            baseline: baseline.function.clone(),
            run: function.to_string(),
        });
    }
    if baseline.mode != mode {
        return Err(GateError::ModeMismatch {
            baseline: baseline.mode,
            run: mode,
        });
    }
    let rows = match mode {
        CompareMode::Ratio => {
            if baseline.reference.as_deref() != reference {
                return Err(GateError::Mismatch {
                    baseline: format!(
                        "reference {}",
                        baseline.reference.as_deref().unwrap_or("(none)")
                    ),
                    run: format!("reference {}", reference.unwrap_or("(none)")),
                });
            }
            let (Some(b), Some(n)) = (baseline.init.ratio, measured.ratio) else {
                return Err(GateError::NoReference);
            };
            vec![
                row("init p50 / reference p50", b.p50, n.p50, max_regression),
                row("init p90 / reference p50", b.p90, n.p90, max_regression),
            ]
        }
        CompareMode::Absolute => vec![
            row(
                "init p50 (ms)",
                baseline.init.function.p50_ms,
                measured.function.p50_ms,
                max_regression,
            ),
            row(
                "init p90 (ms)",
                baseline.init.function.p90_ms,
                measured.function.p90_ms,
                max_regression,
            ),
        ],
    };
    Ok(Comparison {
        mode,
        function: function.to_string(),
        reference: reference.map(str::to_string),
        pass: rows.iter().all(|r| r.pass),
        rows,
        measured: measured.clone(),
    })
}

fn fmt_value(v: f64, mode: CompareMode) -> String {
    match mode {
        CompareMode::Ratio => format!("{v:.3}"),
        CompareMode::Absolute => format!("{v:.2}"),
    }
}

fn fmt_change(c: f64) -> String {
    if c.is_finite() {
        format!("{:+.1}%", c * 100.0)
    } else {
        "n/a".into()
    }
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "FAIL"
    }
}

impl Comparison {
    /// The table for a terminal.
    pub fn to_table(&self) -> String {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED).set_header(vec![
            "metric", "baseline", "now", "change", "limit", "result",
        ]);
        for r in &self.rows {
            t.add_row(vec![
                Cell::new(&r.metric),
                Cell::new(fmt_value(r.baseline, self.mode)),
                Cell::new(fmt_value(r.now, self.mode)),
                Cell::new(fmt_change(r.change)),
                Cell::new(format!("+{:.0}%", r.limit * 100.0)),
                Cell::new(verdict(r.pass)),
            ]);
        }
        format!("{t}\n{}", self.summary_line())
    }

    /// One line saying what was decided and from what.
    pub fn summary_line(&self) -> String {
        let m = &self.measured;
        let reference = match (&self.reference, &m.reference) {
            (Some(name), Some(r)) => format!(
                "; {name} p50 {:.2} ms p90 {:.2} ms (n={})",
                r.p50_ms, r.p90_ms, r.n
            ),
            _ => String::new(),
        };
        format!(
            "gate {}: {} init p50 {:.2} ms p90 {:.2} ms (n={}){reference}; compared by {}",
            verdict(self.pass),
            self.function,
            m.function.p50_ms,
            m.function.p90_ms,
            m.function.n,
            self.mode
        )
    }

    /// The comparison as Markdown, for a pull request or `$GITHUB_STEP_SUMMARY`.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "### Init-duration gate: {}\n\n| metric | baseline | now | change | limit | result |\n|---|---:|---:|---:|---:|---|\n",
            verdict(self.pass)
        );
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {} | {} | +{:.0}% | {} |\n",
                r.metric,
                fmt_value(r.baseline, self.mode),
                fmt_value(r.now, self.mode),
                fmt_change(r.change),
                r.limit * 100.0,
                if r.pass { "✅ PASS" } else { "❌ FAIL" }
            ));
        }
        s.push('\n');
        s.push_str(&self.summary_line());
        s.push('\n');
        s
    }

    /// The comparison as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a comparison always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::super::baseline::{InitFigures, Machine, Ratios, SCHEMA};
    use super::*;

    fn measurement(fp50: f64, fp90: f64, rp50: f64, rp90: f64) -> Measurement {
        let f = InitFigures {
            n: 20,
            p50_ms: fp50,
            p90_ms: fp90,
        };
        let r = InitFigures {
            n: 20,
            p50_ms: rp50,
            p90_ms: rp90,
        };
        Measurement {
            function: f,
            reference: Some(r),
            ratio: Ratios::of(&f, &r),
        }
    }

    fn baseline(mode: CompareMode) -> Baseline {
        Baseline {
            schema: SCHEMA,
            function: "f".into(),
            reference: Some("ref".into()),
            mode,
            samples: 20,
            repeat: 1,
            init: measurement(30.0, 40.0, 10.0, 20.0),
            machine: Machine::current("local"),
            created: "2026-11-26T17:00:00Z".into(),
            tool_version: "0.1.0".into(),
        }
    }

    #[test]
    fn max_regression_forms() {
        assert_eq!(parse_max_regression("15%").unwrap(), 0.15);
        assert_eq!(parse_max_regression(" 20 ").unwrap(), 0.20);
        assert_eq!(parse_max_regression("0%").unwrap(), 0.0);
        assert!(parse_max_regression("-5%").is_err());
        assert!(parse_max_regression("fifteen").is_err());
        assert!(parse_max_regression("").is_err());
    }

    #[test]
    fn too_few_valid_samples_is_an_error() {
        assert_eq!(min_valid(20), 16);
        assert_eq!(min_valid(10), 10);
        assert_eq!(min_valid(100), 80);
        assert!(check_valid("f", 16, 20).is_ok());
        let e = check_valid("f", 15, 20).unwrap_err();
        assert!(e.to_string().contains("only 15 of 20"), "{e}");
    }

    #[test]
    fn slower_machine_passes_in_ratio_mode() {
        // Everything twice as slow: the ratio is unchanged.
        let c = compare(
            &baseline(CompareMode::Ratio),
            "f",
            Some("ref"),
            CompareMode::Ratio,
            &measurement(60.0, 80.0, 20.0, 40.0),
            0.15,
        )
        .unwrap();
        assert!(c.pass, "{}", c.to_table());
        assert!(c.rows.iter().all(|r| r.change.abs() < 1e-12));
    }

    #[test]
    fn slower_function_fails_in_ratio_mode() {
        let c = compare(
            &baseline(CompareMode::Ratio),
            "f",
            Some("ref"),
            CompareMode::Ratio,
            &measurement(36.0, 44.0, 10.0, 20.0),
            0.15,
        )
        .unwrap();
        assert!(!c.pass);
        assert!(!c.rows[0].pass && (c.rows[0].change - 0.2).abs() < 1e-9);
        assert!(c.rows[1].pass);
        let table = c.to_table();
        assert!(
            table.contains("FAIL") && table.contains("+20.0%"),
            "{table}"
        );
    }

    #[test]
    fn a_noisy_reference_tail_does_not_move_the_ratios() {
        let c = compare(
            &baseline(CompareMode::Ratio),
            "f",
            Some("ref"),
            CompareMode::Ratio,
            &measurement(30.0, 40.0, 10.0, 200.0),
            0.15,
        )
        .unwrap();
        assert!(c.pass, "{}", c.to_table());
    }

    #[test]
    fn absolute_mode_compares_milliseconds() {
        let b = baseline(CompareMode::Absolute);
        let m = Measurement {
            function: InitFigures {
                n: 20,
                p50_ms: 33.0,
                p90_ms: 47.0,
            },
            reference: None,
            ratio: None,
        };
        let c = compare(&b, "f", None, CompareMode::Absolute, &m, 0.15).unwrap();
        assert!(c.rows[0].pass);
        assert!(!c.rows[1].pass); // 47/40 = +17.5 %
        assert!(!c.pass);
    }

    #[test]
    fn mismatches_are_errors() {
        let b = baseline(CompareMode::Ratio);
        let m = measurement(30.0, 40.0, 10.0, 20.0);
        assert!(matches!(
            compare(&b, "g", Some("ref"), CompareMode::Ratio, &m, 0.15),
            Err(GateError::Mismatch { .. })
        ));
        assert!(matches!(
            compare(&b, "f", Some("other"), CompareMode::Ratio, &m, 0.15),
            Err(GateError::Mismatch { .. })
        ));
        assert!(matches!(
            compare(&b, "f", Some("ref"), CompareMode::Absolute, &m, 0.15),
            Err(GateError::ModeMismatch { .. })
        ));
        let no_ref = Measurement {
            reference: None,
            ratio: None,
            ..m
        };
        assert_eq!(
            compare(&b, "f", Some("ref"), CompareMode::Ratio, &no_ref, 0.15),
            Err(GateError::NoReference)
        );
    }

    #[test]
    fn markdown_and_json_carry_the_rows() {
        let c = compare(
            &baseline(CompareMode::Ratio),
            "f",
            Some("ref"),
            CompareMode::Ratio,
            &measurement(30.0, 40.0, 10.0, 20.0),
            0.15,
        )
        .unwrap();
        let md = c.to_markdown();
        assert!(
            md.contains("| init p50 / reference p50 | 3.000 | 3.000 | +0.0% | +15% | ✅ PASS |"),
            "{md}"
        );
        let v: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(v["pass"], true);
        assert_eq!(v["rows"][1]["metric"], "init p90 / reference p50");
        assert_eq!(v["mode"], "ratio");
    }
}
