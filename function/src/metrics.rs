//! CloudWatch Embedded Metric Format: one JSON line per invocation on stdout,
//! which Lambda's log pipeline turns into metrics without a PutMetricData call.

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "VantaVulnStats";

/// A metric's unit, as EMF spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Milliseconds,
    /// A ratio (0..1) has no unit.
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::None => "None",
        }
    }
}

/// The metrics of one invocation.
#[derive(Clone, Debug, Default)]
pub struct MetricSet {
    values: Vec<(&'static str, Unit, f64)>,
}

impl MetricSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metric (a later value of the same name replaces the earlier one).
    pub fn put(&mut self, name: &'static str, unit: Unit, value: f64) -> &mut Self {
        self.values.retain(|(n, _, _)| *n != name);
        if value.is_finite() {
            self.values.push((name, unit, value));
        }
        self
    }

    /// The EMF document, dimensioned by `FunctionName`, stamped `timestamp_ms`.
    pub fn to_emf(&self, function_name: &str, timestamp_ms: i64) -> Value {
        let definitions: Vec<Value> = self
            .values
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": definitions,
                }],
            }),
        );
        root.insert("FunctionName".into(), json!(function_name));
        for (name, _, value) in &self.values {
            let v = if value.fract() == 0.0 && value.abs() < 9.0e15 {
                json!(*value as i64)
            } else {
                json!(value)
            };
            root.insert((*name).into(), v);
        }
        Value::Object(root)
    }

    /// Prints the EMF line on stdout (one line, as Lambda expects).
    pub fn emit(&self, function_name: &str) {
        let line = self
            .to_emf(function_name, chrono::Utc::now().timestamp_millis())
            .to_string();
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Extracts metrics the way the EMF specification describes a reader doing it.
    fn extract(doc: &Value) -> Vec<(String, String, f64)> {
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].is_i64(), "Timestamp must be epoch ms");
        let mut out = Vec::new();
        for directive in aws["CloudWatchMetrics"].as_array().unwrap() {
            assert!(directive["Namespace"]
                .as_str()
                .is_some_and(|n| !n.is_empty()));
            for set in directive["Dimensions"].as_array().unwrap() {
                let set = set.as_array().unwrap();
                assert!(set.len() <= 30);
                for d in set {
                    assert!(
                        doc[d.as_str().unwrap()].is_string(),
                        "dimension value must be a string"
                    );
                }
            }
            for m in directive["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap();
                let value = doc[name]
                    .as_f64()
                    .expect("metric value at the root must be a number");
                out.push((
                    name.to_owned(),
                    m["Unit"].as_str().unwrap().to_owned(),
                    value,
                ));
            }
        }
        out
    }

    #[test]
    fn emf_is_readable_per_spec() {
        let mut m = MetricSet::new();
        m.put("VulnerabilitiesFetched", Unit::Count, 101.0)
            .put("DurationMs", Unit::Milliseconds, 12.5)
            .put("OnTimeRate", Unit::None, f64::NAN)
            .put("SyncSuccess", Unit::Count, 1.0);
        let doc = m.to_emf("vanta-vuln-sync", 1_700_000_000_000);
        let got = extract(&doc);
        assert_eq!(got.len(), 3, "NaN metrics are left out");
        assert!(got.contains(&("VulnerabilitiesFetched".into(), "Count".into(), 101.0)));
        assert!(got.contains(&("DurationMs".into(), "Milliseconds".into(), 12.5)));
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert!(!doc.to_string().contains('\n'));
    }
}
