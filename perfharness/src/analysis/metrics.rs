//! From samples to named statistics: the catalogue of metrics a run reports
//! (and a target can name) and the computation of each.
//!
//! Distribution metrics are named `<group>.<metric>` and carry a
//! [`Summary`]; a target addresses one statistic of it as
//! `<group>.<metric>.<stat>` (e.g. `cold.init_ms.p50`). Scalar metrics
//! (rates, counts, costs) are named `<group>.<name>` and addressed as is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::cost::PriceTable;
use crate::analysis::interval::{median, two_sample};
use crate::analysis::stats::Summary;
use crate::sample::{Phase, Sample};

/// Distribution metrics with a one-line description.
pub const DISTRIBUTIONS: &[(&str, &str)] = &[
    ("cold.init_ms", "Init Duration of verified cold starts"),
    (
        "cold.duration_ms",
        "Duration of the first invoke of a cold start",
    ),
    ("cold.total_ms", "Init + Duration of a cold start"),
    (
        "cold.billed_ms",
        "Billed Duration of a cold start (includes init since Aug 2025)",
    ),
    ("cold.client_ms", "client round trip of a cold invoke"),
    ("cold.max_memory_used_mb", "Max Memory Used on a cold start"),
    ("warm.duration_ms", "Duration of sequential warm invokes"),
    (
        "warm.billed_ms",
        "Billed Duration of sequential warm invokes",
    ),
    (
        "warm.client_ms",
        "client round trip of sequential warm invokes",
    ),
    (
        "warm.overhead_ms",
        "client round trip minus Duration (network, service, harness)",
    ),
    ("warm.max_memory_used_mb", "Max Memory Used on warm invokes"),
    (
        "concurrent.duration_ms",
        "Duration of warm invokes made in parallel",
    ),
    (
        "concurrent.billed_ms",
        "Billed Duration of parallel warm invokes",
    ),
    (
        "concurrent.client_ms",
        "client round trip of parallel warm invokes",
    ),
    (
        "concurrent.max_memory_used_mb",
        "Max Memory Used on parallel warm invokes",
    ),
    ("memory.max_used_mb", "Max Memory Used over every sample"),
];

/// Scalar metrics with a one-line description.
pub const SCALARS: &[(&str, &str)] = &[
    ("samples.count", "samples taken (warm-up excluded)"),
    ("samples.missing", "samples whose REPORT was never found"),
    ("errors.count", "samples that did not succeed"),
    ("errors.rate", "errors.count / samples.count"),
    (
        "throttles.count",
        "invokes refused with TooManyRequestsException",
    ),
    (
        "cold_start.rate",
        "warm and parallel samples that came back cold / their count",
    ),
    (
        "cold.reforced",
        "extra forced updates because an invoke after a forced update was warm",
    ),
    (
        "cold.unverified",
        "cold samples never confirmed cold (given up after the re-force limit)",
    ),
    (
        "cold.penalty_ms",
        "cold penalty: median of a cold start's Init + Duration minus the median warm Duration, ms",
    ),
    (
        "cold.penalty_low_ms",
        "lower end of the cold penalty's 95 % bootstrap interval, ms",
    ),
    (
        "cold.penalty_high_ms",
        "upper end of the cold penalty's 95 % bootstrap interval, ms",
    ),
    (
        "cold.penalty_x",
        "a cold call as a multiple of a warm one: median cold Init + Duration / median warm Duration",
    ),
    ("logs.malformed", "platform lines that could not be parsed"),
    (
        "cost.warm_per_1000_usd",
        "estimated cost of 1,000 warm invocations, USD",
    ),
    (
        "cost.cold_per_1000_usd",
        "estimated cost of 1,000 cold invocations, USD",
    ),
];

/// Statistics computed from a run's samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Distribution metrics by name; absent when no sample had the value.
    pub distributions: BTreeMap<String, Summary>,
    /// Scalar metrics by name; absent when they cannot be computed.
    pub scalars: BTreeMap<String, f64>,
}

impl Metrics {
    /// Looks a target key up: `<distribution>.<stat>` or `<scalar>`.
    /// `Ok(None)` means known but not available (too few samples).
    pub fn lookup(&self, key: &str) -> Result<Option<f64>, String> {
        if SCALARS.iter().any(|(k, _)| *k == key) {
            return Ok(self.scalars.get(key).copied());
        }
        let Some((metric, stat)) = key.rsplit_once('.') else {
            return Err(format!("unknown statistic {key:?}"));
        };
        if !DISTRIBUTIONS.iter().any(|(k, _)| *k == metric) {
            return Err(format!("unknown statistic {key:?}"));
        }
        if !crate::analysis::stats::STAT_NAMES.contains(&stat) {
            return Err(format!(
                "unknown statistic {stat:?} in {key:?}; use one of {}",
                crate::analysis::stats::STAT_NAMES.join(", ")
            ));
        }
        Ok(self.distributions.get(metric).and_then(|s| s.get(stat)))
    }

    /// Why `key` has no value (for the targets table).
    pub fn unavailable_reason(&self, key: &str) -> String {
        if let Some((metric, stat)) = key.rsplit_once('.') {
            if let Some(s) = self.distributions.get(metric) {
                if let Some(r) = s.unavailable_reason(stat) {
                    return r;
                }
            }
        }
        "no samples".to_string()
    }
}

/// Checks that `key` names a statistic, without needing a run.
pub fn validate_key(key: &str) -> Result<(), String> {
    Metrics::default().lookup(key).map(|_| ())
}

/// Computes every metric from `samples` (warm-up samples are ignored) for a
/// function of `architecture` and `memory_mb`.
pub fn compute(
    samples: &[Sample],
    architecture: &str,
    memory_mb: u64,
    prices: &PriceTable,
    malformed_lines: usize,
) -> Metrics {
    let counted: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.phase != Phase::Warmup)
        .collect();
    let mut m = Metrics::default();
    let mut put = |name: &str, values: Vec<f64>| {
        if let Some(s) = Summary::from_values(&values) {
            m.distributions.insert(name.to_string(), s);
        }
    };
    // Cold statistics use verified cold starts only; warm statistics use
    // samples that really were warm (a warm sample that came back cold is
    // counted in cold_start.rate, not mixed into warm figures).
    let cold: Vec<&Sample> = counted
        .iter()
        .copied()
        .filter(|s| s.phase == Phase::Cold && s.cold)
        .collect();
    let warm: Vec<&Sample> = counted
        .iter()
        .copied()
        .filter(|s| s.phase == Phase::Warm && !s.cold)
        .collect();
    let conc: Vec<&Sample> = counted
        .iter()
        .copied()
        .filter(|s| s.phase == Phase::Concurrent && !s.cold)
        .collect();
    let vals = |set: &[&Sample], f: &dyn Fn(&Sample) -> Option<f64>| -> Vec<f64> {
        set.iter().filter_map(|s| f(s)).collect()
    };
    put("cold.init_ms", vals(&cold, &|s| s.init_ms));
    put("cold.duration_ms", vals(&cold, &|s| s.duration_ms));
    put("cold.total_ms", vals(&cold, &|s| s.cold_total_ms));
    put(
        "cold.billed_ms",
        vals(&cold, &|s| s.billed_ms.map(|b| b as f64)),
    );
    put("cold.client_ms", vals(&cold, &|s| Some(s.client_ms)));
    put(
        "cold.max_memory_used_mb",
        vals(&cold, &|s| s.max_memory_used_mb.map(|b| b as f64)),
    );
    let ok = |s: &Sample| {
        s.request_id.is_some() && s.status != "throttled" && s.status != "invoke_error"
    };
    put("warm.duration_ms", vals(&warm, &|s| s.duration_ms));
    put(
        "warm.billed_ms",
        vals(&warm, &|s| s.billed_ms.map(|b| b as f64)),
    );
    put(
        "warm.client_ms",
        vals(&warm, &|s| ok(s).then_some(s.client_ms)),
    );
    put(
        "warm.overhead_ms",
        vals(&warm, &|s| {
            s.duration_ms.map(|d| (s.client_ms - d).max(0.0))
        }),
    );
    put(
        "warm.max_memory_used_mb",
        vals(&warm, &|s| s.max_memory_used_mb.map(|b| b as f64)),
    );
    put("concurrent.duration_ms", vals(&conc, &|s| s.duration_ms));
    put(
        "concurrent.billed_ms",
        vals(&conc, &|s| s.billed_ms.map(|b| b as f64)),
    );
    put(
        "concurrent.client_ms",
        vals(&conc, &|s| ok(s).then_some(s.client_ms)),
    );
    put(
        "concurrent.max_memory_used_mb",
        vals(&conc, &|s| s.max_memory_used_mb.map(|b| b as f64)),
    );
    put(
        "memory.max_used_mb",
        vals(&counted, &|s| s.max_memory_used_mb.map(|b| b as f64)),
    );

    let n = counted.len();
    let errors = counted.iter().filter(|s| s.is_error()).count();
    let warmish: Vec<&&Sample> = counted
        .iter()
        .filter(|s| matches!(s.phase, Phase::Warm | Phase::Concurrent) && s.report_source.is_some())
        .collect();
    let sc = &mut m.scalars;
    sc.insert("samples.count".into(), n as f64);
    sc.insert(
        "samples.missing".into(),
        counted.iter().filter(|s| s.is_missing()).count() as f64,
    );
    sc.insert("errors.count".into(), errors as f64);
    if n > 0 {
        sc.insert("errors.rate".into(), errors as f64 / n as f64);
    }
    sc.insert(
        "throttles.count".into(),
        counted.iter().filter(|s| s.status == "throttled").count() as f64,
    );
    if !warmish.is_empty() {
        sc.insert(
            "cold_start.rate".into(),
            warmish.iter().filter(|s| s.cold).count() as f64 / warmish.len() as f64,
        );
    }
    let cold_phase: Vec<&&Sample> = counted.iter().filter(|s| s.phase == Phase::Cold).collect();
    if !cold_phase.is_empty() {
        sc.insert(
            "cold.reforced".into(),
            cold_phase
                .iter()
                .map(|s| s.force_attempts.saturating_sub(1) as f64)
                .sum(),
        );
        sc.insert(
            "cold.unverified".into(),
            cold_phase.iter().filter(|s| !s.cold).count() as f64,
        );
    }
    // What a caller of a cold function waits for beyond a warm call.
    let cold_totals = vals(&cold, &|s| s.cold_total_ms);
    let warm_durations = vals(&warm, &|s| s.duration_ms);
    if cold_totals.len() >= 2 && warm_durations.len() >= 2 {
        if let Some(p) = two_sample(&cold_totals, &warm_durations, |c, w| Some(c - w)) {
            sc.insert("cold.penalty_ms".into(), p.value);
            sc.insert("cold.penalty_low_ms".into(), p.low);
            sc.insert("cold.penalty_high_ms".into(), p.high);
        }
        if let (Some(c), Some(w)) = (median(cold_totals), median(warm_durations)) {
            if w > 0.0 {
                sc.insert("cold.penalty_x".into(), c / w);
            }
        }
    }
    sc.insert("logs.malformed".into(), malformed_lines as f64);
    let mem = |s: &Sample| s.memory_size_mb.unwrap_or(memory_mb);
    let warm_billed: Vec<f64> = warm
        .iter()
        .chain(conc.iter())
        .filter_map(|s| s.billed_ms.map(|b| b as f64))
        .collect();
    let warm_mem = warm
        .first()
        .or(conc.first())
        .map(|s| mem(s))
        .unwrap_or(memory_mb);
    if let Some(c) = prices.per_thousand(architecture, warm_mem, &warm_billed) {
        sc.insert("cost.warm_per_1000_usd".into(), c);
    }
    let cold_billed: Vec<f64> = cold
        .iter()
        .filter_map(|s| s.billed_ms.map(|b| b as f64))
        .collect();
    let cold_mem = cold.first().map(|s| mem(s)).unwrap_or(memory_mb);
    if let Some(c) = prices.per_thousand(architecture, cold_mem, &cold_billed) {
        sc.insert("cost.cold_per_1000_usd".into(), c);
    }
    m
}
