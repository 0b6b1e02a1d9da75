//! `expected_stats` against statistics recomputed here, per
//! docs/statistics.md, from the records paged over HTTP.

use crate::common;

use common::*;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const SEVERITIES: [&str; 4] = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
const DAY: i64 = 86_400_000;

fn count_map(keys: impl Iterator<Item = String>) -> Value {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for k in keys {
        *m.entry(k).or_default() += 1;
    }
    json!(m)
}

fn recompute(as_of: i64, vulns: &[Value], rems: &[Value], assets: &[Value]) -> Value {
    let open = |v: &&Value| v["deactivateMetadata"].is_null();
    let sev = |pred: &dyn Fn(&&Value) -> bool| -> Value {
        let mut m = Map::new();
        for s in SEVERITIES {
            m.insert(
                s.into(),
                json!(vulns
                    .iter()
                    .filter(|v| v["severity"] == s && pred(v))
                    .count()),
            );
        }
        Value::Object(m)
    };
    let due = |days: i64| {
        vulns
            .iter()
            .filter(open)
            .filter_map(|v| opt_ms(&v["remediateByDate"]))
            .filter(|d| as_of <= *d && *d < as_of + days * DAY)
            .count()
    };
    let mut days: BTreeMap<&str, Vec<i64>> = SEVERITIES.iter().map(|s| (*s, Vec::new())).collect();
    let (mut on_time, mut late, mut remediated) = (0u64, 0u64, 0u64);
    for r in rems {
        let Some(fixed) = opt_ms(&r["remediationDate"]) else {
            continue;
        };
        remediated += 1;
        if let Some(deadline) = opt_ms(&r["slaDeadlineDate"]) {
            if fixed <= deadline {
                on_time += 1;
            } else {
                late += 1;
            }
        }
        if let Some(detected) = opt_ms(&r["detectedDate"]) {
            let d = ((fixed - detected) as f64 / DAY as f64).floor().max(0.0) as i64;
            days.get_mut(r["severity"].as_str().unwrap())
                .unwrap()
                .push(d);
        }
    }
    let summary: Map<String, Value> = days
        .into_iter()
        .map(|(s, mut v)| {
            v.sort_unstable();
            let n = v.len();
            let value = if n == 0 {
                json!({"count": 0, "p50": null, "p90": null, "mean": null})
            } else {
                let rank = |p: f64| v[((p / 100.0 * n as f64).ceil() as usize).max(1) - 1];
                json!({"count": n, "p50": rank(50.0), "p90": rank(90.0),
                       "mean": v.iter().sum::<i64>() as f64 / n as f64})
            };
            (s.to_string(), value)
        })
        .collect();
    json!({
        "asOf": chrono::DateTime::from_timestamp_millis(as_of).unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "vulnerabilities": {
            "total": vulns.len(),
            "bySeverity": sev(&|_| true),
            "openBySeverity": sev(&|v| open(v)),
            "byIntegration": count_map(vulns.iter().map(|v| v["integrationId"].as_str().unwrap().to_string())),
            "deactivated": vulns.iter().filter(|v| !open(v)).count(),
            "fixable": vulns.iter().filter(|v| v["isFixable"] == true).count(),
            "withoutSla": vulns.iter().filter(|v| v["remediateByDate"].is_null()).count(),
            "overdue": vulns.iter().filter(open).filter_map(|v| opt_ms(&v["remediateByDate"])).filter(|d| *d < as_of).count(),
            "dueWithin7Days": due(7),
            "dueWithin30Days": due(30),
        },
        "assets": {
            "total": assets.len(),
            "byAssetType": count_map(assets.iter().map(|a| a["assetType"].as_str().unwrap().to_string())),
        },
        "remediations": {
            "total": rems.len(),
            "remediated": remediated,
            "onTime": on_time,
            "late": late,
            "onTimeRate": if on_time + late == 0 { Value::Null } else { json!(on_time as f64 / (on_time + late) as f64) },
            "daysToRemediate": summary,
        },
    })
}

/// Integers exactly, floats within 1e-9 relative, as the contract says.
fn assert_same(path: &str, got: &Value, want: &Value) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let mut gk: Vec<_> = g.keys().collect();
            let mut wk: Vec<_> = w.keys().collect();
            gk.sort();
            wk.sort();
            assert_eq!(gk, wk, "keys of {path}");
            for k in g.keys() {
                assert_same(&format!("{path}.{k}"), &g[k], &w[k]);
            }
        }
        (Value::Number(g), Value::Number(w)) if g.is_f64() || w.is_f64() => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!(
                (g - w).abs() <= 1e-9 * w.abs().max(1e-300),
                "{path}: {g} vs {w}"
            );
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

#[tokio::test]
async fn expected_stats_match_statistics_recomputed_from_the_api() {
    let c = client();
    for (seed, v, r, a) in [(42, 1500, 700, 90), (5, 0, 0, 0), (6, 3, 2, 1)] {
        let cfg = data(seed, v, r, a);
        let server = start_data(cfg.clone()).await;
        let base = server.base_url();
        let t = token(&c, &base).await;
        let vulns = page_all(&c, &base, &t, VULNS, &ALL, 100).await;
        let rems = page_all(&c, &base, &t, REMEDIATIONS, &[], 100).await;
        let assets = page_all(&c, &base, &t, ASSETS, &[], 100).await;
        let want = recompute(now().timestamp_millis(), &vulns, &rems, &assets);
        let got = mock_vanta::expected_stats(&cfg);
        assert_same("stats", &got, &want);
        if v > 1000 {
            // The realistic mix the statistics exist for is really there.
            let s = &got["vulnerabilities"];
            for key in [
                "deactivated",
                "overdue",
                "dueWithin7Days",
                "dueWithin30Days",
                "withoutSla",
                "fixable",
            ] {
                assert!(s[key].as_u64().unwrap() > 0, "{key} is 0");
            }
            assert!(got["remediations"]["late"].as_u64().unwrap() > 0);
            let by_sev = &s["bySeverity"];
            assert!(by_sev["MEDIUM"].as_u64() > by_sev["HIGH"].as_u64());
            assert!(by_sev["LOW"].as_u64() > by_sev["CRITICAL"].as_u64());
        }
        server.shutdown().await;
    }
    assert!(mock_vanta::try_expected_stats(&data(1, 10, 0, 0)).is_err());
}
