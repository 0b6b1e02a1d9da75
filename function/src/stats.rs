//! The statistics of `docs/statistics.md`, accumulated record by record.
//!
//! Memory is bounded by the number of distinct keys (severities,
//! integrations, asset types, whole-day values), never by the number of
//! records, and every accumulator serializes so a checkpoint can carry it
//! into the next invocation.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::vanta::model::{Remediation, Vulnerability, VulnerableAsset};

/// The four severities that every per-severity map always carries.
pub const SEVERITIES: [&str; 4] = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];

const DAY_MS: i64 = 86_400_000;

/// Adds one to `key`'s count, copying the key only the first time it is seen.
fn bump(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_owned(), 1);
        }
    }
}

/// Counts over vulnerabilities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnerabilityStats {
    /// Records seen.
    pub total: u64,
    /// All records by severity.
    pub by_severity: BTreeMap<String, u64>,
    /// Open (not deactivated) records by severity.
    pub open_by_severity: BTreeMap<String, u64>,
    /// All records by integration.
    pub by_integration: BTreeMap<String, u64>,
    /// `deactivateMetadata` set.
    pub deactivated: u64,
    /// `isFixable` true.
    pub fixable: u64,
    /// `remediateByDate` null.
    pub without_sla: u64,
    /// Open and past the SLA deadline.
    pub overdue: u64,
    /// Open and due within 7 days.
    pub due_within_7_days: u64,
    /// Open and due within 30 days.
    pub due_within_30_days: u64,
}

impl VulnerabilityStats {
    /// Counts one vulnerability as of `as_of`.
    pub fn add(&mut self, v: &Vulnerability<'_>, as_of: DateTime<Utc>) {
        self.total += 1;
        let open = v.deactivate_metadata.is_none();
        if let Some(sev) = &v.severity {
            bump(&mut self.by_severity, sev);
            if open {
                bump(&mut self.open_by_severity, sev);
            }
        }
        if let Some(integration) = &v.integration_id {
            bump(&mut self.by_integration, integration);
        }
        if !open {
            self.deactivated += 1;
        }
        if v.is_fixable == Some(true) {
            self.fixable += 1;
        }
        match v.remediate_by_date.map(|d| d.timestamp_millis()) {
            None => self.without_sla += 1,
            Some(due) if open => {
                let now = as_of.timestamp_millis();
                if due < now {
                    self.overdue += 1;
                } else if due < now + 7 * DAY_MS {
                    self.due_within_7_days += 1;
                    self.due_within_30_days += 1;
                } else if due < now + 30 * DAY_MS {
                    self.due_within_30_days += 1;
                }
            }
            Some(_) => {}
        }
    }

    /// Open CRITICAL vulnerabilities.
    pub fn open_critical(&self) -> u64 {
        self.open_by_severity.get("CRITICAL").copied().unwrap_or(0)
    }

    /// Open HIGH vulnerabilities.
    pub fn open_high(&self) -> u64 {
        self.open_by_severity.get("HIGH").copied().unwrap_or(0)
    }
}

/// Counts over vulnerable assets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetStats {
    /// Records seen.
    pub total: u64,
    /// Records by `assetType`.
    pub by_asset_type: BTreeMap<String, u64>,
}

impl AssetStats {
    /// Counts one asset.
    pub fn add(&mut self, a: &VulnerableAsset<'_>) {
        self.total += 1;
        if let Some(t) = &a.asset_type {
            bump(&mut self.by_asset_type, t);
        }
    }
}

/// Counts over remediations, with whole-day histograms for percentiles.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationStats {
    /// Records seen.
    pub total: u64,
    /// `remediationDate` set.
    pub remediated: u64,
    /// Remediated no later than the SLA deadline.
    pub on_time: u64,
    /// Remediated after the SLA deadline.
    pub late: u64,
    /// Severity → (whole days to remediate → count).
    pub days: BTreeMap<String, BTreeMap<i64, u64>>,
}

impl RemediationStats {
    /// Counts one remediation.
    pub fn add(&mut self, r: &Remediation<'_>) {
        self.total += 1;
        let Some(done) = r.remediation_date else {
            return;
        };
        self.remediated += 1;
        if let Some(sla) = r.sla_deadline_date {
            if done <= sla {
                self.on_time += 1;
            } else {
                self.late += 1;
            }
        }
        if let (Some(sev), Some(detected)) = (&r.severity, r.detected_date) {
            let ms = done.timestamp_millis() - detected.timestamp_millis();
            let days = ms.div_euclid(DAY_MS).max(0);
            // The key is copied only the first time a severity is seen.
            let by_days = match self.days.get_mut(&**sev) {
                Some(by_days) => by_days,
                None => self.days.entry(sev.to_string()).or_default(),
            };
            *by_days.entry(days).or_default() += 1;
        }
    }

    /// `onTime / (onTime + late)`, `None` when both are zero.
    pub fn on_time_rate(&self) -> Option<f64> {
        let n = self.on_time + self.late;
        (n > 0).then(|| self.on_time as f64 / n as f64)
    }
}

/// The three accumulators of one sync.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStats {
    /// Vulnerability counts.
    pub vulnerabilities: VulnerabilityStats,
    /// Asset counts.
    pub assets: AssetStats,
    /// Remediation counts.
    pub remediations: RemediationStats,
}

impl SyncStats {
    /// The `stats.json` document as of `as_of`.
    pub fn document(&self, as_of: DateTime<Utc>) -> Value {
        let v = &self.vulnerabilities;
        let r = &self.remediations;
        let mut days = Map::new();
        let mut severities: Vec<&str> = SEVERITIES.to_vec();
        for extra in r.days.keys() {
            if !severities.contains(&extra.as_str()) {
                severities.push(extra);
            }
        }
        for sev in severities {
            days.insert(sev.to_owned(), day_summary(r.days.get(sev)));
        }
        json!({
            "asOf": as_of.to_rfc3339_opts(SecondsFormat::Millis, true),
            "vulnerabilities": {
                "total": v.total,
                "bySeverity": severity_map(&v.by_severity),
                "openBySeverity": severity_map(&v.open_by_severity),
                "byIntegration": nonzero_map(&v.by_integration),
                "deactivated": v.deactivated,
                "fixable": v.fixable,
                "withoutSla": v.without_sla,
                "overdue": v.overdue,
                "dueWithin7Days": v.due_within_7_days,
                "dueWithin30Days": v.due_within_30_days,
            },
            "assets": {
                "total": self.assets.total,
                "byAssetType": nonzero_map(&self.assets.by_asset_type),
            },
            "remediations": {
                "total": r.total,
                "remediated": r.remediated,
                "onTime": r.on_time,
                "late": r.late,
                "onTimeRate": r.on_time_rate(),
                "daysToRemediate": days,
            },
        })
    }

    /// The headline figures carried in the invocation result and metrics.
    pub fn headline(&self) -> Value {
        let v = &self.vulnerabilities;
        json!({
            "openCritical": v.open_critical(),
            "openHigh": v.open_high(),
            "overdue": v.overdue,
            "dueWithin7Days": v.due_within_7_days,
            "fixable": v.fixable,
            "onTimeRate": self.remediations.on_time_rate(),
        })
    }
}

fn severity_map(m: &BTreeMap<String, u64>) -> Value {
    let mut out = Map::new();
    for sev in SEVERITIES {
        out.insert(sev.to_owned(), json!(m.get(sev).copied().unwrap_or(0)));
    }
    for (k, n) in m {
        if !out.contains_key(k) && *n > 0 {
            out.insert(k.clone(), json!(n));
        }
    }
    Value::Object(out)
}

fn nonzero_map(m: &BTreeMap<String, u64>) -> Value {
    Value::Object(
        m.iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), json!(n)))
            .collect(),
    )
}

fn day_summary(hist: Option<&BTreeMap<i64, u64>>) -> Value {
    let count: u64 = hist.map(|h| h.values().sum()).unwrap_or(0);
    let Some(hist) = hist.filter(|_| count > 0) else {
        return json!({"count": 0, "p50": null, "p90": null, "mean": null});
    };
    let sum: i128 = hist.iter().map(|(d, n)| *d as i128 * *n as i128).sum();
    json!({
        "count": count,
        "p50": nearest_rank(hist, count, 50),
        "p90": nearest_rank(hist, count, 90),
        "mean": sum as f64 / count as f64,
    })
}

/// The value at sorted index `ceil(p/100 * count) - 1`.
fn nearest_rank(hist: &BTreeMap<i64, u64>, count: u64, p: u64) -> i64 {
    let rank = (p * count).div_ceil(100).max(1);
    let mut seen = 0u64;
    for (value, n) in hist {
        seen += n;
        if seen >= rank {
            return *value;
        }
    }
    *hist.keys().next_back().unwrap_or(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn vuln(sev: &str, due: Option<&str>, deactivated: bool) -> Vulnerability<'static> {
        Vulnerability::deserialize(json!({
            "id": "v", "severity": sev, "integrationId": "github", "isFixable": true,
            "remediateByDate": due,
            "deactivateMetadata": if deactivated { json!({"deactivatedBy": "x"}) } else { Value::Null },
        }))
        .unwrap()
    }

    #[test]
    fn vulnerability_windows() {
        let as_of = ts("2026-01-10T00:00:00Z");
        let mut s = VulnerabilityStats::default();
        s.add(
            &vuln("CRITICAL", Some("2026-01-09T23:59:59.999Z"), false),
            as_of,
        );
        s.add(&vuln("HIGH", Some("2026-01-10T00:00:00Z"), false), as_of);
        s.add(&vuln("HIGH", Some("2026-01-17T00:00:00Z"), false), as_of);
        s.add(&vuln("LOW", Some("2026-02-09T00:00:00Z"), false), as_of);
        s.add(&vuln("LOW", None, false), as_of);
        s.add(&vuln("MEDIUM", Some("2026-01-01T00:00:00Z"), true), as_of);
        assert_eq!(
            (s.overdue, s.due_within_7_days, s.due_within_30_days),
            (1, 1, 2)
        );
        assert_eq!((s.without_sla, s.deactivated, s.fixable), (1, 1, 6));
        let doc = SyncStats {
            vulnerabilities: s,
            ..Default::default()
        }
        .document(as_of);
        assert_eq!(doc["vulnerabilities"]["openBySeverity"]["MEDIUM"], 0);
        assert_eq!(doc["vulnerabilities"]["bySeverity"]["MEDIUM"], 1);
        assert_eq!(doc["vulnerabilities"]["byIntegration"]["github"], 6);
        assert_eq!(doc["asOf"], "2026-01-10T00:00:00.000Z");
    }

    #[test]
    fn remediation_percentiles_by_nearest_rank() {
        let mut r = RemediationStats::default();
        for (det, done, sla) in [
            (
                "2026-01-01T00:00:00Z",
                "2026-01-01T23:00:00Z",
                Some("2026-01-02T00:00:00Z"),
            ),
            (
                "2026-01-01T00:00:00Z",
                "2026-01-03T01:00:00Z",
                Some("2026-01-02T00:00:00Z"),
            ),
            ("2026-01-01T00:00:00Z", "2026-01-11T00:00:00Z", None),
            ("2026-01-05T00:00:00Z", "2026-01-01T00:00:00Z", None),
        ] {
            r.add(
                &Remediation::deserialize(json!({"id": "r", "severity": "HIGH",
                    "detectedDate": det, "remediationDate": done, "slaDeadlineDate": sla}))
                .unwrap(),
            );
        }
        r.add(&Remediation::deserialize(json!({"id": "n", "severity": "HIGH"})).unwrap());
        assert_eq!((r.total, r.remediated, r.on_time, r.late), (5, 4, 1, 1));
        let doc = SyncStats {
            remediations: r,
            ..Default::default()
        }
        .document(ts("2026-02-01T00:00:00Z"));
        let high = &doc["remediations"]["daysToRemediate"]["HIGH"];
        // days: 0, 2, 10, 0 (clamped) → sorted 0,0,2,10
        assert_eq!(high["count"], 4);
        assert_eq!(high["p50"], 0);
        assert_eq!(high["p90"], 10);
        assert_eq!(high["mean"], 3.0);
        assert_eq!(doc["remediations"]["onTimeRate"], 0.5);
        assert_eq!(
            doc["remediations"]["daysToRemediate"]["LOW"],
            json!({"count": 0, "p50": null, "p90": null, "mean": null})
        );
    }

    #[test]
    fn accumulators_round_trip_through_json() {
        let mut s = SyncStats::default();
        s.remediations
            .days
            .entry("LOW".into())
            .or_default()
            .insert(3, 2);
        s.vulnerabilities.total = 9;
        let back: SyncStats = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
