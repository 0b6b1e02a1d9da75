//! Performance targets (`reports/targets.toml`) and their evaluation.
//!
//! A target is a statistic name and a condition. Any TOML shape that
//! flattens to `name = condition` works, so these three are the same:
//!
//! ```toml
//! "cold.init_ms.p50" = "<= 30"
//! cold.init_ms.p50 = "<= 30"      # dotted keys
//! [cold.init_ms]
//! p50 = "<= 30"
//! ```
//!
//! A condition is a string `OP NUMBER` with OP one of `<=`, `<`, `>=`, `>`,
//! `==`, or a bare number meaning `<=`. Names are the distribution metrics of
//! [`crate::analysis::metrics::DISTRIBUTIONS`] followed by a statistic (`n`, `min`,
//! `p50`, `p90`, `p95`, `p99`, `max`, `mean`, `stddev`), or one of
//! [`crate::analysis::metrics::SCALARS`]. An unknown name or a malformed file is an
//! error. A target whose statistic the run cannot supply (e.g. p99 from 20
//! samples) is reported as NO DATA and counts as missed: a target that
//! cannot be checked is not met.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::metrics::Metrics;
use crate::error::HarnessError;

/// Comparison operator of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `==`
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Eq => "==",
        }
    }

    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Le => value <= limit,
            Op::Lt => value < limit,
            Op::Ge => value >= limit,
            Op::Gt => value > limit,
            Op::Eq => (value - limit).abs() <= 1e-9 * limit.abs().max(1.0),
        }
    }
}

/// One target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Statistic name, e.g. `cold.init_ms.p50`.
    pub key: String,
    /// Operator.
    pub op: Op,
    /// Threshold.
    pub limit: f64,
}

impl Target {
    /// True when `value` meets the condition.
    pub fn holds(&self, value: f64) -> bool {
        self.op.holds(value, self.limit)
    }

    /// The condition as written, e.g. `<= 30`.
    pub fn condition(&self) -> String {
        format!(
            "{} {}",
            self.op.symbol(),
            crate::analysis::stats::fmt_num(self.limit)
        )
    }
}

/// Outcome of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The condition holds.
    Pass,
    /// The condition does not hold.
    Fail,
    /// The run could not supply the statistic; counts as missed.
    NoData,
}

/// A target with the measured value and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetResult {
    /// Statistic name.
    pub key: String,
    /// Condition as written, e.g. `<= 30`.
    pub condition: String,
    /// Measured value, if available.
    pub value: Option<f64>,
    /// Verdict.
    pub verdict: Verdict,
    /// Why there is no value, when there is none.
    pub note: Option<String>,
}

/// Parses targets from TOML text; `origin` names the file in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Target>, HarnessError> {
    parse_names(text, origin, |key| {
        crate::analysis::metrics::validate_key(key).map_err(|m| {
            format!("{m}; see the list of statistics in reports/targets.toml's header")
        })
    })
}

/// [`parse`] for a command with statistics of its own (`compare`'s
/// ratios): `validate` says whether a name exists.
pub fn parse_names(
    text: &str,
    origin: &str,
    validate: impl Fn(&str) -> Result<(), String>,
) -> Result<Vec<Target>, HarnessError> {
    let err = |message: String| HarnessError::Targets {
        path: origin.to_string(),
        message,
    };
    let table: toml::Table =
        toml::from_str(text).map_err(|e| err(format!("not valid TOML: {}", e.message().trim())))?;
    let mut out = Vec::new();
    flatten(&table, String::new(), &mut out).map_err(err)?;
    for t in &out {
        validate(&t.key).map_err(err)?;
    }
    Ok(out)
}

fn flatten(table: &toml::Table, prefix: String, out: &mut Vec<Target>) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(t, key, out)?,
            toml::Value::String(s) => out.push(parse_condition(&key, s)?),
            toml::Value::Integer(i) => out.push(Target {
                key,
                op: Op::Le,
                limit: *i as f64,
            }),
            toml::Value::Float(f) => out.push(Target {
                key,
                op: Op::Le,
                limit: *f,
            }),
            other => {
                return Err(format!(
                    "{key} = {other}: a condition must be a string like \"<= 30\" or a number"
                ))
            }
        }
    }
    Ok(())
}

fn parse_condition(key: &str, s: &str) -> Result<Target, String> {
    let t = s.trim();
    let (op, rest) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(sym, op)| t.strip_prefix(sym).map(|r| (*op, r)))
    .unwrap_or((Op::Le, t));
    let limit: f64 = rest
        .trim()
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite())
        .ok_or_else(|| {
            format!(
                "{key} = {s:?}: expected a condition like \"<= 30\" (operators <=, <, >=, >, ==)"
            )
        })?;
    Ok(Target {
        key: key.to_string(),
        op,
        limit,
    })
}

/// Loads and validates a targets file. A missing file is an error too: a
/// run that checks nothing must say so explicitly (pass `--targets none`).
pub fn load(path: &Path) -> Result<Vec<Target>, HarnessError> {
    if path.as_os_str() == "none" {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).map_err(|e| HarnessError::Targets {
        path: path.display().to_string(),
        message: format!(
            "cannot read it ({e}); pass --targets FILE, or --targets none to check nothing"
        ),
    })?;
    parse(&text, &path.display().to_string())
}

/// Evaluates every target against `metrics`.
pub fn evaluate(targets: &[Target], metrics: &Metrics) -> Vec<TargetResult> {
    targets
        .iter()
        .map(|t| {
            let value = metrics.lookup(&t.key).ok().flatten();
            let (verdict, note) = match value {
                Some(v) if t.op.holds(v, t.limit) => (Verdict::Pass, None),
                Some(_) => (Verdict::Fail, None),
                None => (Verdict::NoData, Some(metrics.unavailable_reason(&t.key))),
            };
            TargetResult {
                key: t.key.clone(),
                condition: t.condition(),
                value,
                verdict,
                note,
            }
        })
        .collect()
}

/// True when every target passed.
pub fn all_met(results: &[TargetResult]) -> bool {
    results.iter().all(|r| r.verdict == Verdict::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::Summary;

    fn metrics() -> Metrics {
        let mut m = Metrics::default();
        let vals: Vec<f64> = (1..=20).map(f64::from).collect();
        m.distributions
            .insert("cold.init_ms".into(), Summary::from_values(&vals).unwrap());
        m.scalars.insert("errors.rate".into(), 0.0);
        m
    }

    #[test]
    fn three_shapes_are_equivalent() {
        let a = parse("\"cold.init_ms.p50\" = \"<= 30\"\n", "a").unwrap();
        let b = parse("cold.init_ms.p50 = \"<= 30\"\n", "b").unwrap();
        let c = parse("[cold.init_ms]\np50 = \"<=30\"\n", "c").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a[0].op, Op::Le);
        assert_eq!(a[0].limit, 30.0);
        let n = parse(
            "\"errors.rate\" = 0\n\"cold.init_ms.max\" = 12.5\n\"samples.count\" = \">= 10\"",
            "n",
        )
        .unwrap();
        assert_eq!(n.len(), 3);
    }

    #[test]
    fn unknown_keys_and_bad_conditions_are_errors() {
        for (text, needle) in [
            ("\"cold.init_ms.p42\" = \"<= 1\"", "unknown statistic"),
            ("\"cold.nope.p50\" = \"<= 1\"", "unknown statistic"),
            ("\"errors.rat\" = 0", "unknown statistic"),
            (
                "\"cold.init_ms.p50\" = \"about 30\"",
                "expected a condition",
            ),
            ("\"cold.init_ms.p50\" = true", "must be a string"),
            ("cold.init_ms.p50 = ", "not valid TOML"),
        ] {
            let e = parse(text, "t.toml").unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(e.starts_with("targets file t.toml"), "{e}");
        }
    }

    #[test]
    fn evaluation_pass_fail_and_no_data() {
        let targets = parse(
            "\"cold.init_ms.p50\" = \"<= 30\"\n\"cold.init_ms.max\" = \"< 20\"\n\"cold.init_ms.p99\" = \"<= 100\"\n\"errors.rate\" = \"<= 0\"\n\"warm.duration_ms.p50\" = \"<= 1\"\n\"cold.init_ms.n\" = \">= 20\"",
            "t",
        )
        .unwrap();
        let r = evaluate(&targets, &metrics());
        // Targets come back sorted by name (TOML tables are ordered maps).
        let v = |k: &str| r.iter().find(|t| t.key == k).unwrap();
        assert_eq!(v("cold.init_ms.p50").verdict, Verdict::Pass);
        assert_eq!(v("cold.init_ms.max").verdict, Verdict::Fail);
        assert_eq!(v("cold.init_ms.p99").verdict, Verdict::NoData);
        assert_eq!(v("errors.rate").verdict, Verdict::Pass);
        assert_eq!(v("warm.duration_ms.p50").verdict, Verdict::NoData);
        assert_eq!(v("cold.init_ms.n").verdict, Verdict::Pass);
        assert_eq!(
            v("cold.init_ms.p99").note.as_deref(),
            Some("p99 needs >= 100 samples, have 20")
        );
        assert_eq!(
            v("warm.duration_ms.p50").note.as_deref(),
            Some("no samples")
        );
        assert_eq!(v("cold.init_ms.max").value, Some(20.0));
        assert!(!all_met(&r));
        let pass: Vec<TargetResult> = r
            .iter()
            .filter(|t| t.verdict == Verdict::Pass)
            .cloned()
            .collect();
        assert!(all_met(&pass));
    }

    #[test]
    fn missing_file_is_a_clear_error_and_none_disables() {
        let e = load(Path::new("/nonexistent/targets.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--targets none"), "{e}");
        assert!(load(Path::new("none")).unwrap().is_empty());
    }

    #[test]
    fn the_committed_targets_file_parses_and_has_the_cold_penalty() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/targets.toml");
        let targets = load(&path).unwrap();
        assert!(targets.iter().any(|t| t.key == "cold.penalty_ms"));
    }
}
