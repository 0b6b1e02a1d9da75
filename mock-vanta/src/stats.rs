//! The statistics a complete sync must compute (docs/statistics.md),
//! computed here straight from the generator. This is deliberately separate
//! code from the function's statistics so that neither can hide the other's
//! bug.

use crate::dataset::timestamp::{Timestamp, DAY_MS};
use crate::dataset::{Dataset, ASSET_TYPES, INTEGRATIONS, SEVERITIES};
use crate::{DataConfig, Error};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Computes the expected-statistics document of a dataset. O(records) time,
/// O(distinct day values) memory.
pub fn try_expected_stats(cfg: &DataConfig) -> Result<Value, Error> {
    let ds = Dataset::new(cfg)?;
    let as_of = ds.now;
    let severity_index = |s: &str| SEVERITIES.iter().position(|x| *x == s).unwrap_or(0);

    let mut by_severity = [0u64; 4];
    let mut open_by_severity = [0u64; 4];
    let mut by_integration = [0u64; INTEGRATIONS.len()];
    let (mut deactivated, mut fixable, mut without_sla) = (0u64, 0u64, 0u64);
    let (mut overdue, mut due7, mut due30) = (0u64, 0u64, 0u64);
    for i in 0..ds.vulnerabilities {
        let v = ds.vulnerability(i);
        let sev = severity_index(v.severity);
        by_severity[sev] += 1;
        if let Some(k) = INTEGRATIONS.iter().position(|x| *x == v.integration_id) {
            by_integration[k] += 1;
        }
        if v.is_fixable {
            fixable += 1;
        }
        let open = v.deactivate_metadata.is_none();
        if open {
            open_by_severity[sev] += 1;
        } else {
            deactivated += 1;
        }
        match v.remediate_by_date {
            None => without_sla += 1,
            Some(Timestamp(due)) if open => {
                if due < as_of {
                    overdue += 1;
                } else if due < as_of + 7 * DAY_MS {
                    due7 += 1;
                    due30 += 1;
                } else if due < as_of + 30 * DAY_MS {
                    due30 += 1;
                }
            }
            Some(_) => {}
        }
    }

    let mut by_type = [0u64; ASSET_TYPES.len()];
    for a in 0..ds.assets {
        let asset = ds.asset(a);
        if let Some(k) = ASSET_TYPES.iter().position(|x| *x == asset.asset_type) {
            by_type[k] += 1;
        }
    }

    let (mut remediated, mut on_time, mut late) = (0u64, 0u64, 0u64);
    let mut days: [BTreeMap<i64, u64>; 4] = Default::default();
    for j in 0..ds.remediations {
        let r = ds.remediation(j);
        let Some(Timestamp(fixed)) = r.remediation_date else {
            continue;
        };
        remediated += 1;
        if let Some(Timestamp(deadline)) = r.sla_deadline_date {
            if fixed <= deadline {
                on_time += 1;
            } else {
                late += 1;
            }
        }
        if let Some(Timestamp(detected)) = r.detected_date {
            let d = (fixed - detected).div_euclid(DAY_MS).max(0);
            *days[severity_index(r.severity)].entry(d).or_default() += 1;
        }
    }

    let severities = |counts: &[u64; 4]| -> Value {
        Value::Object(
            SEVERITIES
                .iter()
                .zip(counts)
                .map(|(s, c)| (s.to_string(), json!(c)))
                .collect(),
        )
    };
    let nonzero = |names: &[&str], counts: &[u64]| -> Value {
        Value::Object(
            names
                .iter()
                .zip(counts)
                .filter(|(_, c)| **c > 0)
                .map(|(n, c)| (n.to_string(), json!(c)))
                .collect::<Map<_, _>>(),
        )
    };
    let days_to_remediate: Map<String, Value> = SEVERITIES
        .iter()
        .zip(&days)
        .map(|(s, hist)| (s.to_string(), day_summary(hist)))
        .collect();
    let on_time_rate = if on_time + late == 0 {
        Value::Null
    } else {
        json!(on_time as f64 / (on_time + late) as f64)
    };

    Ok(json!({
        "asOf": Timestamp(as_of).to_string(),
        "vulnerabilities": {
            "total": ds.vulnerabilities,
            "bySeverity": severities(&by_severity),
            "openBySeverity": severities(&open_by_severity),
            "byIntegration": nonzero(&INTEGRATIONS, &by_integration),
            "deactivated": deactivated,
            "fixable": fixable,
            "withoutSla": without_sla,
            "overdue": overdue,
            "dueWithin7Days": due7,
            "dueWithin30Days": due30,
        },
        "assets": {
            "total": ds.assets,
            "byAssetType": nonzero(&ASSET_TYPES, &by_type),
        },
        "remediations": {
            "total": ds.remediations,
            "remediated": remediated,
            "onTime": on_time,
            "late": late,
            "onTimeRate": on_time_rate,
            "daysToRemediate": days_to_remediate,
        },
    }))
}

/// Computes the expected-statistics document of a dataset.
///
/// # Panics
///
/// When the counts are inconsistent (vulnerabilities without assets,
/// remediations without vulnerabilities); use [`try_expected_stats`] to get
/// that as an error.
pub fn expected_stats(cfg: &DataConfig) -> Value {
    match try_expected_stats(cfg) {
        Ok(v) => v,
        Err(e) => panic!("expected_stats: {e}"),
    }
}

/// count / p50 / p90 (nearest rank) / mean over a histogram of whole days.
fn day_summary(hist: &BTreeMap<i64, u64>) -> Value {
    let count: u64 = hist.values().sum();
    if count == 0 {
        return json!({"count": 0, "p50": null, "p90": null, "mean": null});
    }
    let nearest_rank = |p: u64| -> i64 {
        // index = ceil(p/100 * count) - 1, in integers.
        let index = (p * count).div_ceil(100) - 1;
        let mut seen = 0u64;
        for (day, n) in hist {
            seen += n;
            if seen > index {
                return *day;
            }
        }
        *hist.keys().next_back().unwrap_or(&0)
    };
    let sum: i128 = hist
        .iter()
        .map(|(d, n)| i128::from(*d) * i128::from(*n))
        .sum();
    json!({
        "count": count,
        "p50": nearest_rank(50),
        "p90": nearest_rank(90),
        "mean": sum as f64 / count as f64,
    })
}
